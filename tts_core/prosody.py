"""Prosody and emotion, rendered where a backend exposes pitch and energy curves.

No offline emotion model exists, so an emotion is rendered as prosody: a pitch level
(semitones), a pitch range (how far the contour swings around its centre) and an energy
offset. The presets below are this project's choices, informed by the usual acoustic
correlates of each emotion (higher and wider pitch for joy, anger and surprise; lower,
flatter and softer for sadness and melancholy); the benchmark reports their measured
effect on the output, not a promise of perceived emotion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import UnsupportedRequestError

EMOTIONS = ("happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm")


@dataclass(frozen=True)
class Prosody:
    pitch_shift: float = 0.0  # semitones added to the predicted pitch
    pitch_range: float = 1.0  # scale of the log-pitch excursions around their median
    energy_db: float = 0.0  # loudness change of the voiced energy curve
    pitch_hz: float | None = None  # absolute median pitch (voice matching); overrides pitch_shift

    @property
    def is_neutral(self) -> bool:
        return self.pitch_shift == 0 and self.pitch_range == 1 and self.energy_db == 0 and self.pitch_hz is None

    def combine(self, other: "Prosody") -> "Prosody":
        return Prosody(
            pitch_shift=self.pitch_shift + other.pitch_shift,
            pitch_range=self.pitch_range * other.pitch_range,
            energy_db=self.energy_db + other.energy_db,
            pitch_hz=(other.pitch_hz if other.pitch_hz is not None else self.pitch_hz),
        )


PRESETS: dict[str, Prosody] = {
    "happy": Prosody(pitch_shift=2.0, pitch_range=1.3, energy_db=2.0),
    "angry": Prosody(pitch_shift=1.0, pitch_range=1.4, energy_db=4.0),
    "sad": Prosody(pitch_shift=-2.0, pitch_range=0.7, energy_db=-3.0),
    "afraid": Prosody(pitch_shift=2.5, pitch_range=1.2, energy_db=-1.0),
    "disgusted": Prosody(pitch_shift=-1.0, pitch_range=0.9, energy_db=0.0),
    "melancholic": Prosody(pitch_shift=-1.5, pitch_range=0.75, energy_db=-2.0),
    "surprised": Prosody(pitch_shift=3.0, pitch_range=1.5, energy_db=2.0),
    "calm": Prosody(pitch_shift=-0.5, pitch_range=0.85, energy_db=-1.0),
}

# Words that point at an emotion, for emotion="auto" and free-text descriptions.
LEXICON: dict[str, tuple[str, ...]] = {
    "happy": ("happy", "glad", "great", "wonderful", "love", "joy", "yay", "delighted", "cheerful", "excited", "fantastic"),
    "angry": ("angry", "furious", "hate", "damn", "stop", "enough", "mad", "rage", "outrageous", "how dare"),
    "sad": ("sad", "sorry", "miss", "lost", "cry", "tears", "unfortunately", "alone", "grief", "regret"),
    "afraid": ("afraid", "scared", "fear", "help", "danger", "terrified", "run", "careful", "worried", "nervous"),
    "disgusted": ("disgusting", "gross", "yuck", "awful", "revolting", "sick", "nasty", "eww"),
    "melancholic": ("melancholy", "melancholic", "remember", "once", "long ago", "used to", "nostalgic", "wistful"),
    "surprised": ("wow", "really", "what", "surprise", "unbelievable", "no way", "oh", "amazing", "suddenly"),
    "calm": ("calm", "relax", "gently", "quiet", "peace", "slowly", "fine", "okay", "soft"),
}


def emotion_vector(values: Sequence[float]) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float64).reshape(-1)
    if vector.shape != (8,):
        raise UnsupportedRequestError(f"an emotion vector has 8 values ({', '.join(EMOTIONS)}), got {vector.size}")
    if (vector < 0).any() or not np.isfinite(vector).all():
        raise UnsupportedRequestError("emotion weights must be finite and >= 0")
    return vector


def emotion_from_text(text: str) -> np.ndarray:
    """An emotion vector from words and punctuation; all zero (neutral) when nothing points anywhere."""
    lowered = text.lower()
    scores = np.zeros(len(EMOTIONS))
    for i, name in enumerate(EMOTIONS):
        for word in LEXICON[name]:
            scores[i] += len(re.findall(rf"\b{re.escape(word)}\b", lowered))
    exclaim, question = text.count("!"), text.count("?")
    if exclaim and scores.sum() == 0:
        scores[EMOTIONS.index("surprised")] += 0.5 * exclaim
    if question and exclaim:
        scores[EMOTIONS.index("surprised")] += 0.5
    total = scores.sum()
    return scores / total if total else scores


def prosody_for_emotion(vector: Sequence[float], strength: float = 1.0) -> Prosody:
    """Blend the presets by the vector's weights (a weight of 1 applies a preset fully)."""
    weights = emotion_vector(vector) * strength
    shift = sum(w * PRESETS[n].pitch_shift for w, n in zip(weights, EMOTIONS))
    energy = sum(w * PRESETS[n].energy_db for w, n in zip(weights, EMOTIONS))
    log_range = sum(w * np.log(PRESETS[n].pitch_range) for w, n in zip(weights, EMOTIONS))
    return Prosody(pitch_shift=float(shift), pitch_range=float(np.exp(log_range)), energy_db=float(energy))


