"""Audio front ends of IndexTTS-2: loading, resampling and the two spectral views of a prompt.

The release computes these with librosa and torchaudio; the weights were trained on exactly
those numbers, so each function here reproduces its reference in float32 (the kernels and
filterbanks are built with the same operations in the same precision):

    load_audio        librosa.load: mono mix, resample (soxr "HQ"), cut to 15 s
    resample          torchaudio.transforms.Resample (windowed-sinc polyphase filter)
    kaldi_fbank       torchaudio.compliance.kaldi.fbank, the CAMPPlus input (16 kHz)
    mel_spectrogram   the 22,050 Hz log-mel of the S2M stage and BigVGAN (Slaney mel basis)
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import UnsupportedRequestError

# Windowed-sinc resampler: zero crossings kept on each side, and the cutoff as a fraction of
# the lower of the two Nyquist frequencies (torchaudio's defaults, used by the release).
SINC_ZEROS = 6
SINC_ROLLOFF = 0.99

# Kaldi filterbank options the release leaves at their defaults.
KALDI_FRAME_MS = 25.0
KALDI_SHIFT_MS = 10.0
KALDI_PREEMPHASIS = 0.97
KALDI_LOW_HZ = 20.0
FLOAT32_EPS = float(torch.finfo(torch.float32).eps)

# The S2M mel (config.yaml s2mel.preprocess_params).
MEL_SAMPLE_RATE = 22_050
MEL_N_FFT = 1024
MEL_HOP = 256
MEL_BINS = 80
MEL_LOG_FLOOR = 1e-5


# ---------------------------------------------------------------- loading


def load_audio(path: str | Path, sample_rate: int, max_seconds: float | None = 15.0) -> torch.Tensor:
    """(1, N) float32 mono audio at `sample_rate`, at most `max_seconds` long.

    Resamples with soxr's HQ filter when the `soxr` package is installed (what librosa uses,
    so prompts match the release sample for sample) and with `resample` otherwise.
    """
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            native_rate = f.samplerate
            # A second past the cut keeps the resampler's view of the last kept samples the
            # same as if the whole file had been read, without reading an hour-long track.
            frames = -1 if max_seconds is None else int((max_seconds + 1.0) * native_rate)
            audio = f.read(frames=frames, dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as exc:  # LibsndfileError is a RuntimeError
        raise UnsupportedRequestError(f"cannot read {path} as audio ({exc}); give a WAV, FLAC, OGG or MP3 file") from exc
    mono = audio.mean(axis=1)
    if native_rate != sample_rate:
        mono = _resample_file_audio(mono, native_rate, sample_rate)
    if max_seconds is not None:
        mono = mono[: int(max_seconds * sample_rate)]
    return torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32)).unsqueeze(0)


def _resample_file_audio(mono: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    length = math.ceil(len(mono) * new_sr / orig_sr)
    try:
        import soxr
    except ImportError:
        return resample(torch.from_numpy(mono), orig_sr, new_sr).numpy()
    out = soxr.resample(mono, orig_sr, new_sr, quality="soxr_hq")
    # librosa trims or zero-pads soxr's output to ceil(N * ratio) samples.
    return np.pad(out[:length], (0, max(0, length - len(out))))


def soxr_available() -> bool:
    """Whether `load_audio` resamples with soxr (exactly as the release) or with `resample`."""
    try:
        import soxr  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- resampling


@functools.lru_cache(maxsize=8)
def _sinc_filters(orig: int, new: int) -> tuple[torch.Tensor, int]:
    """Polyphase filters (new, 1, 2 * width + orig) for gcd-reduced rates, and `width`: how
    many input samples each output looks at on either side."""
    cutoff = min(orig, new) * SINC_ROLLOFF
    width = math.ceil(SINC_ZEROS * orig / cutoff)
    taps = torch.arange(-width, width + orig, dtype=torch.float64) / orig
    # Output phases j/new in float32 then the rest in float64, as torchaudio does, so the
    # float32 filters agree with its own bit for bit.
    phases = torch.arange(0, -new, -1, dtype=torch.float32) / new
    t = (phases[:, None, None] + taps) * cutoff
    t = t.clamp(-SINC_ZEROS, SINC_ZEROS)
    hann = torch.cos(t * math.pi / SINC_ZEROS / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t)
    return (sinc * (hann * (cutoff / orig))).float(), width


def resample(wave: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Band-limited resampling along the last dimension (torchaudio's Resample defaults:
    Hann-windowed sinc, 6 zero crossings, rolloff 0.99). Same rates return `wave` itself."""
    if orig_sr == new_sr:
        return wave
    gcd = math.gcd(int(orig_sr), int(new_sr))
    orig, new = int(orig_sr) // gcd, int(new_sr) // gcd
    filters, width = _sinc_filters(orig, new)
    shape = wave.shape
    x = F.pad(wave.reshape(-1, 1, shape[-1]), (width, width + orig))
    # Each stride of `orig` inputs yields `new` outputs, one per polyphase filter.
    y = F.conv1d(x, filters.to(device=wave.device, dtype=wave.dtype), stride=orig)
    y = y.transpose(1, 2).reshape(x.shape[0], -1)
    # torchaudio rounds the output length through a float32 tensor.
    length = math.ceil(np.float32(new * shape[-1] / orig))
    return y[:, :length].reshape(*shape[:-1], -1)


