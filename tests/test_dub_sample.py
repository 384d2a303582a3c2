"""A whole dub of the bundled sample from the CLI, checked against the contract of the
report and the figures of the foundation issue that a test can check (not timing)."""

import json
import subprocess

import pytest
from click.testing import CliRunner

from dubber.cli import main
from dubber.media import probe

from .conftest import SAMPLE


def video_packets(path):
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if not line.startswith("#")]


@pytest.fixture(scope="module")
def dubbed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dub")
    out, report = folder / "out.mp4", folder / "report.json"
    args = [str(SAMPLE), "--lang", "en", "-o", str(out), "--report", str(report), "--work-dir", str(folder / "work"), "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out, json.loads(report.read_text()), args


@pytest.mark.slow
def test_report_contract_and_exact_slots(dubbed):
    _, report, _ = dubbed
    assert report["lang"] == "en" and report["source_lang"] == "es"
    assert set(report["stages"]) >= {"extract", "separate", "transcribe", "translate", "synthesize", "remix", "mux"}
    segments = report["segments"]
    assert len(segments) >= 5  # the sample has seven sentences
    for seg in segments:
        assert {"index", "start", "end", "source_text", "text", "audio_duration", "tempo"} <= set(seg)
        assert seg["text"] and seg["tempo"] == 1.0
        assert abs(seg["audio_duration"] - (seg["end"] - seg["start"])) <= 0.012
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


@pytest.mark.slow
def test_rerun_is_cached(dubbed):
    out, _, args = dubbed
    before = out.stat().st_mtime_ns
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0
    report = json.loads(open(args[args.index("--report") + 1]).read())
    assert all(report["cached"][stage] for stage in ("extract", "separate", "transcribe", "translate", "synthesize", "remix"))
    assert out.stat().st_mtime_ns >= before


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
