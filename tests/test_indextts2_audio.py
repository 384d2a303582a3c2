"""IndexTTS-2 audio front ends against direct float64 re-derivations of their formulas."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sf = pytest.importorskip("soundfile")

from tts_core.backends.indextts2 import audio  # noqa: E402
from tts_core.errors import UnsupportedRequestError  # noqa: E402


def noise(n, seed=0, scale=0.3):
    return np.random.default_rng(seed).standard_normal(n) * scale


# ---------------------------------------------------------------- resample


def direct_windowed_sinc(x, orig_sr, new_sr, outputs):
    """y[j] = sum_i x[i] h((i / orig - j / new) * cutoff), h a Hann-windowed sinc over 6 zeros."""
    cutoff = 0.99 * min(orig_sr, new_sr)
    i = np.arange(len(x))
    y = []
    for j in outputs:
        t = np.clip((i / orig_sr - j / new_sr) * cutoff, -6, 6)
        h = np.sinc(t) * np.cos(np.pi * t / 12) ** 2 * cutoff / orig_sr
        y.append(np.dot(x, h))
    return np.array(y)


@pytest.mark.parametrize("orig_sr,new_sr", [(22_050, 16_000), (16_000, 22_050), (48_000, 22_050)])
def test_resample_equals_direct_windowed_sinc(orig_sr, new_sr):
    x = noise(3001)
    y = audio.resample(torch.tensor(x, dtype=torch.float32)[None], orig_sr, new_sr)
    assert y.shape == (1, math.ceil(3001 * new_sr / orig_sr))
    picks = [0, 1, 2, 7, 100, 555, y.shape[1] // 2, y.shape[1] - 2, y.shape[1] - 1]
    expected = direct_windowed_sinc(x, orig_sr, new_sr, picks)
    # The release's filters place output phases in float32, which moves taps by ~1e-5.
    np.testing.assert_allclose(y[0, picks].numpy(), expected, atol=3e-5)


def test_resample_keeps_a_tone_and_leading_dims():
    t = np.arange(22_050) / 22_050
    tone = torch.tensor(0.5 * np.sin(2 * np.pi * 440 * t), dtype=torch.float32)
    batch = torch.stack([tone, -tone, 0.5 * tone]).reshape(3, 1, -1)
    y = audio.resample(batch, 22_050, 16_000)
    assert y.shape == (3, 1, 16_000)
    expected = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000)
    np.testing.assert_allclose(y[0, 0, 200:-200].numpy(), expected[200:-200], atol=1e-3)
    torch.testing.assert_close(y[1], -y[0])
    torch.testing.assert_close(y[2], 0.5 * y[0])
    assert audio.resample(tone, 16_000, 16_000) is tone


# ---------------------------------------------------------------- Kaldi filterbank


def kaldi_mel(hz):
    return 1127.0 * np.log(1.0 + np.asarray(hz) / 700.0)


def kaldi_banks_reference(num_bins, fft_size, rate):
    edges = np.linspace(kaldi_mel(20.0), kaldi_mel(rate / 2), num_bins + 2)
    bins = kaldi_mel(np.arange(fft_size // 2) * rate / fft_size)
    banks = np.zeros((num_bins, fft_size // 2))
    for m in range(num_bins):
        lo, mid, hi = edges[m : m + 3]
        up = (bins - lo) / (mid - lo)
        down = (hi - bins) / (hi - mid)
        banks[m] = np.clip(np.minimum(up, down), 0, None)
    return banks


def test_kaldi_banks_follow_the_formula():
    banks = audio.kaldi_mel_banks(80, 512, 16_000.0)
    assert banks.shape == (80, 256) and banks.dtype == torch.float32
    np.testing.assert_allclose(banks.numpy(), kaldi_banks_reference(80, 512, 16_000), atol=2e-5)
    assert (banks.max(dim=1).values > 0.4).all()  # no empty filter at 80 bins / 512-point FFT


def kaldi_fbank_reference(x, num_bins=80):
    frames = np.lib.stride_tricks.sliding_window_view(x, 400)[::160].astype(np.float64)
    frames = frames - frames.mean(axis=1, keepdims=True)
    frames = frames - 0.97 * np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    n = np.arange(400)
    frames = frames * (0.5 - 0.5 * np.cos(2 * np.pi * n / 399)) ** 0.85
    power = np.abs(np.fft.rfft(frames, n=512)) ** 2
    energies = power[:, :256] @ kaldi_banks_reference(num_bins, 512, 16_000).T
    return np.log(np.maximum(energies, np.finfo(np.float32).eps))


def test_kaldi_fbank_equals_the_recipe():
    x = noise(8_123, seed=1)
    x[4000:5000] = 0.0  # silent frames reach the float32 floor
    feats = audio.kaldi_fbank(torch.tensor(x, dtype=torch.float32)[None])
    assert feats.shape == (1 + (8_123 - 400) // 160, 80)
    np.testing.assert_allclose(feats.numpy(), kaldi_fbank_reference(x.astype(np.float32)), atol=2e-3)
    torch.testing.assert_close(audio.kaldi_fbank(torch.tensor(x, dtype=torch.float32)), feats)


def test_kaldi_fbank_rejects_less_than_a_frame():
    with pytest.raises(UnsupportedRequestError, match="shorter than one 25 ms frame"):
        audio.kaldi_fbank(torch.zeros(1, 399))


# ---------------------------------------------------------------- Slaney mel and the S2M spectrogram


def slaney_mel(hz):
    return hz / (200 / 3) if hz < 1000 else 15 + 27 * math.log(hz / 1000) / math.log(6.4)


def slaney_hz(mel):
    return mel * 200 / 3 if mel < 15 else 1000 * 6.4 ** ((mel - 15) / 27)


def test_slaney_filterbank_follows_the_formula():
    rate, n_fft, n_mels = 22_050, 1024, 80
    basis = audio.slaney_mel_filterbank(rate, n_fft, n_mels)
    assert basis.shape == (80, 513) and basis.dtype == np.float32
    top = slaney_mel(rate / 2)
    edges = [slaney_hz(top * k / (n_mels + 1)) for k in range(n_mels + 2)]
    for m in (0, 1, 17, 40, 63, 79):
        lo, mid, hi = edges[m : m + 3]
        for b in range(513):
            f = b * rate / n_fft
            tri = max(0.0, min((f - lo) / (mid - lo), (hi - f) / (hi - mid)))
            assert basis[m, b] == pytest.approx(tri * 2 / (hi - lo), rel=1e-5, abs=1e-9)


def test_slaney_filterbank_equals_librosa_values():
    # librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80) 0.10.2, nonzero entries of rows 0 and 40.
    basis = audio.slaney_mel_filterbank(22_050, 1024, 80)
    assert np.flatnonzero(basis[0]).tolist() == [1, 2, 3]
    np.testing.assert_allclose(basis[0, 1:4], [0.012760736, 0.023165587, 0.010404851], rtol=1e-6)
    assert np.flatnonzero(basis[40]).tolist() == list(range(91, 99))
    np.testing.assert_allclose(basis[40, 93:96], [0.008527796, 0.011514987, 0.008921538], rtol=1e-6)
    assert np.flatnonzero(basis[79]).tolist() == list(range(471, 512))


def mel_reference(x):
    x = np.pad(x.astype(np.float64), 384, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(x, 1024)[::256]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1024) / 1024)
    magnitude = np.sqrt(np.abs(np.fft.rfft(frames * hann, axis=1)) ** 2 + 1e-9)
    mel = audio.slaney_mel_filterbank(22_050, 1024, 80).astype(np.float64) @ magnitude.T
    return np.log(np.maximum(mel, 1e-5))


def test_mel_spectrogram_equals_the_recipe():
    x = noise(10_000, seed=2)
    mel = audio.mel_spectrogram(torch.tensor(x, dtype=torch.float32)[None])
    assert mel.shape == (1, 80, 10_000 // 256)
    np.testing.assert_allclose(mel[0].numpy(), mel_reference(x.astype(np.float32)), atol=1e-3)


def test_mel_spectrogram_puts_a_tone_in_its_band():
    t = np.arange(22_050) / 22_050
    mel = audio.mel_spectrogram(torch.tensor(0.5 * np.sin(2 * np.pi * 1000 * t), dtype=torch.float32))
    top = slaney_mel(11_025)
    centres = np.array([slaney_hz(top * (k + 1) / 81) for k in range(80)])
    loudest = mel[0, :, 10:-10].mean(dim=1).argmax().item()
    assert abs(loudest - np.abs(centres - 1000).argmin()) <= 1


# ---------------------------------------------------------------- loading


def test_load_audio_mixes_resamples_and_cuts(tmp_path):
    t = np.arange(int(2.5 * 44_100)) / 44_100
    tone = np.sin(2 * np.pi * 300 * t)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([0.4 * tone, 0.2 * tone], axis=1).astype(np.float32), 44_100, subtype="FLOAT")
    wave = audio.load_audio(path, 22_050, max_seconds=1.0)
    assert wave.shape == (1, 22_050) and wave.dtype == torch.float32
    expected = 0.3 * np.sin(2 * np.pi * 300 * np.arange(22_050) / 22_050)
    np.testing.assert_allclose(wave[0, 100:].numpy(), expected[100:], atol=2e-3)
    whole = audio.load_audio(path, 22_050, max_seconds=None)
    assert whole.shape == (1, math.ceil(len(t) / 2))


def test_load_audio_at_the_native_rate_is_the_file(tmp_path):
    x = noise(20_000, seed=3).astype(np.float32)
    path = tmp_path / "mono.flac"
    sf.write(path, x, 16_000, subtype="PCM_24")
    wave = audio.load_audio(path, 16_000, max_seconds=1.0)
    np.testing.assert_array_equal(wave[0].numpy(), sf.read(path, dtype="float32")[0][:16_000])


def test_load_audio_names_an_unreadable_file(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    with pytest.raises(UnsupportedRequestError, match="notes.wav"):
        audio.load_audio(bad, 22_050)
    with pytest.raises(UnsupportedRequestError, match="missing.wav"):
        audio.load_audio(tmp_path / "missing.wav", 22_050)
