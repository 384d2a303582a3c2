"""Parity of this project's IndexTTS-2 with the official code, tensor by tensor.

    python -m bench.indextts2_parity --checkpoints DIR --reference WAV --text TEXT \\
        --official-trace OFFICIAL.pt --out OURS.pt [--max-tokens 100]

DIR is a folder laid out like the official release (with ``hf_cache/``), WAV the speaker
prompt and OFFICIAL.pt the trace the official ``infer_v2.py`` left on the same inputs with
deterministic decoding (top-k 1, one beam): a dict of named intermediate tensors. This runs
the project's backend on the same inputs with the same decoding, taking the flow-matching
start noise from the official trace (the two codes draw their random numbers in a
different order), writes its own trace under the same names and prints one row per tensor:
its max absolute difference against the official tensor's scale (max |x|), and whether
the generated codes are identical.

Targets: codes identical; every float tensor within 1e-3 of its scale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

TOLERANCE = 1e-3  # of the official tensor's scale


def run(checkpoints: Path, reference: Path, text: str, official: dict, max_tokens: int, device: str = "cpu") -> dict:
    import torch

    from tts_core.backends.indextts2 import pipeline
    from tts_core.backends.indextts2.checkpoints import resolve

    settings = pipeline.Settings(num_beams=1, do_sample=True, top_k=1, max_tokens=max_tokens)
    model = pipeline.IndexTTS2(resolve(checkpoints, download=False), device=device, settings=settings)
    model.trace = {}
    with torch.no_grad():
        speaker = model.speaker(reference)
        emovec = model.emovec(speaker)
        found = model.codes(text, speaker, emovec)
        frames = int(found.codes.shape[-1] * pipeline.FRAMES_PER_CODE)
        noise = official.get("cfm_noise_z")
        mel = model.mel(found, speaker, frames, noise=None if noise is None else noise.to(model.device))
        model.waveform(mel)
    return model.trace


def compare(official: dict, ours: dict) -> list[dict]:
    import torch

    rows = []
    for name in sorted(official):
        theirs = official[name]
        if not isinstance(theirs, torch.Tensor):
            continue
        row = {"name": name, "shape": tuple(theirs.shape)}
        mine = ours.get(name)
        if mine is None:
            row.update(status="missing")
        elif tuple(mine.shape) != tuple(theirs.shape):
            row.update(status=f"shape {tuple(mine.shape)}")
        elif not theirs.is_floating_point():
            same = bool(torch.equal(mine.to(theirs.dtype), theirs))
            row.update(status="identical" if same else "DIFFERENT",
                       differ=int((mine.to(theirs.dtype) != theirs).sum()), ok=same)
        else:
            diff = float((mine.double() - theirs.double()).abs().max())
            scale = float(theirs.double().abs().max()) or 1.0
            row.update(diff=diff, scale=scale, relative=diff / scale, ok=diff <= TOLERANCE * scale,
                       status="ok" if diff <= TOLERANCE * scale else "over")
        row.setdefault("ok", False)
        rows.append(row)
    return rows


def render(rows: list[dict], text: str) -> str:
    lines = [f"IndexTTS-2 parity, text {text!r}", "",
             "| tensor | shape | max abs diff | scale | diff / scale | result |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "diff" in r:
            lines.append(f"| {r['name']} | {r['shape']} | {r['diff']:.3g} | {r['scale']:.3g} | "
                         f"{r['relative']:.2e} | {r['status']} |")
        else:
            extra = f" ({r['differ']} differ)" if r.get("differ") else ""
            lines.append(f"| {r['name']} | {r['shape']} | | | | {r['status']}{extra} |")
    passed = all(r["ok"] for r in rows)
    lines += ["", f"Target (codes identical, every float tensor within {TOLERANCE:g} of its scale): "
              + ("PASS" if passed else "FAIL")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.indextts2_parity", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, required=True, help="IndexTTS-2 folder (official layout)")
    parser.add_argument("--reference", type=Path, required=True, help="speaker prompt WAV")
    parser.add_argument("--text", required=True)
    parser.add_argument("--official-trace", type=Path, required=True, help="the official run's trace (.pt)")
    parser.add_argument("--out", type=Path, required=True, help="where to write this project's trace (.pt)")
    parser.add_argument("--max-tokens", type=int, default=100, help="the official run's --max-mel-tokens")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 gives reproducible sums)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    official = torch.load(args.official_trace, map_location="cpu", weights_only=False)
    ours = run(args.checkpoints, args.reference, args.text, official, args.max_tokens)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ours, args.out)
    rows = compare(official, ours)
    print(render(rows, args.text))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
