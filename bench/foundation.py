"""Foundation milestone figures: dub the sample cold and cached, then check the result.

    python -m bench.foundation [--input samples/sample_es.mp4] [--json PATH]

Runs the real CLI as a subprocess in a fresh work folder (model files already derived
under the cache root are reused: they count as installed), reads the report, probes and
hashes the output, and transcribes the dubbed audio with Whisper to score what a
listener would hear. Every figure is measured on this run; nothing is hard-coded.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import table, transcribe, wer
from dubber.media import decode_audio, probe, read_wav, tool

ASR_RATE = 16_000


def run_dub(source: Path, output: Path, report: Path, work_dir: Path) -> float:
    """Run the ``dub`` CLI once (as a subprocess) and return its wall time in seconds."""
    cmd = [sys.executable, "-m", "dubber.cli", str(source), "--lang", "en", "-o", str(output),
           "--report", str(report), "--work-dir", str(work_dir), "-q"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"dub failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return seconds


def video_hashes(path: Path) -> list[str]:
    """Per-packet MD5s of the first video stream, stream-copied (no decode, no '#' headers)."""
    proc = subprocess.run([tool("ffmpeg"), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0",
                           "-c", "copy", "-f", "framemd5", "-"], capture_output=True, text=True, check=True)
    return [line for line in proc.stdout.splitlines() if line and not line.startswith("#")]


def slot_errors(segments: list[dict]) -> tuple[list[float], list[float]]:
    """|audio_duration - slot| in ms for each spoken segment, and every segment's tempo."""
    spoken = [s for s in segments if not s.get("skipped")]
    errors = [abs(s["audio_duration"] - (s["end"] - s["start"])) * 1000 for s in spoken]
    return errors, [s["tempo"] for s in segments]


def transcribe_slots(audio: np.ndarray, rate: int, segments: list[dict]) -> list[str]:
    """Whisper's English transcription of each segment's [start, end] cut of ``audio``."""
    hyps = []
    for seg in segments:
        clip = audio[int(seg["start"] * rate): int(seg["end"] * rate)]
        hyps.append(transcribe(clip, rate, "en") if len(clip) else "")
    return hyps


