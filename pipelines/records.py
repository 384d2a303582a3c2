"""What flows between the stages, as typed records (the schema of a dub).

A stage takes the records it reads and returns its own; the runner stores that record as
its folder's ``result.json`` and reads it back on a cache hit. Paths inside the stage's
folder are stored relative to it, so a work folder can be moved; the records in memory
always hold absolute paths.

Field names are those of the JSON report (other tools read it): a line's record keeps the
report's keys, and an optional field that was never set is left out of the JSON rather than
written as null, as the report has always done.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

R = TypeVar("R", bound="Record")


class Record:
    """JSON in and out for a dataclass record. ``OPTIONAL`` fields are written only when set."""

    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    def to_dict(self, folder: Path | None = None) -> dict:
        out = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None and f.name in self.OPTIONAL:
                continue
            out[f.name] = _out(value, folder)
        return out

    @classmethod
    def from_dict(cls: type[R], data: dict, folder: Path | None = None) -> R:
        kwargs = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                kwargs[f.name] = _in(f.name, cls, data[f.name], folder)
        return cls(**kwargs)

    def replace(self: R, **changes: Any) -> R:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def to_json(value: Any, folder: Path | None = None) -> Any:
    """Records, option dataclasses, paths and containers of them as JSON values; paths under
    ``folder`` relative to it."""
    return _out(value, folder)


def _out(value: Any, folder: Path | None) -> Any:
    if isinstance(value, Record):
        return value.to_dict(folder)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # options: FitOptions, MixOptions...
        return _out(dataclasses.asdict(value), folder)
    if isinstance(value, Path):
        if folder is not None and value.is_relative_to(folder):
            return str(value.relative_to(folder))
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_out(v, folder) for v in value]
    if isinstance(value, dict):
        return {k: _out(v, folder) for k, v in value.items()}
    return value


# Which fields hold paths, records or lists of records (resolved on reading).
def _in(name: str, cls: type, value: Any, folder: Path | None) -> Any:
    kind = cls.NESTED.get(name) if hasattr(cls, "NESTED") else None
    if kind is None or value is None:
        return value
    if kind is Path:
        return (folder / value) if folder is not None else Path(value)
    if kind == "paths":  # a dict of name -> path
        return {k: (folder / v) if folder is not None else Path(v) for k, v in value.items()}
    if isinstance(value, list):
        return [kind.from_dict(v, folder) for v in value]
    return kind.from_dict(value, folder)


@dataclass(frozen=True)
class Source(Record):
    """The input file: what every stage's key ultimately rests on."""

    NESTED: ClassVar[dict] = {"path": Path}

    path: Path
    sha256: str


@dataclass(frozen=True)
class Audio(Record):
    """Extraction: the programme's audio at the mix rate, and how long the programme is."""

    NESTED: ClassVar[dict] = {"audio": Path}

    audio: Path
    sample_rate: int
    channels: int
    has_video: bool
    duration: float  # the picture's length when there is one: the dub matches it


@dataclass(frozen=True)
class Stems(Record):
    """Separation: the original dialogue, and everything else (music and effects)."""

    NESTED: ClassVar[dict] = {"dialogue": Path, "background": Path}

    dialogue: Path
    background: Path
    sample_rate: int
    separator: str


@dataclass(frozen=True)
class Segment(Record):
    """One transcribed dubbing unit, its words timed."""

    start: float
    end: float
    text: str
    words: list = field(default_factory=list)  # {"start", "end", "word", "p"}


@dataclass(frozen=True)
class Transcript(Record):
    NESTED: ClassVar[dict] = {"segments": Segment}

    language: str
    language_probability: float
    duration: float
    segments: list[Segment]


@dataclass(frozen=True)
class Speakers(Record):
    """Diarization: a speaker label per transcript segment, and a clip of each voice."""

    NESTED: ClassVar[dict] = {"references": "paths"}

    labels: list[str]
    references: dict[str, Path]  # label -> a 16 kHz clip of that voice (a second or more)


@dataclass(frozen=True)
class Line(Record):
    """A line to be said: its source slot, what was said there, and what to say."""

    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"translated_by", "speaker", "reference"})

    start: float
    end: float
    source_text: str
    text: str
    translated_by: str | None = None  # the translator or chain that made it (a fallback when not the stage's)
    speaker: str | None = None
    reference: str | None = None  # a clip of the speaker's voice the TTS may follow


@dataclass(frozen=True)
class Translation(Record):
    NESTED: ClassVar[dict] = {"segments": Line}

    translator: str  # the translator that ran ("subtitles" when they were given)
    segments: list[Line]

    def with_speakers(self, speakers: Speakers | None) -> "Translation":
        """Who says each line (and a clip of their voice), from diarization of the transcript
        whose segments these lines translate, one for one."""
        if speakers is None:
            return self
        lines = []
        for line, label in zip(self.segments, speakers.labels):
            reference = speakers.references.get(label)
            lines.append(line.replace(speaker=label, reference=str(reference) if reference else None))
        return self.replace(segments=lines + self.segments[len(lines):])


@dataclass(frozen=True)
class SpokenLine(Record):
    """A line as planned and synthesized: where it is on the dubbed timeline, how it was
    fitted, and its audio (None when it was skipped, with the reason)."""

    OPTIONAL: ClassVar[frozenset[str]] = frozenset({
        "speaker", "translated_by", "rewritten", "first_text", "natural_duration", "borrowed_ms", "fit", "fit_why",
        "reference", "skipped", "speech_rate", "within_bounds", "tokens"})

    index: int
    start: float
    end: float
    source_start: float
    source_end: float
    source_text: str
    text: str
    tempo: float = 1.0
    speaker: str | None = None
    translated_by: str | None = None
    rewritten: bool | None = None
    first_text: str | None = None  # the translation before it was rewritten to fit
    natural_duration: float | None = None
    borrowed_ms: float | None = None
    fit: str | None = None  # the fit planner's outcome: ok, borrowed, fast, shortened...
    fit_why: str | None = None
    audio: str | None = None
    audio_duration: float = 0.0
    skipped: str | None = None
    reference: str | None = None
    speech_rate: float | None = None
    within_bounds: bool | None = None
    tokens: int | None = None


@dataclass(frozen=True)
class Synthesis(Record):
    NESTED: ClassVar[dict] = {"lines": SpokenLine}

    lines: list[SpokenLine]
    sample_rate: int


@dataclass(frozen=True)
class Mix(Record):
    """The remix: the programme's new audio and its two stems, with what was measured."""

    NESTED: ClassVar[dict] = {"mix": Path, "dialogue": Path, "music_effects": Path, "encoded": Path}
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"source_lufs", "encoded", "codec"})

    mix: Path
    dialogue: Path
    music_effects: Path
    sample_rate: int
    samples: int
    voice_gain: float
    target_lufs: float | None
    lufs: float
    true_peak: float
    cut_ms: float
    source_lufs: float | None = None  # None: there was no source programme (subtitles in)
    gain_db: float = 0.0  # the mix's gain before the limiter (review holds it: see remix's hold)
    encoded: Path | None = None  # the mix already encoded for the output's container, if it was
    codec: str | None = None  # ... and its codec

    def figures(self) -> dict:
        """What the report says of the mix."""
        return {k: getattr(self, k) for k in ("source_lufs", "target_lufs", "lufs", "true_peak", "voice_gain",
                                              "cut_ms", "gain_db") if getattr(self, k) is not None}
