"""End to end: this project's dub against the common peer approach, on the same lines.

    python -m bench.e2e [CLIP ...] [--json PATH]        (default clip: samples/sample_es.mp4)

Each clip is dubbed into English twice, on the same transcript and translation:

  A  this project as shipped: the real ``dub`` CLI run as a subprocess (cold, in a fresh
     work folder; model files already derived under the cache root count as installed).
     Wall time and the child's peak memory are measured; per-stage seconds come from its
     report.
  B  the peer approach, run as a subprocess of this module (``_peer``) on A's transcript
     and translation (each line's ``source_start``/``source_end`` and ``text`` from A's
     report): natural-length synthesis with the same default voice
     (``TTS.from_pretrained("piper").synthesize(text)``), ffmpeg ``atempo`` to the source
     slot capped at 1.4x (never slowed down), the overflow trimmed at the slot end, a plain
     ``amix`` (normalize=0) over the same separated background A used, no loudness
     normalisation or limiting, and a mux with the video stream copied. B's whole-dub
     time adds A's extract, separate, transcribe and translate seconds, which B reuses.

Scored for both: slot error per line, lines stretched or trimmed, words lost to trimming
(an estimate), WER of Whisper base on each dubbed line cut from the output (and from the
clean dubbed speech), DistillMOS of the clean dubbed speech per line, speaker similarity
(resemblyzer) to the source dialogue, loudness and true peak against the source (ffmpeg
ebur128), wall time per stage, real-time factor and peak memory. Every figure is
measured on this run; nothing is hard-coded. Markdown goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import normalize, table, transcribe, wer
from bench.foundation import ebur128
from bench.tts import DistillMOS, atempo_chain
from dubber.media import decode_audio, probe, read_wav, resample, tool

DEFAULT_CLIP = Path("samples/sample_es.mp4")
RATE = 48_000  # the mix rate of both dubs
ASR_RATE = 16_000
MAX_TEMPO = 1.4  # the peer approach's speed-up cap
REUSED_STAGES = ("extract", "separate", "transcribe", "translate")  # what B takes from A


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- running a child and measuring it ----------------------------------------------------------


def run_measured(cmd: list[str], what: str) -> tuple[float, float | None]:
    """Run ``cmd``; return (wall seconds, peak resident memory in MB or None).

    GNU time's %M gives the child's own peak; without it, RUSAGE_CHILDREN's ru_maxrss is
    read before and after (it only rises, so an unchanged value means "no more than")."""
    gnu_time = Path("/usr/bin/time")
    peak_file = None
    if gnu_time.is_file():
        fd, peak_file = tempfile.mkstemp(prefix="bench-e2e-rss-", suffix=".txt")
        os.close(fd)
        cmd = [str(gnu_time), "-f", "%M", "-o", peak_file] + cmd
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak_mb = None
    if peak_file:
        try:
            peak_mb = int(Path(peak_file).read_text().strip().splitlines()[-1]) / 1024
        except (ValueError, IndexError):
            peak_mb = None
        os.unlink(peak_file)
    if peak_mb is None and after > before:
        peak_mb = after / 1024  # KB on Linux
    if proc.returncode != 0:
        sys.exit(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return seconds, peak_mb


def only(pattern: str, root: Path) -> Path:
    found = sorted(root.glob(pattern), key=lambda p: p.stat().st_mtime)
    if not found:
        sys.exit(f"not found under the work folder: {pattern}")
    return found[-1]


# --- B: the peer approach (runs in its own process) ---------------------------------------------


def ffmpeg(args: list[str]) -> None:
    subprocess.run([tool("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True,
                   stdout=subprocess.DEVNULL)


def wav_seconds(path: Path) -> float:
    audio, rate = read_wav(path)
    return len(audio) / rate


def peer_dub(report_path: Path, background: Path, out_dir: Path) -> dict:
    """Natural TTS, atempo capped at 1.4x, trim at the slot end, plain amix, mux."""
    from tts_core import TTS

    report = json.loads(report_path.read_text())
    source = Path(report["input"])
    segments = [s for s in report["segments"] if not s.get("skipped")]
    out_dir.mkdir(parents=True, exist_ok=True)
    stages: dict[str, float] = {}

    t = time.perf_counter()
    tts = TTS.from_pretrained("piper")
    raw = []
    for i, seg in enumerate(segments):
        speech = tts.synthesize(seg["text"])
        raw.append((speech.save(out_dir / f"raw_{i:03d}.wav"), speech.duration))
    stages["tts"] = time.perf_counter() - t

    t = time.perf_counter()
    lines = []
    for i, (seg, (path, natural)) in enumerate(zip(segments, raw)):
        slot = seg["source_end"] - seg["source_start"]
        tempo = min(natural / slot, MAX_TEMPO) if natural > slot else 1.0
        fitted = out_dir / f"tempo_{i:03d}.wav"
        chain = (atempo_chain(tempo) + ",") if tempo != 1.0 else ""
        ffmpeg(["-i", str(path), "-af", f"{chain}aresample={RATE}", "-c:a", "pcm_s16le", str(fitted)])
        stretched = wav_seconds(fitted)
        placed_path = fitted
        if stretched > slot:  # still overflowing at 1.4x: cut at the slot end
            placed_path = out_dir / f"line_{i:03d}.wav"
            ffmpeg(["-i", str(fitted), "-af", f"atrim=end_sample={int(round(slot * RATE))}", "-c:a", "pcm_s16le",
                    str(placed_path)])
        placed = wav_seconds(placed_path)
        lines.append({"index": seg.get("index", i), "text": seg["text"], "start": seg["source_start"],
                      "end": seg["source_end"], "natural": natural, "tempo": tempo, "stretched": stretched,
                      "placed": placed, "trimmed": max(0.0, stretched - placed), "audio": str(placed_path)})
    stages["atempo_trim"] = time.perf_counter() - t

    t = time.perf_counter()
    mix = out_dir / "mix.wav"
    inputs = ["-i", str(background)]
    graph = []
    for k, line in enumerate(lines, 1):
        inputs += ["-i", line["audio"]]
        graph.append(f"[{k}:a]adelay={int(round(line['start'] * RATE))}S:all=1[l{k}]")
    labels = "[0:a]" + "".join(f"[l{k}]" for k in range(1, len(lines) + 1))
    graph.append(f"{labels}amix=inputs={len(lines) + 1}:duration=first:dropout_transition=0:normalize=0[out]")
    ffmpeg([*inputs, "-filter_complex", ";".join(graph), "-map", "[out]", "-ar", str(RATE), "-c:a", "pcm_s16le",
            str(mix)])
    stages["mix"] = time.perf_counter() - t

    t = time.perf_counter()
    output = out_dir / f"B{source.suffix or '.mp4'}"
    ffmpeg(["-i", str(source), "-i", str(mix), "-map", "0:v?", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac",
            "-b:a", "192k", str(output)])
    stages["mux"] = time.perf_counter() - t
    result = {"output": str(output), "mix": str(mix), "stages": stages, "lines": lines}
    (out_dir / "peer.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


# --- scoring -----------------------------------------------------------------------------------


def stats_ms(errors: list[float]) -> dict:
    if not errors:
        return {"mean": 0.0, "p95": 0.0, "max": 0.0, "all": []}
    a = np.asarray(errors)
    return {"mean": float(a.mean()), "p95": float(np.percentile(a, 95)), "max": float(a.max()), "all": errors}


def cut(audio: np.ndarray, rate: int, start: float, end: float) -> np.ndarray:
    return audio[int(round(start * rate)): int(round(end * rate))]


def words_lost(text: str, kept_fraction: float) -> int:
    words = len(normalize(text))
    return int(round(words * (1.0 - kept_fraction)))


def score_side(name: str, lines: list[dict], output: Path, clean_rate: int,
               source_embedding: np.ndarray, mos: DistillMOS) -> dict:
    """``lines``: start, end (the slot the line is judged against), placed (seconds of speech
    placed), tempo, trimmed (seconds cut), text, clean (the line's clean speech)."""
    from tts_core.voice import embed, similarity

    log(f"scoring {name} ...")
    errors = [abs(ln["placed"] - (ln["end"] - ln["start"])) * 1000 for ln in lines]
    refs = [ln["text"] for ln in lines]
    mix = decode_audio(output, ASR_RATE, 1)
    mix_hyps = [transcribe(c, ASR_RATE, "en") if len(c) else "" for c in
                (cut(mix, ASR_RATE, ln["start"], ln["end"]) for ln in lines)]
    clean_hyps = [transcribe(ln["clean"], clean_rate, "en") if len(ln["clean"]) else "" for ln in lines]
    mos_scores = mos([resample(ln["clean"], clean_rate, ASR_RATE) for ln in lines])
    speech = np.concatenate([ln["clean"] for ln in lines]) if lines else np.zeros(clean_rate, np.float32)
    whole_sim = similarity(embed(speech, clean_rate), source_embedding)
    line_sims = [similarity(embed(ln["clean"], clean_rate), source_embedding) for ln in lines]
    lufs, peak = ebur128(output)
    lost = [words_lost(ln["text"], 1.0 - ln["trimmed"] / (ln["placed"] + ln["trimmed"]))
            if ln["trimmed"] > 0 else 0 for ln in lines]
    return {
        "slot_error_ms": stats_ms(errors),
        "lines": len(lines),
        "stretched": sum(1 for ln in lines if ln["tempo"] != 1.0),
        "trimmed": sum(1 for ln in lines if ln["trimmed"] > 0),
        "tempos": [ln["tempo"] for ln in lines],
        "trimmed_seconds": [ln["trimmed"] for ln in lines],
        "words_lost": int(sum(lost)), "words_total": int(sum(len(normalize(t)) for t in refs)),
        "wer_mix": wer(refs, mix_hyps), "wer_clean": wer(refs, clean_hyps),
        "mos": mos_scores, "mos_mean": float(np.mean(mos_scores)) if mos_scores else float("nan"),
        "similarity": whole_sim, "similarity_lines": line_sims,
        "similarity_line_mean": float(np.mean(line_sims)) if line_sims else float("nan"),
        "lufs": lufs, "true_peak": peak,
        "source_slot_gap_ms": [abs(ln["placed"] - (ln["source_end"] - ln["source_start"])) * 1000 for ln in lines],
        "pairs": [{"start": ln["start"], "end": ln["end"], "reference": r, "mix": h, "clean": c}
                  for ln, r, h, c in zip(lines, refs, mix_hyps, clean_hyps)],
    }


def measure(clip: Path, mos: DistillMOS) -> dict:
    from tts_core.voice import embed

    info = probe(clip)
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp_name:
        tmp = Path(tmp_name)
        work, stems, out_a, report_path = tmp / "W", tmp / "stems", tmp / f"A{clip.suffix or '.mp4'}", tmp / "A.json"
        work.mkdir()
        log(f"A: dubbing {clip} with the dub CLI (cold work folder) ...")
        a_wall, a_peak = run_measured([sys.executable, "-m", "dubber.cli", str(clip), "--lang", "en", "-o", str(out_a),
                                       "--report", str(report_path), "--work-dir", str(work), "--stems", str(stems),
                                       "-q"], "dub (A)")
        report = json.loads(report_path.read_text())
        background = only("separate/*/background.wav", work)
        source_dialogue = only("separate/*/dialogue.wav", work)
        log(f"A done in {a_wall:.1f} s; B: the peer approach on A's lines ...")
        b_dir = tmp / "B"
        b_wall, b_peak = run_measured([sys.executable, "-m", "bench.e2e", "_peer", str(report_path), str(background),
                                       str(b_dir)], "peer dub (B)")
        peer = json.loads((b_dir / "peer.json").read_text())
        log(f"B done in {b_wall:.1f} s")

        segments = [s for s in report["segments"] if not s.get("skipped")]
        # The source speaker: the separated dialogue over the source slots.
        src, src_rate = read_wav(source_dialogue)
        src = src if src.ndim == 1 else src.mean(axis=1)
        source_embedding = embed(np.concatenate([cut(src, src_rate, s["source_start"], s["source_end"])
                                                 for s in segments]), src_rate)

        stem, stem_rate = read_wav(stems / "dialogue.wav")
        stem = stem if stem.ndim == 1 else stem.mean(axis=1)
        a_lines = []
        for s in segments:
            placed = wav_seconds(Path(s["audio"])) if s.get("audio") and Path(s["audio"]).is_file() \
                else s["audio_duration"]
            a_lines.append({"start": s["start"], "end": s["end"], "source_start": s["source_start"],
                            "source_end": s["source_end"], "placed": placed, "tempo": s.get("tempo", 1.0),
                            "trimmed": 0.0, "text": s["text"], "clean": cut(stem, stem_rate, s["start"], s["end"])})
        b_lines = []
        for s, ln in zip(segments, peer["lines"]):
            audio, rate = read_wav(ln["audio"])
            b_lines.append({**ln, "source_start": s["source_start"], "source_end": s["source_end"],
                            "clean": resample(audio, rate, stem_rate)})
        a = score_side("A", a_lines, out_a, stem_rate, source_embedding, mos)
        # Info: A's line WAVs as synthesised, before the mix's voice gain (level is not what differs).
        raw = [read_wav(s["audio"]) for s in segments if s.get("audio") and Path(s["audio"]).is_file()]
        a["mos_line_wavs"] = mos([resample(x if x.ndim == 1 else x.mean(axis=1), r, ASR_RATE) for x, r in raw]) \
            if len(raw) == len(segments) else []
        b = score_side("B", b_lines, Path(peer["output"]), stem_rate, source_embedding, mos)
        source_lufs, source_peak = ebur128(clip)

    reused = {k: report["stages"].get(k, 0.0) for k in REUSED_STAGES}
    b_whole = b_wall + sum(reused.values())
    return {
        "input": str(clip), "duration": info.duration, "lines": len(segments),
        "source_lufs": source_lufs, "source_true_peak": source_peak,
        "mix_report": report.get("mix", {}),
        "A": {**a, "wall_seconds": a_wall, "stages": report["stages"], "peak_mb": a_peak,
              "whole_seconds": a_wall, "rtf": a_wall / info.duration,
              "fit": [s.get("fit") for s in segments]},
        "B": {**b, "own_wall_seconds": b_wall, "stages": {**reused, **peer["stages"]}, "peak_mb": b_peak,
              "reused_seconds": sum(reused.values()), "whole_seconds": b_whole, "rtf": b_whole / info.duration},
    }


# --- the table ----------------------------------------------------------------------------------


def better(a: float | None, b: float | None, lower: bool = True, tol: float = 1e-9) -> str:
    if a is None or b is None or (isinstance(a, float) and np.isnan(a)) or (isinstance(b, float) and np.isnan(b)):
        return ""
    if abs(a - b) <= tol:
        return "tie"
    return ("A" if a < b else "B") if lower else ("A" if a > b else "B")


def render(m: dict) -> str:
    A, B = m["A"], m["B"]
    rows = []

    def row(label, a, b, lower=True, fmt="{:.1f}", tol=1e-9, key_a=None, key_b=None):
        fa = fmt.format(a) if a is not None else "n/a"
        fb = fmt.format(b) if b is not None else "n/a"
        rows.append([label, fa, fb, better(key_a if key_a is not None else a, key_b if key_b is not None else b,
                                           lower, tol) if lower is not None else ""])

    n = m["lines"]
    for k in ("mean", "p95", "max"):
        row(f"slot error {k} (ms; A planned slot, B source slot)", A["slot_error_ms"][k], B["slot_error_ms"][k],
            tol=0.05)
    row("|speech - source slot| mean (ms, info: A shortens slots on purpose)",
        float(np.mean(A["source_slot_gap_ms"])), float(np.mean(B["source_slot_gap_ms"])), lower=None)
    row(f"lines stretched (tempo != 1) of {n}", A["stretched"], B["stretched"], fmt="{}")
    row(f"lines trimmed of {n}", A["trimmed"], B["trimmed"], fmt="{}")
    row(f"spoken words lost to trimming (est., of {A['words_total']})", A["words_lost"], B["words_lost"], fmt="{}")
    row("WER, each line cut from the output mix", 100 * A["wer_mix"], 100 * B["wer_mix"], fmt="{:.1f}%", tol=0.05)
    row("WER, each line of clean dubbed speech", 100 * A["wer_clean"], 100 * B["wer_clean"], fmt="{:.1f}%",
        tol=0.05)
    row("DistillMOS, clean dubbed speech per line (mean)", A["mos_mean"], B["mos_mean"], lower=False, fmt="{:.2f}",
        tol=0.005)
    if A.get("mos_line_wavs"):
        row("  DistillMOS, A's line WAVs before the mix (info)", float(np.mean(A["mos_line_wavs"])), None,
            lower=None, fmt="{:.2f}")
    row("speaker similarity to source dialogue (all lines)", A["similarity"], B["similarity"], lower=False,
        fmt="{:.3f}", tol=0.0005)
    row("speaker similarity, per-line mean", A["similarity_line_mean"], B["similarity_line_mean"], lower=False,
        fmt="{:.3f}", tol=0.0005)
    src = m["source_lufs"]
    row(f"integrated loudness (LUFS; source {src:.1f})", A["lufs"], B["lufs"], fmt="{:.1f}", tol=0.05,
        key_a=abs(A["lufs"] - src), key_b=abs(B["lufs"] - src))
    row(f"true peak (dBTP; source {m['source_true_peak']:.1f}; <= -1 is safe)", A["true_peak"], B["true_peak"],
        fmt="{:.1f}", tol=0.05, key_a=max(A["true_peak"], -1.0), key_b=max(B["true_peak"], -1.0))
    for name in REUSED_STAGES:
        row(f"  stage {name} (s; B reuses A's)", A["stages"].get(name, 0.0), B["stages"].get(name, 0.0),
            lower=None, fmt="{:.2f}")
    for name in ("synthesize", "remix", "mux"):
        if name in A["stages"]:
            rows.append([f"  stage {name} (s, A)", f"{A['stages'][name]:.2f}", "", ""])
    for name in ("tts", "atempo_trim", "mix", "mux"):
        rows.append([f"  stage {name} (s, B)", "", f"{B['stages'][name]:.2f}", ""])
    row("B's own process wall time (s; load + TTS + atempo + mix + mux)", None, B["own_wall_seconds"], lower=None,
        fmt="{:.2f}")
    row("whole-dub wall time (s)", A["whole_seconds"], B["whole_seconds"], fmt="{:.1f}", tol=0.05)
    row(f"real-time factor (whole dub / {m['duration']:.2f} s clip)", A["rtf"], B["rtf"], fmt="{:.2f}", tol=0.005)
    row("peak memory (MB; A whole CLI, B its own steps only)", A["peak_mb"], B["peak_mb"], lower=None,
        fmt="{:.0f}")
    return table(["metric", "A (this project)", "B (peer: natural TTS + atempo<=1.4 + trim + amix)", "better"], rows)


def targets(m: dict) -> list[str]:
    A, B = m["A"], m["B"]

    def verdict(a, b, lower=True, tol=1e-9):
        w = better(a, b, lower, tol)
        return {"A": "PASS", "tie": "TIE (not better)", "B": "FAIL"}.get(w, "n/a")

    return [
        f"- A better than B on mean slot error: {verdict(A['slot_error_ms']['mean'], B['slot_error_ms']['mean'], tol=0.05)}",
        f"- A better than B on words lost: {verdict(A['words_lost'], B['words_lost'])}",
        f"- A better than B on WER (output mix): {verdict(A['wer_mix'], B['wer_mix'], tol=0.0005)}",
        f"- A better than B on DistillMOS: {verdict(A['mos_mean'], B['mos_mean'], lower=False, tol=0.005)}",
        f"- A's whole-dub RTF <= 1.0 on this CPU: {'PASS' if A['rtf'] <= 1.0 else 'FAIL'} ({A['rtf']:.2f})",
    ] + ([f"  (on this clip B trims no line: no line overflows its source slot even at 1.4x, so words lost "
          f"cannot separate A from B here; B stretched {B['stretched']} of {m['lines']} lines)"]
         if B["trimmed"] == 0 else [])


def heard(m: dict) -> list[str]:
    out = ["What was heard per line (Whisper base, output mix):"]
    for i, (pa, pb) in enumerate(zip(m["A"]["pairs"], m["B"]["pairs"])):
        out.append(f"{i:2d} ref: {pa['reference']}")
        out.append(f"{'':3}A [{pa['start']:6.2f}-{pa['end']:6.2f}]: {pa['mix']}")
        out.append(f"{'':3}B [{pb['start']:6.2f}-{pb['end']:6.2f}]: {pb['mix']}")
    return out


CAVEATS = """Caveats:
- Words lost to trimming is an estimate: round(words x fraction of the stretched line cut away), assuming
  words are spread evenly over the line; nothing is transcribed from the cut-off tail.
- Slot error is judged against each side's own slot: A's planned slot (the planner may shorten a long source
  slot to the slowest comfortable pace, leaving silence), B's source slot. B never slows down, so a line
  shorter than its slot counts its shortfall as slot error; the info row compares both against the source slot.
- B reuses A's transcript, translation and separated background, so its whole-dub time adds A's extract,
  separate, transcribe and translate seconds; its peak memory covers only its own steps (ASR and separation
  would add A's). Peak memory is GNU time's maximum RSS of each child (or RUSAGE_CHILDREN without it).
- The machine is shared (other jobs run on the same cores): wall times and RTF vary from run to run.
- DistillMOS and WER come from models (DistillMOS v7, Whisper base), not listeners; one clip of few lines
  gives coarse figures. The same Piper voice speaks both dubs, so speaker similarity mostly reflects the voice,
  not the method."""


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_peer"]:  # internal: B in its own process, so it is timed and measured alone
        peer_dub(Path(argv[1]), Path(argv[2]), Path(argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", type=Path, default=[DEFAULT_CLIP], metavar="CLIP")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    mos = DistillMOS()
    results = []
    for clip in args.clips:
        if not clip.is_file():
            sys.exit(f"no such clip: {clip}")
        m = measure(clip, mos)
        results.append(m)
        print(f"{m['input']} ({m['duration']:.2f} s, {m['lines']} lines) · {os.cpu_count()} CPUs · "
              f"{platform.processor() or platform.machine()} · {datetime.datetime.now().isoformat(timespec='seconds')}")
        print()
        print(render(m))
        print()
        print("Targets:")
        print("\n".join(targets(m)))
        print()
        print("\n".join(heard(m)))
        print()
    print(CAVEATS)
    bench_seconds = time.perf_counter() - started
    log(f"bench ran in {bench_seconds:.0f} s")
    if args.json:
        doc = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpus": os.cpu_count(),
               "machine": platform.machine(), "bench_seconds": bench_seconds, "clips": results}
        args.json.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=float) + "\n")


if __name__ == "__main__":
    main()