def parse_emotion(spec, text: str) -> Prosody:
    """``spec`` is a vector of 8 weights, "auto" (from ``text``) or a description
    ("angry", "a bit sad", "happy and surprised")."""
    if spec is None:
        return Prosody()
    if isinstance(spec, str):
        if spec == "auto":
            return prosody_for_emotion(emotion_from_text(text))
        lowered = spec.lower()
        vector = np.zeros(len(EMOTIONS))
        for i, name in enumerate(EMOTIONS):
            if any(re.search(rf"\b{re.escape(w)}", lowered) for w in (name, *LEXICON[name])):
                vector[i] = 1.0
        if not vector.any():
            raise UnsupportedRequestError(
                f"no emotion recognised in {spec!r}: use one of {', '.join(EMOTIONS)}, a vector of 8 weights, or 'auto'"
            )
        strength = 0.5 if re.search(r"\b(a bit|slightly|little|somewhat|mildly)\b", lowered) else 1.0
        strength = 1.5 if re.search(r"\b(very|extremely|really|so)\b", lowered) else strength
        return prosody_for_emotion(vector / vector.sum(), strength)
    return prosody_for_emotion(spec)


def pitch_track(audio: np.ndarray, rate: int, fmin: float = 60.0, fmax: float = 700.0,
                hop: float = 0.01, window: float = 0.04) -> np.ndarray:
    """F0 in Hz per 10 ms frame (0 where unvoiced), by normalised autocorrelation."""
    audio = np.asarray(audio, dtype=np.float64)
    size, step = int(window * rate), int(hop * rate)
    if len(audio) < size:
        return np.zeros(0)
    lag_min, lag_max = int(rate / fmax), min(int(rate / fmin), size - 1)
    frames = np.lib.stride_tricks.sliding_window_view(audio, size)[::step]
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = np.sqrt(np.mean(frames**2, axis=1))
    gate = 0.1 * np.percentile(energy, 95) if len(energy) else 0.0
    spectrum = np.fft.rfft(frames, n=2 * size, axis=1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :size]
    acf /= np.maximum(acf[:, :1], 1e-12)
    region = acf[:, lag_min:lag_max]
    best = region.argmax(axis=1)
    peak = region[np.arange(len(region)), best]
    f0 = rate / (best + lag_min)
    f0[(peak < 0.5) | (energy < gate)] = 0.0
    return f0


@dataclass(frozen=True)
class ProsodyStats:
    median_hz: float  # median F0 of voiced frames
    spread: float  # standard deviation of log F0 (pitch range)
    level_db: float  # RMS of the loudest half of frames

    @classmethod
    def of(cls, audio: np.ndarray, rate: int) -> "ProsodyStats":
        f0 = pitch_track(audio, rate)
        voiced = f0[f0 > 0]
        size = int(0.04 * rate)
        frames = np.lib.stride_tricks.sliding_window_view(np.asarray(audio, np.float64), size)[:: int(0.01 * rate)]
        rms = np.sqrt(np.mean(frames**2, axis=1)) if len(frames) else np.zeros(1)
        loud = np.sort(rms)[len(rms) // 2:]
        level = 20 * np.log10(max(float(np.sqrt(np.mean(loud**2))), 1e-9))
        if len(voiced) < 5:
            return cls(median_hz=0.0, spread=0.0, level_db=level)
        return cls(median_hz=float(np.median(voiced)), spread=float(np.std(np.log(voiced))), level_db=level)


def prosody_from_reference(emotion: ProsodyStats, neutral: ProsodyStats | None) -> Prosody:
    """Carry an emotion reference clip's pitch level, range and loudness over, relative to
    the speaker's neutral reference when there is one (else only the range, against a
    typical conversational spread of 0.15 log units)."""
    if emotion.median_hz <= 0:
        raise UnsupportedRequestError("the emotion reference has no voiced speech to take prosody from")
    if neutral is not None and neutral.median_hz > 0:
        return Prosody(
            pitch_shift=float(12 * np.log2(emotion.median_hz / neutral.median_hz)),
            pitch_range=float(np.clip(emotion.spread / max(neutral.spread, 1e-3), 0.5, 2.0)),
            energy_db=float(np.clip(emotion.level_db - neutral.level_db, -10, 10)),
        )
    return Prosody(pitch_range=float(np.clip(emotion.spread / 0.15, 0.5, 2.0)))
