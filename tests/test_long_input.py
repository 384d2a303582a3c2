"""Long programmes: the 48 kHz path (extract, separate, remix, loudness) streams in blocks
instead of holding float arrays. Block by block gives what the whole array gives, and an
hour-long programme goes through the real CLI in bounded memory."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from pipelines.media import probe, read_wav, write_wav
from pipelines import loudness, remix, separate

from .conftest import ROOT, ffmpeg

RATE = 48_000


def programme(seconds: float, channels: int = 2) -> np.ndarray:
    """Noise under a swelling tone, loud enough in places for the limiter to work."""
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.8 * np.sin(2 * np.pi * 440 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.3 * t))
    out = np.stack([tone + rng.normal(0, 0.1, len(t)) * (k + 1) for k in range(channels)], axis=1)
    return out.astype(np.float32)


def blocks(audio: np.ndarray, size: int) -> list[np.ndarray]:
    return [audio[i : i + size] for i in range(0, len(audio), size)]


# Block sizes: smaller than the limiter's look-around (497 samples), odd, and larger than the signal.
SIZES = (100, 4_801, 48_000, 10**7)


@pytest.mark.parametrize("size", SIZES)
def test_limiter_by_blocks_is_the_whole_array_limiter(size):
    loud = programme(3.0) * 2.0
    whole = loudness.limit(loud, RATE, -1.5)
    assert loudness.true_peak(whole) < loudness.true_peak(loud) - 3  # it did limit
    # The same to float rounding (the attack's running average starts where each piece does),
    # far below the 16-bit output's step of 3e-5.
    np.testing.assert_allclose(np.concatenate(list(loudness.limited(blocks(loud, size), RATE, -1.5))), whole,
                               rtol=0, atol=1e-6)
    mono = loud[:, 0]
    np.testing.assert_allclose(np.concatenate(list(loudness.limited(blocks(mono, size), RATE, -1.5))),
                               loudness.limit(mono, RATE, -1.5), rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", SIZES)
def test_meters_by_blocks_measure_the_whole_array(size):
    audio = programme(3.0)
    assert loudness.loudness_of(blocks(audio, size), RATE) == pytest.approx(
        loudness.integrated_loudness(audio, RATE), abs=1e-9)
    meter = loudness.TruePeakMeter()
    for block in blocks(audio, size):
        meter.add(block)
    assert meter.value() == loudness.true_peak(audio)


def test_duck_curve_by_blocks_is_the_whole_curve():
    spans = [(0, 300), (1_000, 4_000), (3_900, 5_000), (9_500, 9_990)]
    whole = remix._duck_curve(spans, 10_000, 0.4, attack=700, release=1_500)
    pieces = [remix._duck_curve(spans, 10_000, 0.4, 700, 1_500, start, min(10_000, start + 777))
              for start in range(0, 10_000, 777)]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


def test_deepfilternet_by_blocks_is_the_whole_array(tmp_path, monkeypatch):
    audio = programme(2.0) * 0.5
    wav = write_wav(tmp_path / "source.wav", audio, RATE)
    stored, _ = read_wav(wav)
    monkeypatch.setattr(separate, "BLOCK", 12_345)  # not a multiple of the model's 480-sample frame
    separator = separate.get_separator("deepfilternet")
    pieces = list(separator.split(wav, lambda n=1: None))
    dialogue = np.concatenate([d for d, _ in pieces])
    background = np.concatenate([b for _, b in pieces])
    np.testing.assert_array_equal(dialogue, separator.dialogue(stored.mean(axis=1), lambda n=1: None))
    # The background is the programme minus the enhanced speech, not minus the dialogue stem
    # (which carries some of the programme added back).
    enhanced = (dialogue - separator.MIX_BACK * stored.mean(axis=1)) / (1 - separator.MIX_BACK)
    np.testing.assert_allclose(background, stored - enhanced[:, None], atol=1e-5)


def test_remix_by_small_blocks_is_the_remix_by_large_ones(tmp_path, monkeypatch):
    """Lines that cross block edges, ducking ramps and the limiter's look-ahead at block
    edges: a mix made 1 s at a time is the mix made in one block."""
    audio = programme(6.0)
    source = write_wav(tmp_path / "source.wav", audio, RATE)
    background = write_wav(tmp_path / "background.wav", audio * 0.5, RATE)
    dialogue = write_wav(tmp_path / "dialogue.wav", audio.mean(axis=1) * 0.5, RATE)
    t = np.arange(int(1.5 * RATE)) / RATE
    lines = []
    for i, start in enumerate((0.7, 2.5, 3.2, 5.0)):  # overlapping, across edges, past the end
        voice = (0.5 * np.sin(2 * np.pi * (180 + 40 * i) * t)).astype(np.float32)
        path = write_wav(tmp_path / f"line{i}.wav", voice, RATE)
        lines.append({"index": i, "start": start, "end": start + 1.5, "audio": str(path)})
    options = remix.MixOptions(loudness=-12.0)
    results = {}
    for seconds in (1, 30):
        monkeypatch.setattr(remix, "BLOCK_SECONDS", seconds)
        folder = tmp_path / f"mix{seconds}"
        folder.mkdir()
        results[seconds] = (folder, remix.remix(source, background, dialogue, lines, 6.0, folder, options))
    (small, by_small), (large, by_large) = results[1], results[30]
    assert by_small["cut_ms"] == pytest.approx(500.0) and by_small["samples"] == 6 * RATE
    for key in ("voice_gain", "source_lufs", "lufs", "true_peak"):
        assert by_small[key] == pytest.approx(by_large[key], abs=1e-6)
    for name in ("mix.wav", "dialogue_dub.wav", "music_effects.wav"):
        a, _ = read_wav(small / name)
        b, _ = read_wav(large / name)
        assert np.abs(a - b).max() <= 1 / 32768  # one step of 16 bits at most

def _decoded(path) -> bytes:
    """The first audio track of ``path`` decoded to 16-bit PCM, as a player hears it."""
    return subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "s16le", "-"],
                          capture_output=True, check=True).stdout


def test_the_mix_encoded_while_written_is_what_the_mux_would_encode(tmp_path, monkeypatch):
    """The remix hands the mix to ffmpeg block by block as it writes it (AAC for an MP4): the
    mux copies that track, and the picture's file carries the same samples as when the mux
    encoded the finished WAV; a container that takes another codec still encodes the WAV."""
    from pipelines import mux

    monkeypatch.setattr(remix, "BLOCK_SECONDS", 1)  # many blocks through the pipe
    audio = programme(4.0)
    source = write_wav(tmp_path / "source.wav", audio, RATE)
    background = write_wav(tmp_path / "background.wav", audio * 0.5, RATE)
    t = np.arange(int(1.2 * RATE)) / RATE
    line = write_wav(tmp_path / "line.wav", (0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), RATE)
    folder = tmp_path / "mix"
    folder.mkdir()
    made = remix.remix(source, background, None, [{"index": 0, "start": 1.0, "end": 2.2, "audio": str(line)}], 4.0,
                       folder, remix.MixOptions(loudness=-16.0), encode=mux.encode_ahead(tmp_path / "out.mp4"))
    assert made["encoded"] == "mix.m4a" and made["codec"] == "aac"
    video = tmp_path / "video.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x64:r=10:d=4", "-i", str(source), "-c:v", "libx264",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(video))
    copied = mux.mux(video, folder / "mix.wav", tmp_path / "copied.mp4", True, "es",
                     encoded=(folder / "mix.m4a", "aac"))
    encoded = mux.mux(video, folder / "mix.wav", tmp_path / "encoded.mp4", True, "es")
    assert _decoded(copied) == _decoded(encoded) and len(_decoded(copied)) >= 4 * RATE * 2 * 2
    # WebM takes Opus: the AAC file is not for it, and the WAV is encoded as before.
    webm = mux.mux(source, folder / "mix.wav", tmp_path / "out.webm", False, "es", encoded=(folder / "mix.m4a", "aac"))
    codec = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
                            str(webm)], capture_output=True, text=True, check=True).stdout.split()
    assert codec == ["opus"] and probe(webm).duration == pytest.approx(4.0, abs=0.05)


def test_the_files_left_are_the_mix_at_the_gain_the_search_lands_on(tmp_path, monkeypatch):
    """A loud target the limiter fights: the search for the gain tries several, and from the
    second on each writes the files (and encodes the mix); what is left is exactly the mix
    written once at the gain it landed on, as a held gain writes it."""
    from pipelines import mux

    gains = []
    real = remix._write
    monkeypatch.setattr(remix, "_write", lambda *a, **k: gains.append(float(a[4])) or real(*a, **k))
    audio = programme(4.0)
    source = write_wav(tmp_path / "source.wav", audio, RATE)
    background = write_wav(tmp_path / "background.wav", audio * 0.5, RATE)
    t = np.arange(int(1.2 * RATE)) / RATE
    line = write_wav(tmp_path / "line.wav", (0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), RATE)
    lines = [{"index": 0, "start": 1.0, "end": 2.2, "audio": str(line)}]
    options = remix.MixOptions(loudness=-7.5)
    made = {}
    for name, hold in (("searched", None), ("held", "from searched")):
        folder = tmp_path / name
        folder.mkdir()
        held = (made["searched"]["voice_gain"], made["searched"]["gain_db"]) if hold else None
        made[name] = remix.remix(source, background, None, lines, 4.0, folder, options, hold=held, encode="aac")
    # The first gain tried is measured alone; the next two were written; the last is the held one.
    assert len(gains) == 3 and gains[0] != gains[1] == gains[2]
    assert made["searched"]["lufs"] == pytest.approx(-7.5, abs=0.1)
    for name in ("mix.wav", "dialogue_dub.wav", "music_effects.wav"):
        assert (tmp_path / "searched" / name).read_bytes() == (tmp_path / "held" / name).read_bytes()
    assert _decoded(tmp_path / "searched" / "mix.m4a") == _decoded(tmp_path / "held" / "mix.m4a")
    assert made["searched"]["lufs"] == pytest.approx(made["held"]["lufs"], abs=1e-9)


def test_an_encoder_that_fails_says_so_in_one_line(tmp_path):
    from pipelines.errors import StageError
    from pipelines.media import Encoder

    broken = Encoder(tmp_path / "mix.m4a", RATE, 1, "no_such_codec", [])
    for _ in range(8):  # more than it queues: ffmpeg has gone, and writing never blocks
        broken.write(np.zeros(RATE, "<i2").tobytes())
    with pytest.raises(StageError, match="ffmpeg failed to encode the mix: .*no_such_codec"):
        broken.finish()
    stopped = Encoder(tmp_path / "stopped.m4a", RATE, 1, "aac", [])
    stopped.write(np.zeros(RATE, "<i2").tobytes())
    stopped.abort()  # a remix that fails stops ffmpeg; its folder goes with the stage's


SECONDS = 3600
# One float32 array of an hour at 48 kHz mono is 690 MB; the whole-array remix held about
# six. Streaming, the peak is the interpreter, libraries and TTS model (~450 MB, the same
# for a one-minute input) plus a few 30 s blocks.
PEAK_LIMIT_MB = 800

# Runs a command and prints the peak RSS (kB) of it and its children: measured in a
# process of its own, so nothing else the test session ran counts.
PEAK_RSS = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""

CUES = """1
00:00:05,000 --> 00:00:08,000
Hello there, this is the first line.

