"""The command line as a user meets it: one-line errors, exit code 2, no partial output."""

import wave

from click.testing import CliRunner

from dubber.cli import main

from .conftest import SAMPLE, ffmpeg


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_missing_input(tmp_path):
    result = run(str(tmp_path / "nope.mp4"), "--lang", "en", "-o", str(tmp_path / "out.mp4"))
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "input not found" in result.output
    assert not (tmp_path / "out.mp4").exists()


def test_unknown_language_lists_known_codes(tmp_path):
    result = run(str(SAMPLE), "--lang", "xx", "-o", str(tmp_path / "out.mp4"), "-q")
    assert result.exit_code == 2
    assert "unknown language 'xx'" in result.output and " en," in result.output
    assert "Traceback" not in result.output


def test_language_without_a_voice(tmp_path):
    result = run(str(SAMPLE), "--lang", "de", "--tts", "piper", "-o", str(tmp_path / "out.mp4"), "-q")
    assert result.exit_code == 2 and "not 'de'" in result.output and "--voice" in result.output
    # Without --tts, German goes to espeak-ng, which speaks it: what is missing is a translator.
    result = run(str(SAMPLE), "--lang", "de", "-o", str(tmp_path / "out.mp4"), "-q")
    assert result.exit_code == 2 and "no offline translator from 'es' to 'de'" in result.output


def test_video_without_audio_stream(tmp_path):
    silent = tmp_path / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1", "-pix_fmt", "yuv420p", str(silent))
    result = run(str(silent), "--lang", "en", "-o", str(tmp_path / "out.mp4"), "-q")
    assert result.exit_code == 2 and "no audio stream" in result.output
    assert not (tmp_path / "out.mp4").exists()


def test_not_a_media_file(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"this is not a video" * 100)
    result = run(str(fake), "--lang", "en", "-o", str(tmp_path / "out.mp4"), "-q")
    assert result.exit_code == 2 and "cannot read" in result.output


def test_output_equal_to_input_is_refused(tmp_path):
    copy = tmp_path / "in.mp4"
    copy.write_bytes(SAMPLE.read_bytes())
    result = run(str(copy), "--lang", "en", "-o", str(copy), "-q")
    assert result.exit_code == 2 and "is the input" in result.output
    assert copy.read_bytes() == SAMPLE.read_bytes()


def test_tts_command_writes_exact_length(tmp_path):
    out = tmp_path / "line.wav"
    result = run("tts", "Hello from the command line.", "--duration", "2.4", "-o", str(out))
    assert result.exit_code == 0, result.output
    with wave.open(str(out)) as w:
        assert w.getsampwidth() == 2
        assert w.getnframes() == round(2.4 * w.getframerate())


def test_tts_command_errors(tmp_path):
    result = run("tts", "   ", "-o", str(tmp_path / "x.wav"))
    assert result.exit_code == 2 and "empty text" in result.output
    result = run("tts", "Hi", "--tts", "nope", "-o", str(tmp_path / "x.wav"))
    assert result.exit_code == 2 and "piper" in result.output
    assert not (tmp_path / "x.wav").exists()


def test_tts_command_kokoro_with_emotion(tmp_path):
    out = tmp_path / "angry.wav"
    result = run("tts", "Get out of here, now!", "--tts", "kokoro", "--emotion", "angry", "--duration", "1.5",
                 "-o", str(out))
    assert result.exit_code == 0, result.output
    with wave.open(str(out)) as w:
        assert w.getnframes() == round(1.5 * w.getframerate())
    bad = run("tts", "Hi", "--tts", "kokoro", "--emotion", "0.5,0", "-o", str(tmp_path / "bad.wav"))
    assert bad.exit_code == 2 and "8 values" in bad.output
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not audio")
    bad = run("tts", "Hi", "--tts", "kokoro", "--voice", str(not_audio), "-o", str(tmp_path / "bad.wav"))
    assert bad.exit_code == 2 and "cannot read" in bad.output


def test_voice_recording_picks_a_backend_that_follows_it(tmp_path, monkeypatch):
    """--voice with a recording: every line approaches it (Kokoro unless --tts says otherwise)."""
    import dubber.dub

    seen = {}

    def capture(options, progress=None):
        seen["options"] = options
        return {"segments": []}

    monkeypatch.setattr(dubber.dub, "dub_video", capture)
    reference = tmp_path / "actor.flac"
    result = run(str(SAMPLE), "--lang", "en", "--voice", str(reference), "-o", str(tmp_path / "o.mp4"), "-q")
    assert result.exit_code == 0, result.output
    assert seen["options"].speaker_wav == reference and seen["options"].tts == "kokoro"
    assert seen["options"].voice is None
    run(str(SAMPLE), "--lang", "en", "--voice", "en_US-lessac-medium", "-o", str(tmp_path / "o.mp4"), "-q")
    assert seen["options"].speaker_wav is None and seen["options"].tts == "piper"
    assert seen["options"].voice == "en_US-lessac-medium"


def test_the_process_ends_with_its_work_written_and_its_exit_code(tmp_path):
    """``dub`` ends a one-job command without the interpreter's teardown (see
    ``dubber.cli.entry``): what it wrote is whole, what it printed arrives, and the exit code
    is the command's, through a pipe as much as a terminal."""
    import subprocess
    import sys

    out = tmp_path / "line.wav"
    done = subprocess.run([sys.executable, "-m", "dubber", "tts", "Hello there.", "--duration", "1.5", "-o", str(out)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and f"{out}: 1.500s" in done.stderr
    with wave.open(str(out)) as w:
        assert w.getnframes() == round(1.5 * w.getframerate())
    wrong = subprocess.run([sys.executable, "-m", "dubber", "tts", "Hello there.", "--duration", "1.5", "-o",
                            str(tmp_path / "line.mp3")], capture_output=True, text=True, cwd=tmp_path)
    assert wrong.returncode == 2 and wrong.stderr.startswith("dub: error:") and wrong.stderr.count("\n") == 1
    listed = subprocess.run([sys.executable, "-m", "dubber", "--version"], capture_output=True, text=True)
    assert listed.returncode == 0 and listed.stdout.startswith("dub, version")
