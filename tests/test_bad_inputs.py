"""Real-world bad input: every case gets exit code 2, one line saying what and how to fix
it, no traceback, and no output file (nor a temp file) left behind."""

import os
import stat

import pytest
from click.testing import CliRunner

from dubber.cli import main

from .conftest import SAMPLE, ffmpeg


def dub(tmp_path, source, *extra):
    out = tmp_path / "out" / "dubbed.mp4"
    out.parent.mkdir(exist_ok=True)
    result = CliRunner().invoke(main, [str(source), "--lang", "en", "-o", str(out), "--work-dir",
                                       str(tmp_path / "work"), "-q", *extra])
    return result, out


def assert_user_error(result, out, needle):
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line and needle in line
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_zero_byte_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    assert_user_error(*dub(tmp_path, empty), "empty")


def test_truncated_mp4(tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(SAMPLE.read_bytes()[: 40_000])
    assert_user_error(*dub(tmp_path, cut), "truncated")


def test_not_a_video(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("meeting notes, definitely not a video\n" * 50)
    assert_user_error(*dub(tmp_path, fake), "cannot read")


def test_only_silence_and_allow_empty(tmp_path):
    quiet = tmp_path / "quiet.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "3", str(quiet))
    result, out = dub(tmp_path, quiet)
    assert_user_error(result, out, "no speech found")
    result, out = dub(tmp_path, quiet, "--allow-empty")
    assert result.exit_code == 0 and out.exists()


def test_half_second_clip(tmp_path):
    short = tmp_path / "short.mp4"
    ffmpeg("-i", str(SAMPLE), "-t", "0.5", "-c", "copy", str(short))
    result, out = dub(tmp_path, short)
    assert result.exit_code in (0, 2), result.output  # too short to hold speech: a clear answer either way
    assert "Traceback" not in result.output


def test_output_folder_missing_or_read_only(tmp_path):
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "-o", str(tmp_path / "nope" / "o.mp4"), "-q"])
    assert result.exit_code == 2 and "does not exist" in result.output
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user that can write anywhere (root)")
        result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "-o", str(locked / "o.mp4"), "-q"])
        assert result.exit_code == 2 and "not writable" in result.output
    finally:
        locked.chmod(stat.S_IRWXU)


def test_missing_ffmpeg(tmp_path, monkeypatch):
    from dubber import media

    media.tool.cache_clear()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    try:
        result, out = dub(tmp_path, SAMPLE)
    finally:
        media.tool.cache_clear()
    assert_user_error(result, out, "ffprobe not found")
    assert "apt-get install ffmpeg" in result.output


def test_existing_output_survives_a_failed_run(tmp_path):
    out = tmp_path / "out" / "dubbed.mp4"
    out.parent.mkdir()
    out.write_bytes(b"an earlier good dub")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(SAMPLE.read_bytes()[:20_000])
    result = CliRunner().invoke(main, [str(broken), "--lang", "en", "-o", str(out), "-q"])
    assert result.exit_code == 2 and out.read_bytes() == b"an earlier good dub"


def test_debug_shows_the_traceback(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    result = CliRunner().invoke(main, [str(empty), "--lang", "en", "-o", str(tmp_path / "o.mp4"), "--debug"])
    assert result.exit_code != 0 and result.exception is not None


def test_internal_error_exits_1_with_a_log(tmp_path, monkeypatch):
    import dubber.dub

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(dubber.dub, "dub_video", broken)
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "-o", str(tmp_path / "o.mp4")])
    assert result.exit_code == 1 and "internal error: RuntimeError: a bug" in result.output
    log = result.output.split("details in ")[1].rstrip(")\n")
    assert "Traceback" in open(log).read()


MUSIC = "/usr/share/asterisk/moh/macroform-cold_day.wav"  # Debian asterisk-moh-opsound-wav, CC-BY-SA


def _music(path, seconds=6.0):
    """Real music when Debian's music-on-hold files are there, else a synthetic band:
    chords of harmonics over a kick, every half second."""
    if os.path.exists(MUSIC):
        ffmpeg("-ss", "20", "-t", str(seconds), "-i", MUSIC, str(path))
        return
    import numpy as np

    from dubber.media import write_wav

    rate = 44_100
    t = np.arange(int(seconds * rate)) / rate
    roots = np.array([220.0, 174.6, 261.6, 196.0])[(t // 0.5).astype(int) % 4]
    chord = sum(np.sin(2 * np.pi * roots * ratio * k * t) / k for ratio in (1, 1.26, 1.5) for k in (1, 2, 3))
    kick = np.sin(2 * np.pi * 60 * t) * np.exp(-(t % 0.5) * 30)
    write_wav(path, (0.08 * chord + 0.4 * kick).astype(np.float32), rate)


def test_only_music(tmp_path):
    music = tmp_path / "music.wav"
    _music(music)
    assert_user_error(*dub(tmp_path, music), "no speech found")


def test_voice_that_is_not_audio_or_cannot_be_followed(tmp_path):
    notes = tmp_path / "voice.wav"
    notes.write_text("not a recording\n")
    assert_user_error(*dub(tmp_path, SAMPLE, "--voice", str(notes)), "--voice cannot read")
    music = tmp_path / "music.wav"
    _music(music)
    assert_user_error(*dub(tmp_path, SAMPLE, "--voice", str(music), "--tts", "piper"), "cannot follow a recording")


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_audio_only_inputs(tmp_path, suffix):
    """A WAV or MP3 with speech and no picture dubs to the same kind of file, as long as the input."""
    from dubber.media import probe

    source = tmp_path / f"speech{suffix}"
    ffmpeg("-i", str(SAMPLE), "-t", "5", "-vn", str(source))
    out = tmp_path / "out" / f"dubbed{suffix}"
    out.parent.mkdir()
    result = CliRunner().invoke(main, [str(source), "--lang", "en", "-o", str(out), "--work-dir",
                                       str(tmp_path / "work"), "-q"])
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert info.has_audio and not info.has_video
    assert abs(info.duration - probe(source).duration) < 0.06
