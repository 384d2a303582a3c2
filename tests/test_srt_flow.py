"""Subtitles in, timed dialogue out; and a video dubbed from your own subtitles."""

import json
import subprocess
import wave

from click.testing import CliRunner

from dubber.cli import main

from .conftest import SAMPLE

SRT = """1
00:00:00,500 --> 00:00:02,500
JOHN: Hello there, how are you today?

2
00:00:02,600 --> 00:00:03,100
MARY: I am fine, thank you very much for asking.

3
00:00:05,000 --> 00:00:08,000
<i>Good.</i>
"""


def test_srt_to_dialogue_track(tmp_path):
    subs = tmp_path / "lines.srt"
    subs.write_bytes(SRT.replace("\n", "\r\n").encode("utf-16"))
    out, report = tmp_path / "dialogue.wav", tmp_path / "r.json"
    result = CliRunner().invoke(main, ["srt", str(subs), "-o", str(out), "--report", str(report),
                                       "--work-dir", str(tmp_path / "w"), "-q"])
    assert result.exit_code == 0, result.output
    with wave.open(str(out)) as w:
        assert w.getsampwidth() == 2 and w.getnframes() / w.getframerate() >= 8.0
    segments = json.loads(report.read_text())["segments"]
    assert [s.get("speaker") for s in segments] == ["JOHN", "MARY", None]
    for seg in segments:
        assert abs(seg["audio_duration"] - (seg["end"] - seg["start"])) <= 0.012 and seg["tempo"] == 1.0
    mary = segments[1]
    assert mary["borrowed_ms"] > 0 and mary["end"] <= segments[2]["start"]  # borrowed the gap, no overlap
    assert segments[2]["fit"] == "shortened"  # a three-second slot for one word is not drawled


def test_srt_errors(tmp_path):
    subs = tmp_path / "lines.srt"
    subs.write_text(SRT)
    bad_out = CliRunner().invoke(main, ["srt", str(subs), "-o", str(tmp_path / "x.mp3"), "-q"])
    assert bad_out.exit_code == 2 and ".wav" in bad_out.output
    missing = CliRunner().invoke(main, ["srt", str(tmp_path / "none.srt"), "-o", str(tmp_path / "x.wav"), "-q"])
    assert missing.exit_code == 2 and not (tmp_path / "x.wav").exists()
    garbage = tmp_path / "garbage.srt"
    garbage.write_bytes(bytes(range(256)) * 8)
    result = CliRunner().invoke(main, ["srt", str(garbage), "-o", str(tmp_path / "x.wav"), "-q"])
    assert result.exit_code == 2 and "not a text subtitle file" in result.output


def test_video_with_own_subtitles_and_soft_track(tmp_path):
    subs = tmp_path / "mine.srt"
    subs.write_text(SRT)
    out, report = tmp_path / "out.mp4", tmp_path / "r.json"
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "--srt", str(subs), "--subs", "-o", str(out),
                                       "--report", str(report), "--work-dir", str(tmp_path / "w"), "-q"])
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert "transcribe" not in data["stages"] and len(data["segments"]) == 3
    streams = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type:stream_tags=language",
                              "-of", "csv=p=0", str(out)], capture_output=True, text=True).stdout.split()
    assert streams == ["video,und", "audio,eng", "subtitle,eng"]
    assert (tmp_path / "out.en.srt").read_text().count("-->") == 3


def test_default_backend_follows_the_language():
    from pipelines.synthesize import default_backend

    assert default_backend("en") == "piper"
    assert default_backend("es") == default_backend("pt") == "kokoro"
    assert default_backend("de") == "espeak"  # neither Piper's bundled voice nor Kokoro speaks it
    assert default_backend("en", recording=True) == default_backend("de", recording=True) == "kokoro"
    assert default_backend("es", voice="es_ES-davefx-medium") == "piper"  # a voice name is a Piper voice
    assert default_backend("en", voice="ef_dora") == "kokoro"  # unless it is one of Kokoro's own
    assert default_backend("en", voice="jf_alpha:0.6,jm_kumo:0.4") == default_backend("en", voice="x.pt") == "kokoro"
    assert default_backend("zh") == "espeak"  # IndexTTS-2 speaks it, but its weights are the user's to fetch


def test_the_default_comes_from_what_backends_declare(monkeypatch):
    """A backend registered with a language and a rank is the default for it: no name is
    written into the choice."""
    from pipelines.synthesize import default_backend
    from tts_core.backends import base

    class Welsh(base.Backend):
        name, languages, default_rank = "welsh-test", ("cy",), 1  # before espeak-ng, which speaks any
        supports_target_tokens, supports_voice_reference, supports_emotion = True, False, "none"

    monkeypatch.setitem(base.BACKENDS._classes, Welsh.name, Welsh)
    assert default_backend("cy") == "welsh-test"
    assert default_backend("de") == "espeak"  # ranked after it, and it does not speak German


def test_spanish_subtitles_without_tts_just_work(tmp_path):
    """``dub srt ... --lang es`` with no --tts: Spanish is spoken (by Kokoro), not refused
    because the default English voice cannot."""
    subs = tmp_path / "es.srt"
    subs.write_bytes("1\n00:00:00,500 --> 00:00:02,500\nHola, \xbfc\xf3mo est\xe1s?\n".encode("cp1252"))
    out, report = tmp_path / "es.wav", tmp_path / "r.json"
    result = CliRunner().invoke(main, ["srt", str(subs), "--lang", "es", "-o", str(out), "--report", str(report),
                                       "--work-dir", str(tmp_path / "w"), "-q"])
    assert result.exit_code == 0, result.output
    written = json.loads(report.read_text())
    assert written["options"]["tts"] == "kokoro"
    seg = written["segments"][0]
    assert seg["text"] == "Hola, ¿cómo estás?"
    # Spoken from the cue's start at most 1.2x slower than the voice's own pace: the rest of
    # a long cue is silence, not drawl.
    assert seg["start"] == 0.5 and seg["end"] <= 2.5
    assert abs(seg["audio_duration"] - (seg["end"] - seg["start"])) <= 0.012