def dialogue_stem(work_dir: Path) -> Path | None:
    """The clean dubbed dialogue the remix stage wrote (the newest, if there are several)."""
    stems = sorted(work_dir.glob("remix/*/dialogue_dub.wav"), key=lambda p: p.stat().st_mtime)
    return stems[-1] if stems else None


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def measure(source: Path) -> dict:
    """Dub ``source`` cold then cached in a fresh work folder and gather every figure."""
    info = probe(source)
    with tempfile.TemporaryDirectory(prefix="dub-bench-") as tmp:
        tmp = Path(tmp)
        work, output, report_path = tmp / "work", tmp / f"dubbed{source.suffix or '.mp4'}", tmp / "report.json"
        work.mkdir()
        cold = run_dub(source, output, report_path, work)
        cold_report = json.loads(report_path.read_text())
        cached = run_dub(source, output, report_path, work)
        cached_report = json.loads(report_path.read_text())

        segments = cold_report["segments"]
        errors, tempos = slot_errors(segments)
        out_info = probe(output)
        audio_video_ms = None
        if out_info.audio_duration is not None and out_info.video_duration is not None:
            audio_video_ms = abs(out_info.audio_duration - out_info.video_duration) * 1000
        same_video = info.has_video and video_hashes(source) == video_hashes(output)

        spoken = [s for s in segments if not s.get("skipped")]
        refs = [s["text"] for s in spoken]
        mix = decode_audio(output, ASR_RATE, 1)
        mix_hyps = transcribe_slots(mix, ASR_RATE, spoken)
        stem_path = dialogue_stem(work)
        stem_hyps = None
        if stem_path is not None:
            stem, stem_rate = read_wav(stem_path)
            stem_hyps = transcribe_slots(stem if stem.ndim == 1 else stem.mean(axis=1), stem_rate, spoken)

    return {
        "input": str(source), "duration": info.duration, "cpus": os.cpu_count(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cold_seconds": cold, "cached_seconds": cached,
        "stages_cold": cold_report["stages"], "stages_cached": cached_report["stages"],
        "cached_flags": cached_report["cached"],
        "segments": len(segments), "skipped": len(segments) - len(spoken),
        "slot_error_ms": {"max": max(errors, default=0.0), "mean": float(np.mean(errors)) if errors else 0.0,
                          "all": errors},
        "tempos": tempos,
        "output_audio_seconds": out_info.audio_duration, "output_video_seconds": out_info.video_duration,
        "audio_video_diff_ms": audio_video_ms,
        "video_identical": same_video,
        "wer_mix": wer(refs, mix_hyps), "wer_dialogue": wer(refs, stem_hyps) if stem_hyps is not None else None,
        "pairs": [{"start": s["start"], "end": s["end"], "reference": r, "mix": h,
                   "dialogue": stem_hyps[i] if stem_hyps is not None else None}
                  for i, (s, r, h) in enumerate(zip(spoken, refs, mix_hyps))],
    }


def render(m: dict) -> str:
    """The Markdown report: header, figures against targets, then what was heard."""
    rows = [
        ["cold dub wall time (s)", m["cold_seconds"], f"<= {2 * m['duration']:.1f} (2x clip)",
         verdict(m["cold_seconds"] <= 2 * m["duration"])],
        ["cached rerun wall time (s)", m["cached_seconds"], "<= 10", verdict(m["cached_seconds"] <= 10)],
    ]
    for name, seconds in m["stages_cold"].items():
        rows.append([f"  stage {name} (s, cold / cached)",
                     f"{seconds:.3f} / {m['stages_cached'].get(name, float('nan')):.3f}", "", ""])
    slot = m["slot_error_ms"]
    rows += [
        [f"slot error max (ms, {m['segments'] - m['skipped']} lines)", slot["max"], "<= 12",
         verdict(slot["max"] <= 12)],
        ["slot error mean (ms)", slot["mean"], "", ""],
        ["lines skipped", m["skipped"], "0", verdict(m["skipped"] == 0)],
        ["tempo == 1.0 on every line", all(t == 1.0 for t in m["tempos"]), "True",
         verdict(all(t == 1.0 for t in m["tempos"]))],
        ["|output audio - video| (ms)", m["audio_video_diff_ms"], "<= 40",
         verdict(m["audio_video_diff_ms"] is not None and m["audio_video_diff_ms"] <= 40)],
        ["video stream bit-identical", m["video_identical"], "True", verdict(m["video_identical"])],
        ["WER, dubbed mix (with music)", f"{100 * m['wer_mix']:.1f}%", "<= 15%", verdict(m["wer_mix"] <= 0.15)],
    ]
    if m["wer_dialogue"] is not None:
        rows.append(["WER, clean dubbed dialogue stem", f"{100 * m['wer_dialogue']:.1f}%", "<= 15%",
                     verdict(m["wer_dialogue"] <= 0.15)])
    head = (f"input {m['input']} ({m['duration']:.2f} s) · {m['cpus']} CPUs · {m['date']}")
    lines = [head, "", table(["figure", "value", "target", "result"], rows), "", "What was heard per line:"]
    for i, p in enumerate(m["pairs"]):
        lines.append(f"{i:2d} [{p['start']:6.2f}-{p['end']:6.2f}] ref: {p['reference']}")
        lines.append(f"{'':17} mix: {p['mix']}")
        if p["dialogue"] is not None:
            lines.append(f"{'':17} dlg: {p['dialogue']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, measure, print the table and optionally write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=Path("samples/sample_es.mp4"))
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    figures = measure(args.input)
    print(render(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
