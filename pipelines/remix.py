"""Stage 6: place the dubbed lines on the programme timeline over the background.

Each line goes in sample-accurately at its slot, levelled to the original dialogue; the
background is ducked a little under the new speech (it still holds some of the original
voice) and restored between lines. The mix is exactly the programme's length.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dubber.media import read_wav, write_wav

VERSION = "1"


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


def remix(background_wav: Path, dialogue_wav: Path, lines: list[dict], duration: float, folder: Path,
          duck_db: float = 6.0, fade: float = 0.005) -> dict:
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
    edge = max(1, int(fade * rate))
    for line in lines:
        if not line.get("audio"):
            continue
        audio, line_rate = read_wav(line["audio"])
        assert line_rate == rate, "lines are rendered at the mix rate"
        audio = audio.copy()
        k = min(edge, len(audio) // 2)
        if k:
            ramp = np.linspace(0.0, 1.0, k, dtype=np.float32)
            audio[:k] *= ramp
            audio[-k:] *= ramp[::-1]
        start = int(round(line["start"] * rate))
        end = min(length, start + len(audio))
        if end > start:
            voice[start:end] += audio[: end - start]
            placed.append((start, end))

    # Match the new voice's level to the original dialogue's, over the lines' slots.
    spans = [(line["start"], line["end"]) for line in lines if line.get("audio")]
    want = _active_rms(original if original.ndim == 1 else original.mean(axis=1), rate, spans)
    have = _active_rms(voice, rate, [(a / rate, b / rate) for a, b in placed])
    gain = want / have if have > 1e-6 and want > 1e-6 else 1.0
    voice *= gain

    duck = _duck_curve(placed, length, 10 ** (-duck_db / 20), attack=int(0.05 * rate), release=int(0.3 * rate))
    mix = bed * duck[:, None] + voice[:, None]
    peak = float(np.max(np.abs(mix))) if len(mix) else 0.0
    ceiling = 10 ** (-1.0 / 20)
    if peak > ceiling:  # keep clear of clipping until the loudness stage lands
        mix *= ceiling / peak
    write_wav(folder / "mix.wav", mix if channels > 1 else mix[:, 0], rate)
    write_wav(folder / "dialogue_dub.wav", voice, rate)
    return {"mix": "mix.wav", "dialogue": "dialogue_dub.wav", "sample_rate": rate, "voice_gain": gain,
            "samples": length}
