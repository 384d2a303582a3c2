"""The project file a dub leaves beside its output (``OUT.dub.json``): the dub's report, and
the edits made to it in review.

``dub review OUT`` opens it; a rerun of the same ``dub`` command reads it and keeps the
edited lines' text instead of translating them again. It is written atomically, so a
crash leaves the previous version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.errors import InputError
from tts_core.files import write_text_atomic

FORMAT = 1


def project_path(output: Path) -> Path:
    """``out.mp4`` -> ``out.dub.json``."""
    output = Path(output)
    return output.with_name(f"{output.stem}.dub.json")


@dataclass
class Edit:
    """What review changed in one line: ``changes`` not yet heard (text, speaker and its
    reference clip, start, end), ``line`` the current take (the line's report record once
    regenerated), ``takes`` the earlier ones, the last of them what ``undo`` brings back."""

    changes: dict = field(default_factory=dict)
    line: dict | None = None
    takes: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: v for k, v in (("changes", self.changes), ("line", self.line), ("takes", self.takes)) if v}

    @classmethod
    def from_dict(cls, data: dict) -> "Edit":
        return cls(changes=dict(data.get("changes", {})), line=data.get("line"), takes=list(data.get("takes", [])))

    def text(self) -> str | None:
        """The line's text as edited (None: as translated)."""
        if "text" in self.changes:
            return self.changes["text"]
        return self.line["text"] if self.line else None


@dataclass
class Project:
    path: Path
    report: dict  # the dub's report (the same JSON as --report)
    source_sha256: str  # the input it was made from: edits apply to that input only
    edits: dict[int, Edit] = field(default_factory=dict)
    # What the output file was made from (a hash) and its size and mtime then: a rerun that
    # would write the same file leaves it as it is.
    delivered: dict | None = None

    @classmethod
    def read(cls, path: Path) -> "Project":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{path} does not exist: dub the video first (dub VIDEO -o OUTPUT), "
                             "then review OUTPUT") from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"{path} is not a dub project file ({exc}); dub the video again to remake it") from None
        if not isinstance(data, dict) or data.get("dub") != FORMAT or "report" not in data:
            raise InputError(f"{path} is not a dub project file (format {FORMAT}); dub the video again to remake it")
        edits = {int(k): Edit.from_dict(v) for k, v in data.get("edits", {}).items()}
        return cls(Path(path), data["report"], data.get("source_sha256", ""), edits, data.get("delivered"))

    def write(self) -> None:
        data = {"dub": FORMAT, "source_sha256": self.source_sha256, "report": self.report,
                "edits": {str(k): e.to_dict() for k, e in sorted(self.edits.items()) if e.to_dict()},
                **({"delivered": self.delivered} if self.delivered else {})}
        write_text_atomic(self.path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    def edited_texts(self, source_sha256: str) -> dict[int, str]:
        """Each reviewed line's text (after a render the report has it too; the translator
        does not), when the project was made from this input (another input's edits are not
        this one's)."""
        if self.source_sha256 != source_sha256:
            return {}
        return {i: e.text() for i, e in self.edits.items() if e.text() is not None}

    def still_delivered(self, output: Path, key: str) -> bool:
        """Whether ``output`` is the file a dub wrote from ``key`` and nothing has touched since."""
        if not self.delivered or self.delivered.get("key") != key:
            return False
        try:
            return delivered(output, key) == self.delivered
        except OSError:
            return False


def read_project(output: Path) -> Project | None:
    """The project file beside ``output``, or None when there is none (or it is unreadable)."""
    path = project_path(output)
    if not path.is_file():
        return None
    try:
        return Project.read(path)
    except InputError:
        return None


def delivered(output: Path, key: str) -> dict:
    """The record of an output just written from ``key``."""
    st = Path(output).stat()
    return {"key": key, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
