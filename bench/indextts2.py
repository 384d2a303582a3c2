"""Speed of this project's IndexTTS-2 backend: seconds per stage, real-time factor and peak
memory, at the official settings and at the fast one, beside the official code's figures.

    python -m bench.indextts2 --checkpoints DIR [--reference WAV] [--text TEXT] [--codes 150]
        [--official-summary summary.json ...] [--device cpu|cuda] [--threads N] [--json PATH]

DIR is a folder laid out like the official release: the real weights, or the same
architecture at full size with random weights (the official parity harness writes one).
Random weights never choose to stop, so the GPT is held to exactly ``--codes`` codes
(150 = 3 s of speech): the same work for every setting and for the official code run with
``--max-mel-tokens`` set to the same number. Each setting runs in its own process, so its
peak memory (max RSS) is its own; the model is loaded once per process and a first line
warms it up, then the timed line runs. ``--official-summary`` takes the ``summary.json``
the official harness wrote (its ``times_s``), one per official run, and prints them in the
same rows. On a CUDA machine, fp16 rows are added (target there: RTF <= 0.2).

Targets: at official settings no slower than the official code; the fast setting at least
3x faster than the official code at its settings.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEXT = "Hello world, this is a parity test."
# The official harness's stages, summed into this benchmark's rows.
OFFICIAL_STAGES = {
    "speaker": ("ref.resample(torchaudio)", "ref.w2v_bert(get_emb)", "ref.semantic_codec.quantize", "ref.mel_22k",
                "ref.kaldi_fbank(torchaudio)", "ref.campplus", "gpt.merge_emovec(emo perceiver x2)"),
    "gpt generate": ("gpt.generate(inference_speech)",),
    "gpt latents": ("gpt.forward(latent)",),
    "mel (s2m)": ("s2m.gpt_layer", "s2m.length_regulator", "s2m.cfm(25 euler steps, cfg)"),
    "vocoder": ("vocoder.bigvgan",),
}
ROWS = ("speaker", "gpt generate", "gpt latents", "mel (s2m)", "vocoder")


def reference_clip(folder: Path) -> Path:
    """The official harness's 3 s reference: a gliding harmonic tone with noise, 22,050 Hz."""
    import numpy as np
    import soundfile as sf

    rate = 22050
    t = np.arange(int(rate * 3.0)) / rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    wave = 0.3 * wave / np.abs(wave).max() + 0.005 * np.random.default_rng(0).standard_normal(len(t))
    path = folder / "reference.wav"
    sf.write(str(path), wave.astype(np.float32), rate)
    return path


