"""Work a dub does ahead of the stage that needs it: the voice loaded while the input is
extracted, stages warmed in a thread while Whisper finishes, and each speaker's voice matched
as soon as diarization has their clips."""

import threading
from dataclasses import dataclass
from typing import ClassVar

import pytest
import soundfile as sf

from dubber.runner import Background, Workspace, warm_ahead
from pipelines import synthesize
from pipelines.records import Speakers, Transcript
from pipelines.stage import Job, Stage
from pipelines.stages import Synthesize
from tts_core import TTS, voice


@dataclass(frozen=True)
class Recorder(Stage):
    """A stage that notes what was done with it (orchestration only: no real work)."""

    label: str
    log: list = None
    fail_warm: bool = False
    gate: threading.Event | None = None  # run() waits for it
    name: ClassVar[str] = "recorder"
    version: ClassVar[str] = "1"
    output: ClassVar[str] = "transcript"

    def options(self):
        return {"label": self.label}

    def key(self, job):
        return {}

    def warm(self):
        self.log.append(f"warm {self.label}")
        if self.fail_warm:
            raise RuntimeError("no model here")

    def run(self, job, folder, task):
        if self.gate is not None:
            assert self.gate.wait(10)
        self.log.append(f"run {self.label}")
        return Transcript(self.label, 1.0, 0.0, [])


def test_background_gives_its_value_or_raises_its_error_in_the_thread_that_asks():
    gate = threading.Event()
    names = []

    def slow():
        names.append(threading.current_thread().name)
        assert gate.wait(10)
        return 42

    running = Background(slow, name="voice-check")
    gate.set()  # it was running meanwhile: the caller was free
    assert running.result() == 42 and names == ["voice-check"]

    def broken():
        raise ValueError("this voice cannot speak Hindi")

    with pytest.raises(ValueError, match="cannot speak Hindi"):
        Background(broken, name="voice-check").result()


def test_stages_are_warmed_in_order_and_a_failure_is_left_to_the_stage():
    log = []
    stages = [Recorder("a", log, fail_warm=True), Recorder("b", log)]
    warm_ahead(stages).join(10)
    assert log == ["warm a", "warm b"]  # a's failure did not stop b being warmed


def test_then_runs_once_the_first_stage_is_done_while_the_others_run(tmp_path):
    log, gate = [], threading.Event()

    @dataclass(frozen=True)
    class Other(Recorder):
        name: ClassVar[str] = "other"
        output: ClassVar[str] = "speakers"

        def run(self, job, folder, task):
            assert self.gate.wait(10)
            self.log.append("run other")
            return Speakers(["S1"], {})

    seen = []

    def then(job):
        seen.append(job.transcript.language)
        log.append("then")
        gate.set()  # the other stage finishes only after then has run: they overlap
        raise RuntimeError("a failure here is not the dub's")

    job = Workspace(tmp_path).run_together([Recorder("first", log), Other("other", log, gate=gate)], Job(), then=then)
    assert seen == ["first"] and log == ["run first", "then", "run other"]
    assert job.transcript.language == "first" and job.speakers.labels == ["S1"]


@pytest.fixture(scope="module")
def speaker(tmp_path_factory):
    """A recording of a voice to approach (a bundled Kokoro voice speaking Spanish)."""
    path = tmp_path_factory.mktemp("speaker") / "S1.wav"
    said = TTS.from_pretrained("kokoro", voice="jf_tebukuro", lang="es").synthesize("Buenas tardes a todos.")
    sf.write(path, said.samples, said.sample_rate)
    return path


def test_a_speaker_is_matched_once_ahead_and_the_lines_find_it(speaker, tmp_path, monkeypatch):
    calls = []
    real = voice.match_voice

    def counted(backend, reference, default):
        calls.append(str(reference))
        return real(backend, reference, default)

    monkeypatch.setattr(voice, "match_voice", counted)
    synthesize.load_tts.cache_clear()  # a fresh backend: no match kept in memory from another test
    stage = Synthesize(lang="es", tts="kokoro")
    stage.prepare(Job(speakers=Speakers(["S1"], {"S1": speaker})))
    assert calls == [str(speaker)]
    lines = [{"start": 0.5, "end": 2.0, "text": "Hola a todos.", "source_text": "", "reference": str(speaker)},
             {"start": 2.5, "end": 4.0, "text": "Hasta luego.", "source_text": "", "reference": str(speaker)}]
    done = synthesize.synthesize(tmp_path, lines, "kokoro", None, "cpu", "es", 24_000, lambda *a: lambda n=1: None)
    assert calls == [str(speaker)]  # planned and spoken in the voice matched ahead
    assert [line["reference"] for line in done["lines"]] == [str(speaker)] * 2
    assert all(abs(line["audio_duration"] - (line["end"] - line["start"])) < 1e-3 for line in done["lines"])


def test_a_stage_done_takes_away_only_its_own_bars():
    """Diarization finishing (and the voices step) while the translation's bar is still
    moving in its thread: that bar stays and keeps moving (it raised KeyError before)."""
    from dubber.cli_support import Reporter

    reporter = Reporter(quiet=False)
    made, go, finished = threading.Event(), threading.Event(), []

    def translation():
        tick = reporter.task("translating", 10)
        made.set()
        assert go.wait(10)
        tick(4)
        finished.append([t.completed for t in reporter._progress.tasks])
        reporter.stage("translate", cached=False)
        reporter.done("translate", 0.5)

    thread = threading.Thread(target=translation)
    thread.start()
    assert made.wait(10)
    tick = reporter.task("diarizing", 3)
    tick(3)
    reporter.stage("diarize", cached=False)
    reporter.done("diarize", 0.2)
    assert [t.description for t in reporter._progress.tasks] == ["translating"]
    go.set()
    thread.join(10)
    assert finished == [[4]]
    assert not reporter._progress.tasks and not reporter._progress.live.is_started
    tick(1)  # a late tick of a finished stage is nothing
