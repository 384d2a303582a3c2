"""Stage 6: place the dubbed lines on the programme timeline over the background.

Each line goes in sample-accurately at its slot with short fades at its edges, levelled
to the original dialogue; the background is ducked under the new speech by a sidechain
that knows exactly where the lines are (it still holds some of the original voice) and
restored between lines. The mix is brought to the source programme's integrated loudness
(or a target) and through a true-peak limiter. It is exactly the programme's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dubber.errors import StageError
from dubber.media import read_wav, write_wav

from . import loudness

VERSION = "3"
CODEC_HEADROOM_DB = 0.5


def _active_rms(audio: np.ndarray, rate: int, spans: list[tuple[float, float]]) -> float:
    parts = [audio[int(a * rate): int(b * rate)] for a, b in spans]
    parts = [p for p in parts if len(p)]
    if not parts:
        return 0.0
    joined = np.concatenate(parts)
    return float(np.sqrt(np.mean(joined.astype(np.float64) ** 2)))


def _duck_curve(spans: list[tuple[int, int]], length: int, floor: float, attack: int, release: int) -> np.ndarray:
    """Background gain: ``floor`` under each line, linear ramps of ``attack`` samples before
    it and ``release`` samples after it, 1.0 elsewhere (overlapping ramps take the lower)."""
    gain = np.ones(length, np.float32)
    for a, b in spans:
        gain[a:b] = floor
        lo = max(0, a - attack)
        if a > lo:
            ramp = np.linspace(1.0, floor, a - lo + 1, dtype=np.float32)[:-1][-(a - lo):]
            gain[lo:a] = np.minimum(gain[lo:a], ramp)
        hi = min(length, b + release)
        if hi > b:
            ramp = np.linspace(floor, 1.0, hi - b + 1, dtype=np.float32)[1:][: hi - b]
            gain[b:hi] = np.minimum(gain[b:hi], ramp)
    return gain


@dataclass(frozen=True)
class MixOptions:
    duck_db: float = 6.0  # how far the background dips under dubbed speech (0 = no ducking)
    duck_attack: float = 0.05  # seconds the dip takes, ending where the line starts
    duck_release: float = 0.3  # seconds the background takes to come back after a line
    loudness: float | None = None  # target LUFS; None = the source programme's own loudness
    true_peak: float = -1.0  # dBTP ceiling of the true-peak limiter
    fade: float = 0.005  # seconds of fade at each line edge (no clicks)


def remix(source_wav: Path, background_wav: Path, dialogue_wav: Path, lines: list[dict], duration: float,
          folder: Path, options: MixOptions = MixOptions()) -> dict:
    background, rate = read_wav(background_wav)
    original, _ = read_wav(dialogue_wav)
    length = int(round(duration * rate))
    if background.ndim == 1:
        background = background[:, None]
    channels = background.shape[1]
    bed = np.zeros((length, channels), np.float32)
    n = min(length, len(background))
    bed[:n] = background[:n]

    voice = np.zeros(length, np.float32)
    placed = []
    cut_ms = 0.0
    edge = max(1, int(options.fade * rate))
    for line in lines:
        if not line.get("audio"):
            continue
        audio, line_rate = read_wav(line["audio"])
        if line_rate != rate:
            raise StageError(f"line {line['index']} is at {line_rate} Hz, the mix at {rate} Hz")
        audio = audio.copy()
        k = min(edge, len(audio) // 2)
        if k:
            ramp = np.linspace(0.0, 1.0, k, dtype=np.float32)
            audio[:k] *= ramp
            audio[-k:] *= ramp[::-1]
        start = int(round(line["start"] * rate))
        end = min(length, start + len(audio))
        cut_ms += 1000 * (start + len(audio) - end) / rate
        if end > start:
            voice[start:end] += audio[: end - start]
            placed.append((start, end))

    # Match the new voice's level to the original dialogue's, over the lines' slots.
    spans = [(line["start"], line["end"]) for line in lines if line.get("audio")]
    want = _active_rms(original if original.ndim == 1 else original.mean(axis=1), rate, spans)
    have = _active_rms(voice, rate, [(a / rate, b / rate) for a, b in placed])
    voice_gain = want / have if have > 1e-6 and want > 1e-6 else 1.0
    voice *= voice_gain

    duck = _duck_curve(placed, length, 10 ** (-options.duck_db / 20), attack=int(options.duck_attack * rate),
                       release=int(options.duck_release * rate))
    effects = bed * duck[:, None]
    mix = effects + voice[:, None]

    source, _ = read_wav(source_wav)
    source_lufs = loudness.integrated_loudness(source, rate)
    target = options.loudness if options.loudness is not None else source_lufs
    if not np.isfinite(target):
        target = -23.0  # a silent source: fall back to the EBU R128 broadcast level
    # The limiter aims a little under the ceiling: lossy encoders (AAC) overshoot peaks.
    mixed, lufs, peak = loudness.normalize(mix, rate, target, options.true_peak - CODEC_HEADROOM_DB)
    # Stems get the same overall gain, so dialogue + M&E adds up to the mix (before limiting).
    measured = loudness.integrated_loudness(mix, rate)
    stem_gain = np.float32(10 ** ((target - measured) / 20)) if np.isfinite(measured) else np.float32(1.0)
    write_wav(folder / "mix.wav", mixed if channels > 1 else mixed[:, 0], rate)
    # Stems share the mix's gain and its true-peak ceiling (a stem may peak where the mix does not).
    ceiling = options.true_peak - CODEC_HEADROOM_DB
    write_wav(folder / "dialogue_dub.wav", loudness.limit(voice * stem_gain, rate, ceiling), rate)
    write_wav(folder / "music_effects.wav",
              loudness.limit((effects if channels > 1 else effects[:, 0]) * stem_gain, rate, ceiling), rate)
    return {"mix": "mix.wav", "dialogue": "dialogue_dub.wav", "music_effects": "music_effects.wav",
            "sample_rate": rate, "voice_gain": voice_gain, "samples": length, "source_lufs": source_lufs,
            "target_lufs": target, "lufs": lufs, "true_peak": peak, "cut_ms": cut_ms}
