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
from pipelines.media import decode_audio, probe, read_wav, resample, tool

ASR_RATE = 16_000


def info_fps(path: Path) -> float:
    """The picture's frame rate (25 when there is no picture)."""
    out = subprocess.run([tool("ffprobe"), "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=avg_frame_rate", "-of", "csv=p=0", str(path)], capture_output=True, text=True).stdout
    try:
        num, den = out.strip().split("/")
        return float(num) / float(den)
    except (ValueError, ZeroDivisionError):
        return 25.0


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


def ebur128(path: Path) -> tuple[float, float]:
    """ffmpeg's EBU R128 meter on the first audio stream: (integrated LUFS, true peak dBTP)."""
    err = subprocess.run([tool("ffmpeg"), "-nostdin", "-nostats", "-i", str(path), "-map", "0:a:0",
                          "-af", "ebur128=peak=true", "-f", "null", "-"], capture_output=True, text=True).stderr
    summary = err[err.rindex("Summary:"):]
    return float(summary.split("I:")[1].split("LUFS")[0]), float(summary.split("Peak:")[1].split("dBFS")[0])


def edge_jumps(stem: np.ndarray, rate: int, segments: list[dict]) -> tuple[float, float]:
    """Largest sample-to-sample jump within 1 ms of any line edge, and the 99.9th
    percentile of jumps anywhere in the dialogue (what speech itself does)."""
    jumps = np.abs(np.diff(stem))
    edges = [int(round(t * rate)) for s in segments for t in (s["start"], s["end"])]
    near = max((jumps[max(0, i - rate // 1000): i + rate // 1000].max(initial=0.0) for i in edges), default=0.0)
    return float(near), float(np.percentile(jumps[jumps > 0], 99.9))


def first_line_offset_ms(mix: np.ndarray, rate: int, line_audio: Path, start: float) -> float:
    """Where the first dubbed line really sits in the output, against its planned slot:
    cross-correlate the line's own audio with the decoded output around the slot."""
    from scipy.signal import correlate

    line, line_rate = read_wav(line_audio)
    line = resample(line, line_rate, rate)
    a = max(0, int((start - 0.2) * rate))
    window = mix[a: a + len(line) + int(0.4 * rate)]
    lag = int(np.argmax(correlate(window, line, mode="valid", method="fft")))
    return abs((a + lag) / rate - start) * 1000


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
        source_lufs, _ = ebur128(source)
        out_lufs, out_peak = ebur128(output)
        full_mix = decode_audio(output, 48_000, 1)
        offset_ms = first_line_offset_ms(full_mix, 48_000, Path(spoken[0]["audio"]), spoken[0]["start"]) \
            if spoken and spoken[0].get("audio") else None
        decoded_seconds = len(full_mix) / 48_000
        mix = decode_audio(output, ASR_RATE, 1)
        mix_hyps = transcribe_slots(mix, ASR_RATE, spoken)
        stem_path = dialogue_stem(work)
        stem_hyps = None
        jumps = None
        if stem_path is not None:
            stem, stem_rate = read_wav(stem_path)
            stem = stem if stem.ndim == 1 else stem.mean(axis=1)
            stem_hyps = transcribe_slots(stem, stem_rate, spoken)
            jumps = edge_jumps(stem, stem_rate, spoken)

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
        "decoded_audio_seconds": decoded_seconds, "fps": info_fps(source),
        "source_lufs": source_lufs, "output_lufs": out_lufs, "output_true_peak": out_peak,
        "edge_jump": jumps[0] if jumps else None, "speech_jump_p999": jumps[1] if jumps else None,
        "first_line_offset_ms": offset_ms,
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
        ["|decoded audio - video| (ms)", abs(m["decoded_audio_seconds"] - (m["output_video_seconds"] or 0)) * 1000,
         "<= 21.3 (1 AAC frame)",
         verdict(abs(m["decoded_audio_seconds"] - (m["output_video_seconds"] or 0)) <= 1024 / 48_000)],
        ["integrated loudness out / source (LUFS)", f"{m['output_lufs']:.1f} / {m['source_lufs']:.1f}",
         "within 0.5 LU", verdict(abs(m["output_lufs"] - m["source_lufs"]) <= 0.5)],
        ["true peak (dBTP)", m["output_true_peak"], "<= -1.0", verdict(m["output_true_peak"] <= -1.0)],
        ["max jump at a line edge / speech p99.9", f"{m['edge_jump']:.4f} / {m['speech_jump_p999']:.4f}",
         "edge <= speech", verdict(m["edge_jump"] is not None and m["edge_jump"] <= m["speech_jump_p999"])],
        ["first line offset vs slot (ms)", m["first_line_offset_ms"], f"<= {1000 / m['fps']:.0f} (1 frame)",
         verdict(m["first_line_offset_ms"] is not None and m["first_line_offset_ms"] <= 1000 / m["fps"])],
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
