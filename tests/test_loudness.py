"""The loudness meter against ffmpeg's ebur128, and the true-peak limiter."""

import subprocess

import numpy as np
import pytest

from pipelines.media import write_wav
from pipelines.loudness import integrated_loudness, limit, normalize, true_peak

from .conftest import sine


def ffmpeg_meter(path):
    err = subprocess.run(["ffmpeg", "-nostats", "-i", str(path), "-af", "ebur128=peak=true", "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    summary = err[err.rindex("Summary:"):]
    return float(summary.split("I:")[1].split("LUFS")[0]), float(summary.split("Peak:")[1].split("dBFS")[0])


def programme(seconds=6.0, rate=48_000):
    rng = np.random.default_rng(0)
    tone = sine(seconds, rate, 440.0) * (0.5 + 0.5 * np.sin(np.linspace(0, 12, int(seconds * rate))))
    noise = rng.normal(0, 0.05, tone.shape).astype(np.float32)
    return np.stack([tone + noise, 0.5 * tone - noise], axis=1)


def test_meter_agrees_with_ffmpeg(tmp_path):
    audio = programme()
    path = write_wav(tmp_path / "p.wav", audio, 48_000)
    lufs, _ = ffmpeg_meter(path)
    assert abs(integrated_loudness(audio, 48_000) - lufs) < 0.2
    assert integrated_loudness(np.zeros(48_000), 48_000) == float("-inf")


def test_normalize_hits_target_under_the_ceiling(tmp_path):
    loud = programme() * 2.5  # clips without the limiter
    out, lufs, peak = normalize(loud, 48_000, -16.0, ceiling_db=-1.0)
    assert abs(lufs + 16.0) < 0.2 and peak <= -1.0
    measured_lufs, measured_peak = ffmpeg_meter(write_wav(tmp_path / "n.wav", out, 48_000))
    assert abs(measured_lufs + 16.0) < 0.5 and measured_peak <= -0.9


def test_limiter_leaves_quiet_audio_alone():
    quiet = programme() * 0.1
    assert np.array_equal(limit(quiet, 48_000), quiet.astype(np.float32))
    spiky = quiet.copy()
    spiky[24_000] = 1.5
    assert true_peak(limit(spiky, 48_000)) <= -1.0


@pytest.mark.parametrize("drive", [1.0, 4.0])
def test_limiter_holds_its_ceiling_on_dense_loud_audio(drive):
    """White noise driven well over full scale (the hardest case: every sample a peak): the
    gain glides rather than steps and releases slowly, so it does not modulate peaks back over."""
    noise = np.random.default_rng(3).normal(0, 0.5 * drive, (96_000, 2)).astype(np.float32)
    assert true_peak(limit(noise, 48_000, -1.5)) <= -1.5 + 0.05


def test_true_peaks_are_skipped_only_where_they_cannot_reach_the_floor(monkeypatch):
    """Stretches too quiet to reach a limiter's ceiling (or a meter's running maximum) are not
    oversampled: every peak that can matter is the one oversampling all of it gives, and the
    limiter's and meter's output is the same as with nothing skipped."""
    from pipelines import loudness

    rate = 48_000
    # Loud bursts between quiet stretches, as speech over a bed is: most chunks are quiet.
    audio = programme(4.0) * 0.05
    audio[40_000:46_000] *= 60.0
    audio[150_000:151_000] *= 80.0
    floor = 10 ** (-1.5 / 20)
    full = loudness._sample_peaks(audio)
    skipped = loudness._sample_peaks(audio, floor)
    computed = skipped > 0
    assert 0.02 < computed.mean() < 0.3  # most of it was skipped, the bursts were not
    assert np.array_equal(skipped[computed], full[computed])
    assert full[~computed].max() <= floor  # what was skipped could not have mattered
    assert (full > floor).any() and (full[full > floor] == skipped[full > floor]).all()

    limited, peak = limit(audio, rate, -1.5), true_peak(audio)
    monkeypatch.setattr(loudness, "_overshoot", lambda: float("inf"))  # oversample everything
    assert np.array_equal(limit(audio, rate, -1.5), limited)
    assert true_peak(audio) == peak
