"""Stage 5: generate every line to exactly the length of its slot with the TTS core.

Lines are cached one by one (keyed by text, slot length and voice), so editing one line
re-synthesises only that line.
"""

from __future__ import annotations

import functools
import json
from typing import Callable

import numpy as np

from tts_core.files import write_text_atomic

from dubber.errors import BackendError
from dubber.media import read_wav, resample, write_wav
from dubber.runner import Workspace

VERSION = "1"


@functools.lru_cache(maxsize=2)
def load_tts(backend: str, voice: str | None, device: str, lang: str):
    from tts_core import TTS, TTSError
    from tts_core.backends import backend_names

    try:
        return TTS.from_pretrained(backend, voice=voice, device=device, lang=lang)
    except TTSError as exc:
        from tts_core.backends import get_backend

        others = [f"--tts {name} ({', '.join(get_backend(name).languages)})" for name in backend_names() if name != backend]
        raise BackendError(f"{exc}; choose a voice with --voice, or {' or '.join(others)}") from exc


def check_language(backend: str, voice: str | None, lang: str, device: str) -> None:
    """Load the voice now, so a language it cannot speak fails before any other work."""
    load_tts(backend, voice, device, lang)


def synthesize(ws: Workspace, segments: list[dict], backend: str, voice: str | None, device: str, lang: str,
               rate: int, progress: Callable[[str, int], Callable[[int], None]]) -> dict:
    tick = progress("synthesizing lines", len(segments))
    lines = []
    for index, seg in enumerate(segments):
        slot = round(seg["end"] - seg["start"], 6)
        text = seg["text"].strip()
        record = {"index": index, "start": seg["start"], "end": seg["end"], "source_text": seg["source_text"],
                  "text": text, "tempo": 1.0}
        if not text or slot <= 0:
            record.update(audio=None, audio_duration=0.0, skipped="nothing to say" if not text else "empty slot")
            lines.append(record)
            tick(1)
            continue
        key = {"v": VERSION, "text": text, "slot": slot, "backend": backend, "voice": voice, "lang": lang, "rate": rate}
        path = ws.item_path("lines", key, ".wav")
        meta_path = path.with_suffix(".json")
        if not (path.is_file() and meta_path.is_file()):
            from tts_core import TTSError

            tts = load_tts(backend, voice, device, lang)
            try:
                speech = tts.synthesize(text, duration=slot)
            except TTSError as exc:
                record.update(audio=None, audio_duration=0.0, skipped=str(exc))
                lines.append(record)
                tick(1)
                continue
            audio = resample(speech.samples, speech.sample_rate, rate)
            write_wav(path, audio, rate)
            write_text_atomic(meta_path, json.dumps({"tokens": speech.tokens, "rate": round(speech.rate, 4),
                                             "within_bounds": speech.within_bounds, "phonemes": speech.phonemes}))
        meta = json.loads(meta_path.read_text())
        audio, _ = read_wav(path)
        record.update(audio=str(path), audio_duration=len(audio) / rate, speech_rate=meta["rate"],
                      within_bounds=meta["within_bounds"], tokens=meta["tokens"])
        lines.append(record)
        tick(1)
    return {"lines": lines, "sample_rate": rate}
