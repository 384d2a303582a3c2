"""Programme loudness (ITU-R BS.1770-4 / EBU R128), true peak, and a true-peak limiter.

Written out here (about a hundred lines) rather than taken from a package so the mix
stage has no extra dependency; the tests check it against ffmpeg's ebur128 filter.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter, resample_poly

ABSOLUTE_GATE = -70.0  # LUFS
RELATIVE_GATE = -10.0  # LU below the absolute-gated loudness
OVERSAMPLE = 4  # true peak: the peak of the signal oversampled 4x (BS.1770 Annex 2)


def _k_weighting(rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two K-weighting biquads (high shelf, then high pass) for any sample rate, from
    the analogue prototypes of BS.1770 (bilinear transform, as in the reference code)."""
    # Stage 1: high-shelf, +4 dB above ~1.5 kHz.
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * f0 / rate)
    vh = 10 ** (gain_db / 20)
    vb = vh ** 0.4996667741545416
    a0 = 1 + k / q + k * k
    b1 = np.array([vh + vb * k / q + k * k, 2 * (k * k - vh), vh - vb * k / q + k * k]) / a0
    a1 = np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0])
    # Stage 2: high-pass at ~38 Hz.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * f0 / rate)
    a0 = 1 + k / q + k * k
    b2 = np.array([1.0, -2.0, 1.0])
    a2 = np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0])
    return [(b1, a1), (b2, a2)]


def integrated_loudness(audio: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS (-inf for silence). ``audio``: (samples,) or (samples, channels);
    all channels are weighted 1.0 (mono, stereo)."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    for b, a in _k_weighting(rate):
        x = lfilter(b, a, x, axis=0)
    block, step = int(0.4 * rate), int(0.1 * rate)
    if len(x) < block:
        return float("-inf")
    starts = np.arange(0, len(x) - block + 1, step)
    # Mean square per block and channel, from a cumulative sum (fast for long programmes).
    cumsum = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x * x, axis=0)])
    power = ((cumsum[starts + block] - cumsum[starts]) / block).sum(axis=1)
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(power)
    gated = power[loudness > ABSOLUTE_GATE]
    if not len(gated):
        return float("-inf")
    relative = -0.691 + 10 * np.log10(gated.mean()) + RELATIVE_GATE
    final = gated[-0.691 + 10 * np.log10(gated) > relative]
    return float(-0.691 + 10 * np.log10(final.mean()))


def true_peak(audio: np.ndarray) -> float:
    """True peak in dBTP (4x oversampled sample peak)."""
    x = np.asarray(audio, dtype=np.float64)
    if not x.size:
        return float("-inf")
    up = resample_poly(x, OVERSAMPLE, 1, axis=0)
    peak = float(np.max(np.abs(up)))
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def _sliding_min(values: np.ndarray, width: int) -> np.ndarray:
    """Minimum over the next ``width`` samples (a look-ahead window)."""
    from scipy.ndimage import minimum_filter1d

    return minimum_filter1d(values, size=width, origin=-(width // 2), mode="nearest")


def limit(audio: np.ndarray, rate: int, ceiling_db: float = -1.0, lookahead: float = 0.005,
          release: float = 0.08) -> np.ndarray:
    """A look-ahead true-peak limiter: gain drops before a peak arrives (no overshoot),
    recovers over ``release`` seconds. Quiet passages are untouched."""
    x = np.asarray(audio, dtype=np.float64)
    two_d = x.ndim == 2
    frame = x if two_d else x[:, None]
    ceiling = 10 ** (ceiling_db / 20) * 0.995  # a hair of margin for the reconstruction filter
    up = resample_poly(frame, OVERSAMPLE, 1, axis=0)
    peak = np.abs(up).max(axis=1)[: len(frame) * OVERSAMPLE].reshape(len(frame), OVERSAMPLE).max(axis=1)
    wanted = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    if wanted.min() >= 1.0:
        return np.asarray(audio, dtype=np.float32)
    width = max(1, int(lookahead * rate))
    gain = _sliding_min(wanted, 2 * width + 1)
    # Release: the gain may rise only slowly (one-pole), never above what is wanted.
    coeff = np.exp(-1.0 / max(1.0, release * rate))
    smoothed = lfilter([1 - coeff], [1, -coeff], gain - 1.0) + 1.0
    gain = np.minimum(gain, smoothed)
    out = frame * gain[:, None]
    return (out if two_d else out[:, 0]).astype(np.float32)


def normalize(audio: np.ndarray, rate: int, target_lufs: float, ceiling_db: float = -1.0,
              passes: int = 4) -> tuple[np.ndarray, float, float]:
    """Gain to ``target_lufs`` then true-peak limiting; the loudness lost to the limiter is
    made up over a few passes. Returns (audio, loudness, true peak)."""
    x = np.asarray(audio, dtype=np.float32)
    measured = integrated_loudness(x, rate)
    if not np.isfinite(measured):
        return x, measured, true_peak(x)
    gain_db = target_lufs - measured
    out = x
    for _ in range(passes):
        out = limit(x * np.float32(10 ** (gain_db / 20)), rate, ceiling_db)
        now = integrated_loudness(out, rate)
        if abs(now - target_lufs) < 0.1:
            break
        gain_db += target_lufs - now
    return out, integrated_loudness(out, rate), true_peak(out)
