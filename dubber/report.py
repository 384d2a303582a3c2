"""The JSON report of a dub, built from the stages' records: a contract other tools read
(fields are only ever added)."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.records import Mix, SpokenLine
from tts_core.files import write_text_atomic

KEEP = ("index", "start", "end", "source_text", "text", "audio_duration", "tempo")


def build(options, source_lang: str | None, stages: dict[str, float], cached: dict[str, bool],
          lines: list[SpokenLine], duration: float, mix: Mix | None = None, translator: str | None = None) -> dict:
    """``translator``: the one the translate stage ran (a chain is named by its hops); each line's
    ``translated_by`` names what made it, which differs where a fallback stepped in."""
    segments = []
    for record in lines:
        line = record.to_dict()
        entry = {k: line.get(k) for k in KEEP}
        for extra in ("source_start", "source_end", "natural_duration", "speech_rate", "borrowed_ms", "fit", "fit_why",
                      "rewritten", "first_text", "translated_by", "speaker", "reference", "within_bounds", "skipped", "audio"):
            if extra in line:
                entry[extra] = line[extra]
        segments.append(entry)
    return {
        "input": str(options.input),
        "output": str(options.output),
        "lang": options.lang,
        "source_lang": source_lang,
        **({"translator": translator} if translator else {}),
        "duration": duration,
        "stages": {k: round(v, 3) for k, v in stages.items()},
        "cached": cached,
        "options": options.to_dict(),
        "segments": segments,
        **({"mix": mix.figures()} if mix is not None else {}),
    }


def write(path: Path, report: dict) -> None:
    write_text_atomic(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
