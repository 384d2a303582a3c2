"""Reviewing one dub: its lines as they stand (with the edits made in review), and the
actions on them. Regenerating a line and rendering go through the same stages as the dub
(``pipelines.stages``) and its cache, so only the line is synthesized again, to its slot.

Every action checks its input first and changes nothing when it fails: the previous take
stays, and a render writes to a temporary file renamed over the output at the end.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path
import numpy as np

from pipelines import mux
from pipelines.errors import InputError, UserError
from pipelines.extract import MIX_RATE
from pipelines.records import Line, Segment, Source, SpokenLine, Synthesis, Transcript, Translation
from pipelines.stage import Job
from pipelines.stages import Extract, Remix, Separate, Synthesize

from ..config import DubOptions
from ..project import Edit, Project, project_path, read_project
from ..runner import SilentProgress, Workspace


class ReviewError(UserError):
    """An action the review cannot take (a bad line, text or time): the page shows why."""

    status = 400


class NotFound(ReviewError):
    status = 404


class Busy(ReviewError):
    status = 409


def find_project(path: Path) -> Path:
    """The project file of a dub, from its output or from its report (or the file itself)."""
    path = Path(path)
    if path.name.endswith(".dub.json"):
        return path
    if path.suffix.lower() == ".json":
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            return project_path(Path(report["output"]))
        except FileNotFoundError:
            raise InputError(f"{path} does not exist: give the dubbed video or its report") from None
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            raise InputError(f"{path} is not a dub report: give the dubbed video or its --report file") from None
    return project_path(path)


class Review:
    def __init__(self, path: Path):
        self.project = Project.read(find_project(path))
        self.options = DubOptions.from_dict(self.project.report["options"])
        self._lock = threading.Lock()  # one action on the project at a time
        self._render_lock = threading.Lock()
        self.render_state: dict = {"running": False, "stage": None, "error": None, "output": None}

    # ------------------------------------------------------------------ reading

    @property
    def source(self) -> Path:
        return Path(self.project.report["input"])

    @property
    def output(self) -> Path:
        return Path(self.project.report["output"])

    def take(self, index: int) -> dict:
        """The line as last synthesized: the report's, or review's latest take."""
        edit = self.project.edits.get(index)
        return dict(edit.line) if edit and edit.line else dict(self.project.report["segments"][index])

    def lines(self) -> list[dict]:
        """Every line as it now reads: its take with the changes not yet regenerated."""
        out = []
        for i in range(len(self.project.report["segments"])):
            edit = self.project.edits.get(i)
            out.append({**self.take(i), **(edit.changes if edit else {})})
        return out

    def state(self) -> dict:
        report = self.project.report
        return {"input": report["input"], "output": report["output"], "lang": report["lang"],
                "source_lang": report.get("source_lang"), "translator": report.get("translator"),
                "duration": report["duration"],
                "tts": self.options.tts, "speakers": self.speakers(), "emotions": self.emotions(), "lines": [
                    {**line, "edited": i in self.project.edits and bool(self.project.edits[i].to_dict()),
                     "takes": len(self.project.edits[i].takes) if i in self.project.edits else 0,
                     "pending": self._pending(i)}
                    for i, line in enumerate(self.lines())],
                "render": dict(self.render_state)}

    def speakers(self) -> dict[str, str | None]:
        """Each speaker label and the clip of their voice the TTS follows."""
        found: dict[str, str | None] = {}
        for line in self.project.report["segments"]:
            if line.get("speaker"):
                found.setdefault(line["speaker"], line.get("reference"))
                if line.get("reference"):
                    found[line["speaker"]] = line["reference"]
        return found

    def _pending(self, index: int) -> bool:
        """Changed since the line's audio was made: it needs regenerating before a render."""
        edit = self.project.edits.get(index)
        take = self.take(index)
        return bool(edit and any(take.get(k) != v for k, v in edit.changes.items()))

    def _line(self, index: int) -> dict:
        if not 0 <= index < len(self.project.report["segments"]):
            raise NotFound(f"there is no line {index}: the dub has {len(self.project.report['segments'])}")
        return self.lines()[index]

    # ------------------------------------------------------------------ actions

    def emotions(self) -> list[str]:
        """The emotions a line can be given (none when the backend has no emotion control)."""
        from tts_core.backends import get_backend
        from tts_core.prosody import EMOTIONS

        return list(EMOTIONS) if get_backend(self.options.tts).supports_emotion != "none" else []

    def edit(self, index: int, text: str | None = None, speaker: str | None = None,
             start: float | None = None, end: float | None = None, emotion: str | None = None) -> dict:
        """Change what a line says, who says it, how, or where it sits; regenerate to hear it."""
        with self._lock:
            line = self._line(index)
            changed = dict(line)
            if emotion is not None:
                choices = self.emotions()
                if not choices:
                    raise ReviewError(f"the {self.options.tts} backend has no emotion control: dub with "
                                      "--tts kokoro or --tts indextts2 to give lines emotions")
                if emotion and emotion not in choices:
                    raise ReviewError(f"line {index}: unknown emotion {emotion!r}: one of {', '.join(choices)}")
                changed["emotion"] = emotion or None  # "": the dub's own
            if text is not None:
                if not text.strip():
                    raise ReviewError(f"line {index}: the text is empty; write what the line should say")
                changed["text"] = text.strip()
            if speaker is not None:
                speakers = self.speakers()
                if speaker not in speakers:
                    raise ReviewError(f"line {index}: unknown speaker {speaker!r}: one of {', '.join(speakers) or 'none'}")
                changed["speaker"], changed["reference"] = speaker, speakers[speaker]
            if start is not None or end is not None:
                self._check_slot(index, start if start is not None else line["start"],
                                 end if end is not None else line["end"])
                changed["start"] = round(start if start is not None else line["start"], 4)
                changed["end"] = round(end if end is not None else line["end"], 4)
            take = self.take(index)
            edit = self.project.edits.setdefault(index, Edit())
            edit.changes = {k: changed.get(k) for k in ("text", "speaker", "reference", "start", "end", "emotion")
                            if changed.get(k) != take.get(k)}
            if not edit.to_dict():
                del self.project.edits[index]
            self.project.write()
            return self.state()["lines"][index]

    def _check_slot(self, index: int, start: float, end: float) -> None:
        lines = self.lines()
        duration = self.project.report["duration"]
        if not (0 <= start < end <= duration):
            raise ReviewError(f"line {index}: {start:.3f}-{end:.3f}s is not inside the video (0-{duration:.3f}s)")
        before = lines[index - 1] if index > 0 else None
        after = lines[index + 1] if index + 1 < len(lines) else None
        if before and before.get("audio") and start < before["end"]:
            raise ReviewError(f"line {index}: it would start at {start:.3f}s, over line {index - 1}, "
                              f"which ends at {before['end']:.3f}s")
        if after and after.get("audio") and end > after["start"]:
            raise ReviewError(f"line {index}: it would end at {end:.3f}s, over line {index + 1}, "
                              f"which starts at {after['start']:.3f}s")

    def regenerate(self, index: int) -> dict:
        """Synthesize the line again, as it now reads, to exactly its slot."""
        with self._lock:
            line = self._line(index)
            if not line["text"].strip():
                raise ReviewError(f"line {index}: the text is empty; write what the line should say")
            ws = Workspace(self.options.work_root)
            said = Line(line["start"], line["end"], line.get("source_text", ""), line["text"],
                        speaker=line.get("speaker"), reference=line.get("reference"))
            job = self._programme(ws).replace(translation=Translation("review", [said]), end=line["end"])
            # fit=None: the slot is the line's, as planned (or as moved); nothing is re-planned around it.
            stage = replace(self._synthesize(ws), fit=None)
            if line.get("emotion"):
                stage = replace(stage, emotion=line["emotion"])
            new = ws.run_stage(stage, job).synthesis.lines[0]
            if new.audio is None:
                raise ReviewError(f"line {index} could not be regenerated: {new.skipped}")
            take = {**line, "text": new.text, "audio": new.audio, "audio_duration": new.audio_duration,
                    "speech_rate": new.speech_rate, "within_bounds": new.within_bounds}
            take.pop("skipped", None)
            take.pop("natural_duration", None)  # the planner's measure of the text it was given
            if new.audio == self.take(index).get("audio"):  # nothing changed: the same take (deterministic)
                return self.state()["lines"][index]
            edit = self.project.edits.setdefault(index, Edit())
            edit.takes.append(self.take(index))
            edit.line, edit.changes = take, {}
            self.project.write()
            return self.state()["lines"][index]

    def undo(self, index: int) -> dict:
        """Back to the line's previous take."""
        with self._lock:
            self._line(index)
            edit = self.project.edits.get(index)
            if edit is None or not edit.takes:
                raise ReviewError(f"line {index} has no earlier take to go back to")
            previous = edit.takes.pop()
            # Back to that take exactly: changes made since are dropped with the newer take.
            edit.changes = {}
            edit.line = None if previous == self.project.report["segments"][index] else previous
            if not edit.to_dict():
                del self.project.edits[index]
            self.project.write()
            return self.state()["lines"][index]

    def render(self, output: Path | None = None) -> dict:
        """Remix and mux the video from the lines as they stand; the report, subtitles and
        project follow. A second render while one runs is refused."""
        if not self._render_lock.acquire(blocking=False):
            raise Busy("a render is already running: wait for it to finish")
        self.render_state.update(running=True, stage="starting", error=None, output=None)
        return self._render(output)

    def start_render(self, output: Path | None = None) -> None:
        """Render in the background; the page polls ``render_state``."""
        if not self._render_lock.acquire(blocking=False):
            raise Busy("a render is already running: wait for it to finish")
        self.render_state.update(running=True, stage="starting", error=None, output=None)

        def work():
            try:
                self._render(output)
            except Exception:  # noqa: BLE001  (the error is in render_state, which the page shows)
                pass

        threading.Thread(target=work, daemon=True).start()

    def _render(self, output: Path | None) -> dict:
        """The render itself; the caller holds the render lock (released here) and has marked
        the render as running."""
        try:
            pending = [i for i in range(len(self.project.report["segments"])) if self._pending(i)]
            if pending:
                raise ReviewError(f"line {pending[0]} was edited but not regenerated: regenerate it (or undo) first")
            target = Path(output) if output else self.output
            from ..dub import check_paths, deliver

            check_paths(self.source, target)
            ws = Workspace(self.options.work_root, _StageReport(self.render_state))
            lines = [SpokenLine.from_dict(line) for line in self.lines()]
            job = self._programme(ws).replace(synthesis=Synthesis(lines, MIX_RATE), transcript=self._transcript())
            # The first dub's gains, held: the mix changes inside the regenerated lines' slots only.
            mixed = self.project.report.get("mix", {})
            hold = (mixed["voice_gain"], mixed["gain_db"]) if "gain_db" in mixed else None
            job = ws.run_stage(Remix(self.options.mix, hold, encode=mux.encode_ahead(target)), job)
            options = replace(self.options, output=target)
            with self._lock:
                result = deliver(options, ws, job, self.project.report.get("source_lang"),
                                 self.project if target == self.output else read_project(target), self.project.edits)
                self.project = Project.read(project_path(target))
            self.render_state.update(output=str(target))
            return result
        except Exception as exc:
            self.render_state.update(error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise
        finally:
            self.render_state.update(running=False, stage=None)
            self._render_lock.release()

    def render_target(self, name: str | None) -> Path:
        """Where a render writes: over the output, or a new file name beside it (a name
        only: the page cannot write anywhere else)."""
        if not name:
            return self.output
        if not isinstance(name, str) or Path(name).name != name or name in (".", "..") or name.startswith("."):
            raise ReviewError(f"render to a file name beside {self.output.name} (no folders): not {name!r}")
        if Path(name).suffix.lower() != self.output.suffix.lower():
            raise ReviewError(f"render to a {self.output.suffix} file like the dub, not {name!r}")
        return self.output.with_name(name)

    def media(self, name: str) -> Path:
        """The dub's own files by name: the dubbed video, its source."""
        files = {"dub": self.output, "original": self.source}
        if name not in files:
            raise NotFound(f"no media {name!r}: one of {', '.join(files)}")
        if not files[name].is_file():
            raise NotFound(f"{files[name]} is gone")
        return files[name]

    def line_audio(self, index: int) -> Path:
        """The current take of a line."""
        audio = self._line(index).get("audio")
        if not audio or not Path(audio).is_file():
            raise NotFound(f"line {index} has no audio" + (" (its take was removed from the cache)" if audio else ""))
        return Path(audio)

    def waveform(self, points: int = 2000) -> dict:
        """Peaks of the dubbed audio, for the page's timeline."""
        from pipelines.media import decode_audio

        audio = decode_audio(self.media("dub"), 4000, 1)
        if audio.ndim > 1:
            audio = audio.mean(axis=1)
        edges = np.linspace(0, len(audio), points + 1).astype(int)
        peaks = [float(np.abs(audio[a:b]).max()) if b > a else 0.0 for a, b in zip(edges[:-1], edges[1:])]
        return {"duration": len(audio) / 4000, "peaks": [round(p, 4) for p in peaks]}

    # ------------------------------------------------------------------ the dub's stages

    def _programme(self, ws: Workspace) -> Job:
        """The source's audio and stems, from the dub's cache (made again if it was cleaned)."""
        from ..dub import input_digest

        if not self.source.is_file():
            raise InputError(f"the dubbed video's source {self.source} is gone: put it back to review this dub")
        job = Job(source=Source(self.source, input_digest(self.source)))
        job = ws.run_stage(Extract(), job)
        return ws.run_stage(Separate(self.options.separator), job)

    def _synthesize(self, ws: Workspace) -> Synthesize:
        from ..dub import stages

        return next(stage for stage in stages(self.options, ws.root) if isinstance(stage, Synthesize))

    def _transcript(self) -> Transcript | None:
        """What the source said, for its subtitles (your own subtitles in: none)."""
        if self.options.srt:
            return None
        report = self.project.report
        return Transcript(report.get("source_lang") or "und", 1.0, report["duration"],
                          [Segment(line.get("source_start", line["start"]), line.get("source_end", line["end"]),
                                   line.get("source_text", "")) for line in report["segments"]])


class _StageReport(SilentProgress):
    """The render's progress, as the page polls it."""

    def __init__(self, state: dict):
        self._state = state

    def stage(self, name: str, cached: bool) -> None:
        self._state["stage"] = name
