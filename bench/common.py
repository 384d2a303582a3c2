"""Shared scoring for benchmarks: text normalisation, WER, Whisper transcription, tables."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

import numpy as np

_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}
_NUMBER_WORDS = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
                 "7": "seven", "8": "eight", "9": "nine", "10": "ten"}


def normalize(text: str) -> list[str]:
    """Lower case, no punctuation or accents, contractions kept as one word."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("’", "'").replace("-", " ")  # "ill-disposed" is "ill disposed"
    words = re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text)
    return [_NUMBER_WORDS.get(w, _ABBREVIATIONS.get(w, w)) for w in words]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER: total word edits over total reference words."""
    edits = words = 0
    for ref, hyp in zip(references, hypotheses):
        r, h = normalize(ref), normalize(hyp)
        edits += edit_distance(r, h)
        words += len(r)
    return edits / max(1, words)


def transcribe(audio: np.ndarray, sample_rate: int, language: str = "en") -> str:
    """Whisper (the bundled base model) transcription, greedy, of one clip."""
    from pipelines.media import resample
    from pipelines import whisper_model

    model = whisper_model.load("base")
    mono = audio if audio.ndim == 1 else audio.mean(axis=1)
    clip = resample(mono.astype(np.float32), sample_rate, 16_000)
    segments, _ = model.transcribe(clip, language=language, beam_size=1, condition_on_previous_text=False,
                                   without_timestamps=True)
    return " ".join(s.text.strip() for s in segments)


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (higher: closer to the reference)."""
    reference = reference - reference.mean()
    estimate = estimate - estimate.mean()
    scale = np.dot(estimate, reference) / np.dot(reference, reference)
    target = scale * reference
    return float(10 * np.log10(np.sum(target**2) / max(1e-12, np.sum((estimate - target) ** 2))))


def table(headers: list[str], rows: list[list]) -> str:
    """A plain Markdown table (pastes into an issue note as it is)."""
    cells = [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda items: "| " + " | ".join(s.ljust(w) for s, w in zip(items, widths)) + " |"
    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)


def installed_only(folder: Path) -> dict:
    """The environment of a cold dub: a cache holding what is installed on this machine (the
    model files derived under the cache root, and each voice's embedding speaking the probe
    sentence: neither depends on a video) and nothing a dub of some video left (a voice match
    of its speakers), so the speakers of the video are matched in its own dub, as a new video's
    are. ``folder`` is new; the cache is made in it."""
    from tts_core.files import cache_root

    real, cache = cache_root(), folder / "cache"
    (cache / "voices").mkdir(parents=True)
    for rel in ("models", "voices/probes"):
        (real / rel).mkdir(parents=True, exist_ok=True)
        (cache / rel).symlink_to(real / rel, target_is_directory=True)
    return {**os.environ, "DUB_CACHE_DIR": str(cache)}


def derive_probes(lang: str) -> int:
    """Each Kokoro voice's (and blend's) embedding of the probe sentence in ``lang``, derived
    before the timed dubs: like the model files they depend on no video, so they count as
    installed (``installed_only`` links them in). How many were derived now."""
    from tts_core import TTS
    from tts_core.voice import warm_probes

    return warm_probes(TTS.from_pretrained("kokoro", lang=lang).backend)
