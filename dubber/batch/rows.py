"""A manifest file read into rows: ``(where, {column: value})``, whatever its format.

``where`` ("jobs.csv line 3") is what every message about the row names, so each format
reports the line the user has to fix, not a parser's offset.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Iterable

from pipelines.errors import UserError

from ..options import OPTION_COLUMNS

MANIFEST_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json", ".yaml", ".yml")
COLUMNS = ("input", "lang", "output", *OPTION_COLUMNS)


class ManifestError(UserError):
    """A manifest that cannot be read: the message names the line and the fix."""


def read_rows(path: Path) -> Iterable[tuple[str, dict]]:
    """The rows of a manifest; a file that is missing, of an unknown type or not UTF-8 is a
    ManifestError before any row is read."""
    name = path.name
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}: give a CSV, JSONL or YAML file "
                            "(or a quoted glob like 'videos/*.mp4' with --lang)")
    suffix = path.suffix.lower()
    if suffix not in MANIFEST_SUFFIXES:
        raise ManifestError(f"{name}: unknown manifest type {suffix or '(none)'}: use .csv, .jsonl, .json or .yaml")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ManifestError(f"{name}: not UTF-8 text: save the manifest as UTF-8") from None
    reader = {".csv": _rows_csv, ".jsonl": _rows_jsonl, ".ndjson": _rows_jsonl, ".json": _rows_json,
              ".yaml": _rows_yaml, ".yml": _rows_yaml}[suffix]
    return reader(text, name)


def _rows_csv(text: str, name: str) -> Iterable[tuple[str, dict]]:
    # strict: a quote left open is an error, not the rest of the file read as one cell
    reader = csv.DictReader(io.StringIO(text, newline=""), skipinitialspace=True, strict=True)
    read = 0  # lines read before the row being parsed: an open quote is reported where it opens
    try:
        if not reader.fieldnames:
            raise ManifestError(f"{name} is empty: its first line must name the columns, e.g. 'input,lang,output'")
        header = [(h or "").strip() for h in reader.fieldnames]
        reader.fieldnames = header
        _check_columns(header, f"{name} line 1")
        read = reader.line_num
        for row in reader:
            where = f"{name} line {reader.line_num}"
            read = reader.line_num
            if None in row:
                raise ManifestError(f"{where}: more values than the header has columns "
                                    f"(quote values that contain commas)")
            values = {k: v for k, v in row.items() if v is not None and str(v).strip() != ""}
            first = next(iter(row.values()), None)
            if not values or (isinstance(first, str) and first.lstrip().startswith("#")):
                continue  # a blank or comment line
            yield where, values
    except csv.Error as exc:
        raise ManifestError(f"{name} line {read + 1}: not valid CSV ({exc}): check its quotes") from None


def _check_columns(keys: Iterable[str], where: str) -> None:
    unknown = [k for k in keys if k not in COLUMNS]
    if unknown:
        raise ManifestError(f"{where}: unknown column {unknown[0]!r}: the columns are {', '.join(COLUMNS)}")


def _rows_jsonl(text: str, name: str) -> Iterable[tuple[str, dict]]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{name} line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}): "
                                f"write one object per line, e.g. {{\"input\": \"a.mp4\", \"lang\": \"en\"}}") from None
        yield where, _mapping(item, where)


def _mapping(item: Any, where: str) -> dict:
    if not isinstance(item, dict):
        raise ManifestError(f"{where}: expected a mapping like {{input: a.mp4, lang: en}}, got {type(item).__name__}")
    _check_columns([str(k) for k in item], where)
    return {str(k): v for k, v in item.items() if v is not None and str(v).strip() != ""}


def _rows_json(text: str, name: str) -> Iterable[tuple[str, dict]]:
    stripped = text.lstrip()
    if not stripped.startswith("["):
        yield from _rows_jsonl(text, name)
        return
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{name} line {exc.lineno}: not valid JSON ({exc.msg}): fix it or use JSONL") from None
    if not isinstance(items, list):
        raise ManifestError(f"{name}: expected a list of jobs [{{\"input\": \"a.mp4\", \"lang\": \"en\"}}, ...]")
    for number, item in enumerate(items, 1):
        where = f"{name} item {number}"
        yield where, _mapping(item, where)


def _rows_yaml(text: str, name: str) -> Iterable[tuple[str, dict]]:
    import yaml

    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError(f"{name}{line}: not valid YAML ({problem}): check its indentation and quotes") from None
    nodes = root
    if isinstance(data, dict) and "jobs" in data:
        data = data["jobs"]
        nodes = next((v for k, v in root.value if k.value == "jobs"), None)
    if not isinstance(data, list):
        raise ManifestError(f"{name}: expected a list of jobs (- input: a.mp4\\n  lang: en) or a 'jobs:' list")
    for i, item in enumerate(data):
        node = nodes.value[i] if nodes is not None and hasattr(nodes, "value") and i < len(nodes.value) else None
        where = f"{name} line {node.start_mark.line + 1}" if node is not None else f"{name} item {i + 1}"
        yield where, _mapping(item, where)