def one_setting(checkpoints: Path, reference: Path, text: str, codes: int, fast: bool, device: str, fp16: bool) -> dict:
    """Load, warm up on a short line, then time one line of exactly ``codes`` codes."""
    import dataclasses

    import torch

    from tts_core.backends.indextts2 import pipeline
    from tts_core.backends.indextts2.checkpoints import resolve

    settings = dataclasses.replace(pipeline.FAST if fast else pipeline.OFFICIAL, max_tokens=codes, fp16=fp16)
    started = time.perf_counter()
    model = pipeline.IndexTTS2(resolve(checkpoints, download=False), device=device, settings=settings)
    load = time.perf_counter() - started

    def line(n_codes: int) -> dict:
        times = {}

        def timed(name, fn, *args, **kwargs):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times[name] = times.get(name, 0.0) + time.perf_counter() - t0
            return out

        model._speakers.clear()
        model._emotion_features.clear()
        speaker = timed("speaker", model.speaker, reference)
        emovec = timed("speaker", model.emovec, speaker)  # the speaker's own emotion prompt
        text_ids = torch.tensor([model.segments(text)[0]], device=model.device)
        with torch.no_grad():
            generated = timed("gpt generate", model.gpt.generate, speaker.conditioning, text_ids, emovec,
                              num_beams=settings.num_beams, do_sample=settings.do_sample, top_k=settings.top_k,
                              top_p=settings.top_p, temperature=settings.temperature,
                              repetition_penalty=settings.repetition_penalty, length_penalty=settings.length_penalty,
                              max_tokens=n_codes)
            latent = timed("gpt latents", model.gpt.latents, speaker.conditioning, text_ids, generated, emovec)
        found = pipeline.Codes(codes=generated, latent=latent, emovec=emovec)
        frames = int(generated.shape[-1] * pipeline.FRAMES_PER_CODE)
        mel = timed("mel (s2m)", model.mel, found, speaker, frames)
        wave = timed("vocoder", model.waveform, mel)
        times["audio_s"] = len(wave) / 22050
        times["codes"] = int(generated.shape[-1])
        return times

    line(min(codes, 20))  # warm-up: first-call allocations and kernel choices
    times = line(codes)
    times["load_s"] = load
    times["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return times


def run_child(args, fast: bool, fp16: bool) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    command = [sys.executable, "-m", "bench.indextts2", "--checkpoints", str(args.checkpoints), "--reference",
               str(args.reference), "--text", args.text, "--codes", str(args.codes), "--device", args.device,
               "--threads", str(args.threads), "--_child", str(out)] + (["--fast"] if fast else []) \
        + (["--fp16"] if fp16 else [])
    subprocess.run(command, check=True)
    result = json.loads(out.read_text())
    out.unlink()
    return result


def official_row(summary: dict) -> dict:
    times = summary["times_s"]
    row = {name: sum(times.get(k, 0.0) for k in keys) for name, keys in OFFICIAL_STAGES.items()}
    row["audio_s"] = summary["output_seconds"]
    row["codes"] = summary["num_codes_generated"]
    row["total_s"] = times.get("infer.TOTAL", sum(row[name] for name in ROWS))
    return row


def render(columns: list[tuple[str, dict]], args) -> str:
    lines = [f"IndexTTS-2 speed, {args.codes} codes ({args.codes * 1.72 * 256 / 22050:.2f} s of speech) from a 3 s "
             f"reference, device {args.device}, {args.threads} thread(s)", "",
             "| stage (s) | " + " | ".join(name for name, _ in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for row in ROWS:
        lines.append(f"| {row} | " + " | ".join(f"{c.get(row, float('nan')):.2f}" for _, c in columns) + " |")
    for key, label, fmt in (("total_s", "total inference", "{:.2f}"), ("rtf", "RTF (inference / audio)", "{:.2f}"),
                            ("codes", "codes generated", "{:d}"), ("load_s", "load (s)", "{:.1f}"),
                            ("peak_rss_mb", "peak memory (MB)", "{:.0f}")):
        cells = [fmt.format(c[key]) if key in c else "n/a" for _, c in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.indextts2", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, required=True, help="IndexTTS-2 folder (official layout)")
    parser.add_argument("--reference", type=Path, help="speaker prompt [default: the harness's 3 s tone]")
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--codes", type=int, default=150, help="semantic codes per timed line (50 a second)")
    parser.add_argument("--official-summary", type=Path, action="append", default=[],
                        help="an official run's summary.json (repeatable)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fp16", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--_child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    if args._child:
        result = one_setting(args.checkpoints, args.reference, args.text, args.codes, args.fast, args.device, args.fp16)
        args._child.write_text(json.dumps(result))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        if args.reference is None:
            args.reference = reference_clip(Path(tmp))
        columns = []
        for summary in args.official_summary:
            data = json.loads(summary.read_text())
            beams = data.get("generation_kwargs", {}).get("num_beams", 3)
            columns.append((f"official ({beams} beam{'s' if beams != 1 else ''})", official_row(data)))
        settings = [("ours, official settings", False, False), ("ours, fast", True, False)]
        if args.device.startswith("cuda"):
            settings += [("ours, official, fp16", False, True), ("ours, fast, fp16", True, True)]
        for name, fast, fp16 in settings:
            print(f"running {name} ...", file=sys.stderr)
            columns.append((name, run_child(args, fast, fp16)))
    for _, column in columns:
        column.setdefault("total_s", sum(column.get(row, 0.0) for row in ROWS))
        column["rtf"] = column["total_s"] / column["audio_s"]
    print(render(columns, args))
    official = [c for name, c in columns if name.startswith("official (3")]
    ours = dict(columns)
    if official:
        base = official[0]["total_s"]
        mine, fast = ours["ours, official settings"]["total_s"], ours["ours, fast"]["total_s"]
        print(f"\nTargets: official settings no slower than the official code ({mine:.1f} s vs {base:.1f} s): "
              f"{'PASS' if mine <= base else 'FAIL'}; fast at least 3x faster ({base / fast:.1f}x): "
              f"{'PASS' if base / fast >= 3 else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps({name: c for name, c in columns}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
