"""A whole dub of the bundled sample from the CLI, checked against the contract of the
report and the figures of the foundation issue that a test can check (not timing)."""

import json
import os
import subprocess

import pytest
from click.testing import CliRunner

from dubber.cli import main
from pipelines import asr
from pipelines.media import probe

from .conftest import SAMPLE


def video_packets(path):
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if not line.startswith("#")]


TAKEN_AHEAD: list[bool] = []  # per dub: whether the transcribe stage used Whisper started during separation


@pytest.fixture(scope="module")
def dubbed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dub")
    out, report = folder / "out.mp4", folder / "report.json"
    args = [str(SAMPLE), "--lang", "en", "-o", str(out), "--report", str(report), "--work-dir", str(folder / "work"),
            "--keep-original", "--stems", str(folder / "stems"), "-q"]
    real_take = asr.Ahead.take

    def take(self, *a):  # a spy: the real result is returned
        heard = real_take(self, *a)
        TAKEN_AHEAD.append(heard is not None)
        return heard

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(asr.Ahead, "take", take)
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out, json.loads(report.read_text()), args


@pytest.mark.slow
def test_whisper_heard_the_programme_while_it_was_separated(dubbed):
    assert TAKEN_AHEAD == [True]


@pytest.mark.slow
def test_report_contract_and_exact_slots(dubbed):
    out, report, _ = dubbed
    assert report["lang"] == "en" and report["source_lang"] == "es"
    assert set(report["stages"]) >= {"extract", "separate", "transcribe", "translate", "synthesize", "remix", "mux"}
    segments = report["segments"]
    assert len(segments) >= 5  # the sample has seven sentences
    for seg in segments:
        assert {"index", "start", "end", "source_text", "text", "audio_duration", "tempo"} <= set(seg)
        assert seg["text"] and seg["tempo"] == 1.0
        assert abs(seg["audio_duration"] - (seg["end"] - seg["start"])) <= 0.012
    assert {s["speaker"] for s in segments} == {"S1"}  # one voice talent speaks every line
    starts = [s["start"] for s in segments]
    assert starts == sorted(starts)
    assert all(a["end"] <= b["start"] for a, b in zip(segments, segments[1:]))


@pytest.mark.slow
def test_picture_untouched_and_lengths_match(dubbed):
    out, _, _ = dubbed
    assert video_packets(out) == video_packets(SAMPLE)
    info = probe(out)
    assert info.has_audio and info.has_video
    assert abs(info.audio_duration - info.video_duration) <= 0.040


def ebur128(path, stream="0:a:0"):
    """ffmpeg's own EBU R128 meter: (integrated LUFS, true peak dBTP)."""
    err = subprocess.run(["ffmpeg", "-nostats", "-i", str(path), "-map", stream, "-af", "ebur128=peak=true",
                          "-f", "null", "-"], capture_output=True, text=True).stderr
    summary = err[err.rindex("Summary:"):]
    lufs = float(summary.split("I:")[1].split("LUFS")[0])
    peak = float(summary.split("Peak:")[1].split("dBFS")[0])
    return lufs, peak


@pytest.mark.slow
def test_broadcast_mix_tracks_and_stems(dubbed):
    out, report, _ = dubbed
    source_lufs, _ = ebur128(SAMPLE)
    lufs, peak = ebur128(out)
    assert abs(lufs - source_lufs) <= 0.5  # matches the source programme by default
    assert peak <= -1.0
    assert report["mix"]["cut_ms"] == 0
    streams = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type:stream_tags=language",
                              "-of", "csv=p=0", str(out)], capture_output=True, text=True).stdout.split()
    assert streams == ["video,und", "audio,eng", "audio,spa"]
    stems = out.parent / "stems"
    assert sorted(p.name for p in stems.iterdir()) == ["dialogue.wav", "mix.wav", "music_effects.wav"]
    from pipelines.media import read_wav

    mix, rate = read_wav(stems / "mix.wav")
    assert rate == 48_000 and abs(len(mix) / rate - probe(SAMPLE).video_duration) < 1 / rate * 2


@pytest.mark.slow
def test_no_clicks_at_line_edges(dubbed):
    """The dubbed dialogue stem has no sample-to-sample jump at any line edge bigger than
    the speech itself makes."""
    import numpy as np

    from pipelines.media import read_wav

    out, report, _ = dubbed
    voice, rate = read_wav(out.parent / "stems" / "dialogue.wav")
    jumps = np.abs(np.diff(voice))
    typical = np.percentile(jumps[jumps > 0], 99.9)
    for seg in report["segments"]:
        for edge in (seg["start"], seg["end"]):
            i = int(round(edge * rate))
            window = jumps[max(0, i - 48): i + 48]
            assert window.max() <= typical, f"click at {edge:.3f}s"


@pytest.mark.slow
def test_rerun_is_cached(dubbed):
    out, _, args = dubbed
    before = out.stat().st_mtime_ns
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0
    report = json.loads(open(args[args.index("--report") + 1]).read())
    assert all(report["cached"][stage] for stage in ("extract", "separate", "transcribe", "translate", "synthesize", "remix"))
    # The output is what the same dub wrote, untouched since: it is not muxed again.
    assert out.stat().st_mtime_ns == before
    # An output changed since (here only its time) is made again, whole.
    os.utime(out, ns=(before - 10**9, before - 10**9))
    bytes_before = out.read_bytes()
    assert CliRunner().invoke(main, args).exit_code == 0
    assert out.stat().st_mtime_ns > before - 10**9 and out.read_bytes() == bytes_before


@pytest.mark.slow
def test_changing_the_language_redoes_only_what_depends_on_it(dubbed, tmp_path):
    _, _, args = dubbed
    work = args[args.index("--work-dir") + 1]
    report = tmp_path / "es.json"
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "es", "--tts", "kokoro", "-o", str(tmp_path / "es.mp4"),
                                       "--report", str(report), "--work-dir", work, "-q"])
    assert result.exit_code == 0, result.output
    cached = json.loads(report.read_text())["cached"]
    assert cached["extract"] and cached["separate"] and cached["transcribe"]
    assert not cached["translate"] and not cached["synthesize"]
