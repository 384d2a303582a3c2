"""Stage 3: transcribe the dialogue into timed segments (Whisper through faster-whisper)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from dubber.errors import UnknownLanguageError
from dubber.media import read_wav, resample

from . import whisper_model

VERSION = "3"
ASR_RATE = 16_000
SENTENCE_END = (".", "?", "!", "。", "？", "！")


def whisper_languages() -> tuple[str, ...]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return tuple(sorted(_LANGUAGE_CODES))


def check_language(code: str) -> str:
    code = code.strip().lower()
    if code not in whisper_languages():
        raise UnknownLanguageError(
            f"unknown language {code!r}: use an ISO 639-1 code Whisper knows ({', '.join(whisper_languages())})"
        )
    return code


def split_words(words: list[dict], max_gap: float = 0.8, max_len: float = 12.0, min_len: float = 1.0) -> list[list[dict]]:
    """Cut a word stream into dubbing units: at every sentence end, at long pauses, and
    before a unit grows past ``max_len`` seconds. Whisper stretches a word across the
    silence before it, so a sentence end splits even when no gap shows in its times.
    A unit shorter than ``min_len`` joins the next one."""
    units: list[list[dict]] = []
    current: list[dict] = []
    for word in words:
        if current:
            gap = word["start"] - current[-1]["end"]
            ends_sentence = current[-1]["word"].strip().endswith(SENTENCE_END)
            long_enough = current[-1]["end"] - current[0]["start"] >= min_len
            too_long = word["end"] - current[0]["start"] > max_len
            if gap >= max_gap or (ends_sentence and long_enough) or too_long:
                units.append(current)
                current = []
        current.append(word)
    if current:
        units.append(current)
    return units


def speech_regions(speech16k: np.ndarray) -> list[tuple[float, float]]:
    """Where someone is speaking, from the Silero VAD that faster-whisper carries (ONNX)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(threshold=0.5, min_speech_duration_ms=120, min_silence_duration_ms=250, speech_pad_ms=30)
    return [(r["start"] / ASR_RATE, r["end"] / ASR_RATE) for r in get_speech_timestamps(speech16k, options)]


def snap(start: float, end: float, regions: list[tuple[float, float]], reach: float = 0.5) -> tuple[float, float]:
    """Move a unit's edges to where the voice really starts and stops.

    Whisper pads its times into the surrounding silence and stretches a word over the
    pause before it; the VAD does not. The start moves to the first voice onset inside
    the unit (or up to ``reach`` before it), the end to the last voice offset inside it
    (or up to ``reach`` after it). A voice region that began well before the unit
    belongs to the line before and does not pull the start back."""
    onsets = [a for a, _ in regions if start - reach <= a < end]
    offsets = [b for _, b in regions if start < b <= end + reach]
    new_start = onsets[0] if onsets else start
    new_end = offsets[-1] if offsets else end
    if new_end - new_start < 0.2:
        return start, end
    return new_start, new_end


def transcribe(dialogue_wav: Path, model_name: str, language: str | None, device: str,
               progress: Callable[[str, int], Callable[[int], None]]) -> dict:
    audio, rate = read_wav(dialogue_wav)
    mono = audio if audio.ndim == 1 else audio.mean(axis=1)
    speech = resample(mono, rate, ASR_RATE)
    model = whisper_model.load(model_name, device)
    segments, info = model.transcribe(
        speech, language=language, task="transcribe", beam_size=5, word_timestamps=True,
        vad_filter=True, condition_on_previous_text=False,
    )
    total = max(1, int(info.duration))
    tick = progress("transcribing", total)
    words: list[dict] = []
    seen = 0
    for segment in segments:
        for w in segment.words or []:
            if w.word.strip():
                words.append({"start": float(w.start), "end": float(w.end), "word": w.word, "p": float(w.probability)})
        now = int(segment.end)
        tick(max(0, min(total, now) - seen))
        seen = max(seen, min(total, now))
    regions = speech_regions(speech)
    out: list[dict] = []
    for unit in split_words(words):
        text = "".join(w["word"] for w in unit).strip()
        start, end = snap(unit[0]["start"], unit[-1]["end"], regions)
        if out and start < out[-1]["end"]:  # snapping never makes two lines overlap
            start = out[-1]["end"]
        out.append({"start": round(start, 3), "end": round(end, 3), "text": text, "words": unit})
    return {"language": info.language, "language_probability": float(info.language_probability),
            "duration": float(len(speech) / ASR_RATE), "segments": out}


def segment_audio(speech16k: np.ndarray, start: float, end: float, margin: float = 0.15) -> np.ndarray:
    a = max(0, int((start - margin) * ASR_RATE))
    b = min(len(speech16k), int((end + margin) * ASR_RATE))
    return speech16k[a:b]
