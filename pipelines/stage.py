"""The one interface every stage has, in the spirit of yt-dlp's postprocessors.

A stage is a frozen dataclass: its fields are its options. ``run`` is called with the
``Job`` (the records of one dub so far), a folder of its own to write into and a progress
callback, and returns its output record, which the runner stores in the job under the
stage's ``output`` name. ``key`` names everything that output depends on (the records it
reads, its options); the runner caches the output under a hash of the key and the stage's
``version``, so a rerun finds it and a change redoes only what depends on it.

Nothing here knows about the runner: a stage can be called on its own (the review page
regenerates one line that way).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, ClassVar

from .records import Audio, Mix, Record, Source, Speakers, Stems, Synthesis, Transcript, Translation

# The progress callback stages report to: task(description, total) -> tick(n=1).
Task = Callable[[str, int], Callable[[int], None]]


@dataclass(frozen=True)
class Job(Record):
    """What is known of one dub so far: the records the stages have made. A flow starts
    with what it is given (a source file; or, subtitles in, a translation)."""

    NESTED: ClassVar[dict] = {"source": Source, "audio": Audio, "stems": Stems, "transcript": Transcript,
                              "speakers": Speakers, "translation": Translation, "synthesis": Synthesis, "mix": Mix}

    source: Source | None = None
    audio: Audio | None = None
    stems: Stems | None = None
    transcript: Transcript | None = None
    speakers: Speakers | None = None
    translation: Translation | None = None
    synthesis: Synthesis | None = None
    mix: Mix | None = None
    # With no programme (subtitles in), where the last cue ends: the timeline's length.
    end: float | None = None


class Stage(ABC):
    """One step of a dub. Subclasses are frozen dataclasses whose fields are their options."""

    name: ClassVar[str]  # its folder in the work folder, and its name in reports and progress
    version: ClassVar[str]  # raised when its output changes for the same key
    output: ClassVar[str]  # the Job field its record fills

    def options(self) -> dict:
        """The options in the cache key (a subclass leaves out what does not change the output)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    @abstractmethod
    def key(self, job: Job) -> dict:
        """The records this stage reads (whole, or the fields it uses)."""

    @abstractmethod
    def run(self, job: Job, folder: Path, task: Task) -> Record:
        """Write into ``folder`` (empty, this stage's own) and return the output record."""

    def warm(self) -> None:
        """Load what ``run`` will need that does not depend on the job (libraries, models),
        so a dub can do it while an earlier stage waits on something else. Safe to call from
        another thread, and before or while ``run``; a failure here is left for ``run`` to
        report. Most stages have nothing to warm."""

    def prepare(self, job: Job) -> None:
        """Do the part of ``run``'s work that the records ``job`` already holds decide, before
        the rest is known (Synthesize: a voice for each speaker, once diarization has their
        clips, while the translation is still being made). ``run`` finds it done in the
        caches it keeps; a failure here is left for ``run`` to report. Most stages have none."""

    def done(self, job: Job, record: Record) -> Job:
        return job.replace(**{self.output: record})

    def cache_key(self, job: Job) -> dict[str, Any]:
        """What the runner hashes (turned into JSON by ``records.to_json``)."""
        return {"in": self.key(job), "options": self.options()}
