"""The translators that run an encoder-decoder model through transformers: marian (OPUS-MT,
one model a pair) and nllb (NLLB-200, one model for ~70 languages). A model loads from a
local folder, the Hugging Face cache, or the Hub by name."""

from __future__ import annotations

import functools
import importlib.util
import warnings
from pathlib import Path
from typing import ClassVar

from .. import hub
from ..errors import BackendError
from ..languages import NLLB_CODES
from .base import Translator

_MT_MISSING = ("the marian and nllb translators need transformers and sentencepiece: "
               "pip install 'dub[mt]' (or pip install transformers sentencepiece)")


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
    from .. import models

    pulled = models.installed_folder(name)  # `dub models pull`'s copy, or the hub client's: a local folder
    try:
        if pulled is not None:
            return loader.from_pretrained(str(pulled), local_files_only=True, **kwargs)
    except Exception:  # a partial copy in the hub client's cache: try by name below
        pass
    try:
        return loader.from_pretrained(name, local_files_only=True, **kwargs)
    except Exception:  # not in the cache (transformers raises OSError, ValueError or TypeError)
        pass
    if not hub.reachable():  # looked up when called, so a test that replaces hub.reachable is offline here too
        known = models.find_repo(name)
        raise BackendError(models.missing_message(known) if known else
                           f"cannot load translation model {name!r}: {offline_hint}")
    try:
        return loader.from_pretrained(name, **kwargs)
    except (OSError, ValueError, TypeError) as exc:
        raise BackendError(f"cannot load translation model {name!r}: {_first_line(exc)}; check the name, "
                           "or pass a local model folder with --translator-model PATH") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _transformers():
    try:
        import transformers
    except ImportError as exc:
        raise BackendError(_MT_MISSING) from exc
    return transformers


@functools.lru_cache(maxsize=2)  # a model stays loaded across calls; dubber.resident empties it between stages
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