# ---------------------------------------------------------------- Kaldi filterbank


@functools.lru_cache(maxsize=4)
def kaldi_mel_banks(num_bins: int, fft_size: int, sample_frequency: float) -> torch.Tensor:
    """(num_bins, fft_size // 2) triangular filters, equally spaced on Kaldi's mel scale
    (1127 ln(1 + f / 700)) from 20 Hz to Nyquist, peak 1, in float32 like torchaudio."""

    def mel(hz: float) -> float:
        return 1127.0 * math.log(1.0 + hz / 700.0)

    low, high = mel(KALDI_LOW_HZ), mel(sample_frequency / 2)
    step = (high - low) / (num_bins + 1)
    index = torch.arange(num_bins, dtype=torch.float32)[:, None]
    left = low + index * step
    center = low + (index + 1.0) * step
    right = low + (index + 2.0) * step
    bin_hz = (sample_frequency / fft_size) * torch.arange(fft_size // 2, dtype=torch.float32)
    bin_mel = 1127.0 * (1.0 + bin_hz / 700.0).log()
    rising = (bin_mel - left) / (center - left)
    falling = (right - bin_mel) / (right - center)
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


def kaldi_fbank(wave16k: torch.Tensor, num_mel_bins: int = 80, sample_frequency: float = 16_000) -> torch.Tensor:
    """(frames, num_mel_bins) log mel energies of a (1, N) or (N,) waveform, as
    torchaudio.compliance.kaldi.fbank(wave, num_mel_bins, dither=0, sample_frequency) computes
    them: 25 ms Povey-windowed frames every 10 ms (only whole frames), DC removed,
    pre-emphasis 0.97, power spectrum. The waveform is taken as is (the release passes
    [-1, 1] floats, not the int16 range Kaldi itself reads)."""
    wave = (wave16k[0] if wave16k.dim() == 2 else wave16k).float()
    size = int(sample_frequency * KALDI_FRAME_MS / 1000)
    shift = int(sample_frequency * KALDI_SHIFT_MS / 1000)
    fft_size = 1 << (size - 1).bit_length()
    if wave.shape[-1] < size:
        raise UnsupportedRequestError(
            f"audio of {wave.shape[-1]} samples is shorter than one {KALDI_FRAME_MS:g} ms frame"
        )
    frames = wave.unfold(0, size, shift)
    frames = frames - frames.mean(dim=1, keepdim=True)
    # Kaldi pre-emphasises the first sample of a frame against itself.
    previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
    frames = frames - KALDI_PREEMPHASIS * previous
    povey = torch.hann_window(size, periodic=False, device=wave.device).pow(0.85)
    frames = F.pad(frames * povey, (0, fft_size - size))
    power = torch.fft.rfft(frames).abs().pow(2.0)
    # The banks stop below Nyquist: a zero column keeps the product the same as torchaudio's.
    banks = F.pad(kaldi_mel_banks(num_mel_bins, fft_size, float(sample_frequency)), (0, 1)).to(power.device)
    return torch.mm(power, banks.T).clamp(min=FLOAT32_EPS).log()


# ---------------------------------------------------------------- S2M mel spectrogram


# Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above.
SLANEY_HZ_PER_MEL = 200.0 / 3
SLANEY_LOG_HZ = 1000.0
SLANEY_LOG_MEL = SLANEY_LOG_HZ / SLANEY_HZ_PER_MEL
SLANEY_LOG_STEP = math.log(6.4) / 27.0


def _hz_to_slaney_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.atleast_1d(np.asarray(hz, dtype=np.float64))
    mel = hz / SLANEY_HZ_PER_MEL
    high = hz >= SLANEY_LOG_HZ
    mel[high] = SLANEY_LOG_MEL + np.log(hz[high] / SLANEY_LOG_HZ) / SLANEY_LOG_STEP
    return mel


def _slaney_mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.atleast_1d(np.asarray(mel, dtype=np.float64))
    hz = mel * SLANEY_HZ_PER_MEL
    high = mel >= SLANEY_LOG_MEL
    hz[high] = SLANEY_LOG_HZ * np.exp(SLANEY_LOG_STEP * (mel[high] - SLANEY_LOG_MEL))
    return hz


@functools.lru_cache(maxsize=4)
def slaney_mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 triangles between n_mels + 2 points equally spaced on
    Slaney's mel scale, each scaled to unit area in Hz (librosa.filters.mel's defaults)."""
    fmax = sample_rate / 2 if fmax is None else fmax
    edges = _slaney_mel_to_hz(np.linspace(_hz_to_slaney_mel(fmin)[0], _hz_to_slaney_mel(fmax)[0], n_mels + 2))
    bin_hz = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    gaps = np.diff(edges)
    offsets = edges[:, None] - bin_hz[None, :]
    rising = -offsets[:-2] / gaps[:-1, None]
    falling = offsets[2:] / gaps[1:, None]
    # Rounded to float32 before the area scaling, as librosa stores them.
    triangles = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    area = 2.0 / (edges[2:] - edges[:-2])
    return (triangles * area[:, None]).astype(np.float32)


def mel_spectrogram(
    wave22k: torch.Tensor,
    *,
    sample_rate: int = MEL_SAMPLE_RATE,
    n_fft: int = MEL_N_FFT,
    hop_length: int = MEL_HOP,
    win_length: int = MEL_N_FFT,
    n_mels: int = MEL_BINS,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> torch.Tensor:
    """(B, n_mels, N // hop_length) natural-log mel magnitudes of a (B, N) or (N,) waveform.

    Frames are centred by reflecting (n_fft - hop) / 2 samples at each end (not the n_fft / 2
    of torch.stft's own centring), so frame k covers samples from k * hop."""
    wave = wave22k.float()
    if wave.dim() == 1:
        wave = wave.unsqueeze(0)
    pad = (n_fft - hop_length) // 2
    if wave.shape[-1] <= pad:
        raise UnsupportedRequestError(f"audio of {wave.shape[-1]} samples is too short for a mel spectrogram")
    wave = F.pad(wave.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    window = torch.hann_window(win_length, device=wave.device)
    spec = torch.stft(
        wave, n_fft, hop_length=hop_length, win_length=win_length, window=window, center=False, return_complex=True
    )
    # The small constant keeps the gradient of sqrt finite at silent bins (training-time habit).
    magnitude = torch.sqrt(torch.view_as_real(spec).pow(2).sum(-1) + 1e-9)
    basis = torch.tensor(slaney_mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax), device=wave.device)
    return torch.log(torch.clamp(torch.matmul(basis, magnitude), min=MEL_LOG_FLOOR))
