"""Where speech starts and ends inside a rendered line.

A model pads its speech with silence (a start-of-sentence token, the hold after the last
phoneme, a closing pause); inside a dubbed slot that silence delays the words against the
picture and steals time from them. "Speech" here is any 10 ms frame whose level is within
``SPEECH_FLOOR_DB`` of the loudest frame of the line, the measure the benchmarks use too.
"""

from __future__ import annotations

import numpy as np

SPEECH_FLOOR_DB = 35.0  # a frame this far below the line's loudest frame counts as silence
FRAME_S = 0.010


def _hop(sample_rate: int, frame_s: float) -> int:
    return max(1, int(round(frame_s * sample_rate)))


def frame_levels(audio: np.ndarray, sample_rate: int, frame_s: float = FRAME_S) -> np.ndarray:
    """RMS level in dB of each whole frame (a last partial frame is left out)."""
    hop = _hop(sample_rate, frame_s)
    n = len(audio) // hop
    frames = np.asarray(audio[: n * hop], dtype=np.float64).reshape(n, hop)
    return 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-12)


def speech_span(audio: np.ndarray, sample_rate: int, floor_db: float = SPEECH_FLOOR_DB,
                frame_s: float = FRAME_S) -> tuple[int, int] | None:
    """(first, end) sample of the speech: the first and just past the last frame within
    ``floor_db`` of the loudest frame. None when there is no frame at all or only silence."""
    levels = frame_levels(audio, sample_rate, frame_s)
    if not len(levels) or levels.max() <= -200:
        return None
    loud = np.flatnonzero(levels > levels.max() - floor_db)
    hop = _hop(sample_rate, frame_s)
    return int(loud[0]) * hop, min(len(audio), (int(loud[-1]) + 1) * hop)


def edge_silence(audio: np.ndarray, sample_rate: int, floor_db: float = SPEECH_FLOOR_DB) -> tuple[float, float]:
    """Seconds of silence before the speech and after it (the whole clip for silence)."""
    span = speech_span(audio, sample_rate, floor_db)
    if span is None:
        return len(audio) / sample_rate, 0.0
    return span[0] / sample_rate, (len(audio) - span[1]) / sample_rate


def trim_edges(durations: np.ndarray, lead: float, tail: float) -> np.ndarray:
    """Per-token durations with ``lead`` frames taken from the first tokens and ``tail``
    frames from the last ones: what is left is the speech each token carries."""
    out = np.asarray(durations, dtype=np.float64).copy()
    for order, amount in ((range(len(out)), lead), (range(len(out) - 1, -1, -1), tail)):
        for i in order:
            if amount <= 1e-9:
                break
            take = min(out[i], amount)
            out[i] -= take
            amount -= take
    return out
