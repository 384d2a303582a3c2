"""The mel spectrogram resemblyzer's speaker encoder takes, in numpy alone.

resemblyzer computes it with ``librosa.feature.melspectrogram`` (16 kHz, 25 ms Hann window,
10 ms hop, 40 Slaney mel bands, power 2, frames centred on zero padding). Importing that part
of librosa pulls in numba and scipy.signal: 2 s of a 3 s diarization of the bundled sample,
for arithmetic that takes milliseconds. This computes the same frames (tests/test_melspec.py
compares them with resemblyzer's own, to float32 precision).
"""

from __future__ import annotations

import functools

import numpy as np

RATE = 16_000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_step = np.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step, mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * (200.0 / 3))


@functools.lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """(N_MELS, N_FFT // 2 + 1) triangular filters, each normalised to unit area (Slaney)."""
    bins = np.fft.rfftfreq(N_FFT, 1.0 / RATE)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(RATE / 2), N_MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    weights = np.zeros((N_MELS, len(bins)), dtype=np.float32)
    for i in range(N_MELS):
        rising = -ramps[i] / widths[i]
        falling = ramps[i + 2] / widths[i + 1]
        weights[i] = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:N_MELS + 2] - edges[:N_MELS]))[:, None]
    return weights


def mel_frames(wav: np.ndarray) -> np.ndarray:
    """(frames, N_MELS) float32 power mel spectrogram of 16 kHz ``wav``, one frame per 10 ms
    (``1 + len(wav) // HOP`` frames)."""
    wav = np.asarray(wav, dtype=np.float32)
    padded = np.pad(wav, N_FFT // 2)
    count = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(padded, (count, N_FFT), (padded.strides[0] * HOP, padded.strides[0]))
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=1)).astype(np.float32) ** 2
    return (power @ mel_filters().T).astype(np.float32)
