"""Timing fit: the pace each line would need in its source slot, and the pace after the
whole-timeline fit planner, on real clips.

    python -m bench.fit [CLIP ...] [--lang en] [--json PATH]

Dubs each clip with the real CLI (bundled sample by default) and reads the report: the
"before" pace is the source slot over the voice's natural length of the translated line,
the "after" pace is the planned slot over that same natural length.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.common import table

ROOT = Path(__file__).resolve().parents[1]
COMFORT = (0.85, 1.2)
HARD = (0.6, 1.6)


def dub(clip: Path, lang: str, folder: Path) -> dict:
    report = folder / f"{clip.stem}.json"
    cmd = [sys.executable, "-m", "dubber.cli", str(clip), "--lang", lang, "-o", str(folder / f"{clip.stem}.mp4"),
           "--report", str(report), "--work-dir", str(folder / "work"), "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"dub failed on {clip}: {proc.stderr.strip()}")
    return json.loads(report.read_text())


def librivox_reading(folder: Path) -> list[Path]:
    """The LibriVox clips of Debian's pocketsphinx-testdata joined with pauses: real read
    English, dubbed into English again (a revoicing), for a second real timeline."""
    from dubber.media import decode_audio, write_wav

    source = Path("/usr/share/pocketsphinx/test/data/librivox")
    files = sorted(source.glob("*.wav"))
    if not files:
        return []
    pause = np.zeros(int(0.7 * 16_000), np.float32)
    audio = np.concatenate([part for f in files for part in (decode_audio(f, 16_000), pause)])
    return [write_wav(folder / "librivox_reading.wav", audio, 16_000)]


def summary(paces: list[float]) -> list:
    p = np.asarray(paces)
    eps = 1e-3  # planned paces sit exactly on the band's edge
    outside = np.mean((p < COMFORT[0] - eps) | (p > COMFORT[1] + eps)) * 100
    beyond = np.mean((p < HARD[0] - eps) | (p > HARD[1] + eps)) * 100
    return [len(p), float(np.median(p)), float(np.percentile(p, 5)), float(np.percentile(p, 95)),
            f"{outside:.0f}%", f"{beyond:.0f}%"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", type=Path,
                        help="clips to dub [default: the sample, and LibriVox readings from pocketsphinx-testdata]")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows, data = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        clips = args.clips or [ROOT / "samples" / "sample_es.mp4", *librivox_reading(Path(tmp))]
        for clip in clips:
            report = dub(clip, args.lang, Path(tmp))
            lines = [s for s in report["segments"] if s.get("natural_duration")]
            before = [(s["source_end"] - s["source_start"]) / s["natural_duration"] for s in lines]
            after = [(s["end"] - s["start"]) / s["natural_duration"] for s in lines]
            borrowed = sum(s.get("borrowed_ms", 0) for s in lines)
            statuses = {k: sum(s.get("fit") == k for s in lines) for k in ("ok", "shortened", "borrowed", "fast", "slow", "over")}
            rows.append([clip.name, "before (source slots)", *summary(before), "-"])
            rows.append([clip.name, "after (planned)", *summary(after), f"{borrowed:.0f}"])
            data[clip.name] = {"before": before, "after": after, "borrowed_ms": borrowed, "statuses": statuses}
    print(f"Pace = slot / natural length of the line (1 = the voice's own pace; comfort {COMFORT}, hard {HARD}).\n")
    print(table(["clip", "slots", "lines", "median", "p5", "p95", "outside comfort", "outside hard", "ms borrowed"], rows))
    for name, d in data.items():
        print(f"\n{name}: line outcomes {d['statuses']}")
    if args.json:
        args.json.write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
