"""The llm translator: any OpenAI-compatible chat endpoint, asked for numbered lines in
batches, and the only backend that can reword a line to fit its slot. Models answer in many
shapes (JSON in fences, numbered lines with chatter, reasoning blocks); ``parse_lines``
takes what it can and says None when the line count does not match."""

from __future__ import annotations

import functools
import json
import re

from ..errors import BackendError
from ..languages import language_name
from ..speaking import natural_seconds, syllable_budget, syllables
from .base import Translator, one_line
from .http import NO_URL, ChatEndpoint

_TRANSLATE_PROMPT = """\
You translate film and video dialogue from {source} to {target} for dubbing.
Translate each numbered line faithfully: keep its meaning, tone, register and names, and keep it about as \
long as the original, since it is spoken in the same time slot. Do not merge, split, skip or explain lines.
Answer with JSON only: {{"translations": ["...", "..."]}} holding exactly {count} strings, in the order of the lines."""

_FIT_PROMPT = """\
You translate film and video dialogue from {source} to {target} for dubbing. Each dubbed line is spoken in the \
original line's time slot, so besides its meaning, tone, register and names it must fit its slot: every line \
comes with its slot in seconds and about how many syllables fit it at a natural pace. Stay near that count: \
prefer shorter words and drop filler rather than meaning; never add what the original does not say.
Do not merge, split, skip or explain lines. The whole dialogue is given first for context; translate only the \
lines asked for. Answer with JSON only: {{"translations": ["...", "..."]}} holding exactly {count} strings, \
in the order of the lines asked for."""

_REFIT_PROMPT = """\
You adapt dubbing lines in {target}. Each line below was translated from {source} but takes too long to say in \
its time slot. Give each again in about the syllables stated, keeping what the original says.
Answer with JSON only: {{"translations": ["...", "..."]}} holding exactly {count} strings, in order."""

# A draft whose natural length is more than this over its slot is asked for again, once: the fit
# planner then speaks up to 1.2x faster and can borrow silence, so a small overshoot is fine.
REFIT_ABOVE = 1.15

_REWRITE_PROMPT = """\
You adapt dubbing lines in {target}. Rewrite the line so that, spoken, it is about {factor:.2f} times as long \
as it is now (about {words} words), while keeping its meaning, tone and what it says about the original line.
Answer with the rewritten line only, no quotes and no comments."""


class LLM(Translator):
    """Any OpenAI-compatible chat endpoint (llama.cpp server, vLLM, Ollama, LM Studio, OpenAI...)."""

    name = "llm"
    offline = False  # a local server counts, but it has to be started and named (--llm-url)
    can_rewrite = True
    fits_slots = True

    @classmethod
    def check(cls, source, target, options):
        if not options.llm_url:
            raise BackendError(NO_URL)

    @functools.cached_property
    def client(self) -> ChatEndpoint:
        options = self.options
        return ChatEndpoint(options.llm_url, options.llm_model, options.llm_api_key_env, options.llm_timeout)

    @property
    def model(self) -> str:
        return self.client.model

    def chat(self, system: str, user: str) -> str:
        return self.client.chat(system, user)

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

    # -- translation to the slot (isochrony-aware: the length is asked for, then checked) --
    def _translate_to_fit(self, texts, slots, context, source, target):
        names = {"source": language_name(source), "target": language_name(target)}
        dialogue = "\n".join(f"{n}. {text}" for n, text in enumerate(context, 1))
        out: list[str] = []
        step = max(1, self.options.batch_size)
        for i in range(0, len(texts), step):
            batch, seconds = texts[i:i + step], slots[i:i + step]
            asked = "\n".join(f"{n}. [{s:.1f} s, about {syllable_budget(s, target)} syllables] {text}"
                              for n, (text, s) in enumerate(zip(batch, seconds), 1))
            user = f"The whole dialogue:\n{dialogue}\n\nTranslate these lines:\n{asked}"
            drafts = parse_lines(self.chat(_FIT_PROMPT.format(count=len(batch), **names), user), len(batch))
            if drafts is None:  # the model lost the count: translate the plain way
                drafts = self._batch(batch, source, target)
            out.extend(self._refit(batch, drafts, seconds, source, target))
        return out

    def _refit(self, originals, drafts, slots, source, target):
        """Drafts too long for their slots asked for again, once, with the count each has."""
        long = [i for i, (draft, s) in enumerate(zip(drafts, slots))
                if draft and natural_seconds(draft, target) > REFIT_ABOVE * s]
        if not long:
            return drafts
        user = "\n".join(
            f"{n}. [{slots[i]:.1f} s: about {syllable_budget(slots[i], target)} syllables; this one has about "
            f"{syllables(drafts[i], target)}] {drafts[i]}\n   (original: {originals[i]})"
            for n, i in enumerate(long, 1))
        names = {"source": language_name(source), "target": language_name(target)}
        again = parse_lines(self.chat(_REFIT_PROMPT.format(count=len(long), **names), user), len(long))
        out = list(drafts)
        for i, line in zip(long, again or []):
            # Kept only when it is closer to the slot: a model asked to shorten sometimes does not.
            if line and abs(natural_seconds(line, target) - slots[i]) < abs(natural_seconds(drafts[i], target) - slots[i]):
                out[i] = line
        return out

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
        answer = one_line(lines[0] if len(lines) == 1 else " ".join(lines)) if lines else ""
        answer = re.sub(r"^\d+[.)]\s+", "", answer).strip().strip("\"'“”«»").strip()
        return answer or text


# -- reading the answers --

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
    return None if any(line is None for line in lines) else [one_line(line) for line in lines]


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
        return [one_line(content).strip("\"“”")]
    return None