2
00:29:58,500 --> 00:30:01,500
This line crosses the edge between two mix blocks.

3
00:59:55,000 --> 00:59:58,000
And this is the end of the programme.
"""


@pytest.mark.slow
def test_an_hour_is_dubbed_in_bounded_memory(tmp_path):
    """One hour of 48 kHz mono pink noise with three subtitle cues, dubbed with
    ``--separator none``: the process peaks well under what one whole-programme array
    needs, and the output is as long as the input. Measured on 2 cores: ~45 s and a
    ~450 MB peak (the whole-array code was killed for lack of memory at 24 GB). The stage
    WAVs take ~2.5 GB of temp disk, removed at the end."""
    source, cues = tmp_path / "programme.flac", tmp_path / "cues.srt"
    out, work = tmp_path / "out.m4a", tmp_path / "work"
    try:
        ffmpeg("-f", "lavfi", "-i", f"anoisesrc=d={SECONDS}:c=pink:r=48000:a=0.05", "-c:a", "flac", str(source))
        cues.write_text(CUES)
        command = [sys.executable, "-m", "dubber.cli", str(source), "--srt", str(cues), "--lang", "en",
                   "--separator", "none", "-o", str(out), "--work-dir", str(work), "-q"]
        run = subprocess.run([sys.executable, "-c", PEAK_RSS, *command], cwd=ROOT, capture_output=True, text=True,
                             timeout=900)
        assert run.returncode == 0, run.stderr
        peak_mb = int(run.stdout.split()[-1]) / 1024
        assert peak_mb < PEAK_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB for {SECONDS / 3600:g} h"
        assert abs(probe(out).audio_duration - probe(source).duration) <= 0.040
    finally:
        shutil.rmtree(work, ignore_errors=True)
        source.unlink(missing_ok=True)
        out.unlink(missing_ok=True)
