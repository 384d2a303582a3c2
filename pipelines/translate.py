"""Stage 4: put each segment's text into the target language.

Translators are looked up by name and declare the language pairs they cover. ``whisper``
translates speech to English: run over a whole file, its output is chunked without
regard for sentences, so each dubbing segment's own audio is translated, which keeps
every line with its slot.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from dubber.errors import BackendError
from dubber.media import read_wav, resample

from .asr import ASR_RATE, get_asr, segment_audio

VERSION = "2"


def _whisper_covers(source: str, target: str) -> bool:
    return target == "en"


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def untranslated(text: str, source_text: str) -> bool:
    """Whisper sometimes answers a translate request in the source language."""
    a, b = _words(text), _words(source_text)
    return bool(a) and len(a & b) / len(a) > 0.5


# Tried in order until one answer is English and not empty: a wider margin of context,
# then sampling instead of beam search.
_ATTEMPTS = ({"margin": 0.15}, {"margin": 0.5}, {"margin": 0.15, "temperature": 0.6})


def _whisper_translate(asr, speech, seg: dict, source: str) -> str:
    text = ""
    for attempt in _ATTEMPTS:
        clip = segment_audio(speech, seg["start"], seg["end"], margin=attempt["margin"])
        text = asr.translate(clip, source, temperature=attempt.get("temperature", 0.0))
        if text and not untranslated(text, seg["text"]):
            return text
    return text


TRANSLATORS: dict[str, Callable[[str, str], bool]] = {
    "whisper": _whisper_covers,
    "none": lambda source, target: True,  # the text is already in the target language
}


def choose(name: str, source: str, target: str) -> str:
    """Resolve ``auto`` and check that the translator covers the pair."""
    if name != "auto" and name not in TRANSLATORS:
        raise BackendError(f"unknown translator {name!r}: choose one of auto, {', '.join(sorted(TRANSLATORS))}")
    if source == target:
        return "none"
    if name == "auto":
        for candidate in ("whisper",):
            if TRANSLATORS[candidate](source, target):
                return candidate
        raise BackendError(
            f"no offline translator from {source!r} to {target!r}: whisper translates any language to 'en'; "
            "pass --lang en or bring your own subtitles"
        )
    if not TRANSLATORS[name](source, target):
        raise BackendError(f"translator {name!r} cannot translate {source!r} to {target!r}")
    return name


def translate(dialogue_wav: Path, segments: list[dict], source: str, target: str, translator: str,
              asr_backend: str, model_name: str, device: str, progress: Callable[[str, int], Callable[[int], None]]) -> dict:
    translator = choose(translator, source, target)
    tick = progress(f"translating {source}->{target}", len(segments))
    out = []
    if translator == "none":
        for seg in segments:
            out.append({"start": seg["start"], "end": seg["end"], "source_text": seg["text"], "text": seg["text"]})
            tick(1)
        return {"translator": translator, "segments": out}
    audio, rate = read_wav(dialogue_wav)
    mono = audio if audio.ndim == 1 else audio.mean(axis=1)
    speech = resample(mono, rate, ASR_RATE)
    asr = get_asr(asr_backend, model_name, device)
    for seg in segments:
        text = _whisper_translate(asr, speech, seg, source)
        out.append({"start": seg["start"], "end": seg["end"], "source_text": seg["text"], "text": text})
        tick(1)
    return {"translator": translator, "segments": out}
