"""Duration-controlled synthesis against what peer dubbing tools do, on one Piper voice.

    python -m bench.tts [--sentences N] [--scales 0.6,0.75,0.9,1.0,1.2,1.5] [--json PATH]

For each sentence of ``bench/sentences_en.txt`` and each duration scale s, the target is
T = s * L, with L the voice's natural length (``TTS.natural_duration``). Three ways to
get speech of length T from the same voice (the bundled Piper ``en_US-joe-medium``):

  A  this core: ``tts.synthesize(text, duration=T)`` (per-phoneme frame plan, one render)
  B  peers: natural synthesis, then ffmpeg ``atempo`` by natural/T (no pad or trim); a
     line that already fits (factor 1) is left alone, as a peer does: ``atempo=1`` is not
     an identity (its overlap-add rewrites the signal and drops 5-10 ms of the end)
  C  one-shot VITS ``length_scale = s`` on the original, un-split Piper ONNX export

Scored per (method, scale): duration error against T, DistillMOS (a speech-quality
predictor, 1..5), WER of Whisper base's transcription against the sentence, and the
real-time factor (synthesis wall time over audio length; B counts the natural synthesis,
writing its WAV and ffmpeg). A natural-speech row (scale 1.0, free length) gives the
reference MOS and WER. A against B also gets a 95 % interval for the difference in word
errors and in mean DistillMOS, from a paired bootstrap over sentences: another random draw
of the same voice at the same length moves the word errors by several of ~1,200, and the
interval says whether a difference is more than that. Markdown tables go to stdout,
progress to stderr.

DistillMOS (``pip install --no-deps distillmos xls-r-sqa``) imports torchaudio at module
level for its command line only; the model class needs torch alone, so a placeholder
module stands in for torchaudio while it is imported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench.common import edit_distance, normalize, table, transcribe, wer

SENTENCES = Path(__file__).with_name("sentences_en.txt")
DEFAULT_SCALES = (0.6, 0.75, 0.9, 1.0, 1.2, 1.5)
METHODS = {
    "A": "A core (duration=T)",
    "B": "B natural + atempo",
    "C": "C length_scale=s",
}
NATURAL = "natural (reference)"
NOISE_SCALE, NOISE_W = 0.667, 0.8  # the voice's own inference defaults
MOS_BATCH = 8
WER_FROM_SCALE = 0.75  # the WER target applies from this scale up
BOOTSTRAP_ROUNDS = 10_000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- numbers in Whisper's output ----------------------------------------------------------

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """English words for 0 <= n < 10**12 ("forty two", "one hundred", "two thousand five")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    for size, name in ((10**9, "billion"), (10**6, "million"), (10**3, "thousand")):
        if n >= size:
            rest = n % size
            return number_words(n // size) + " " + name + ("" if rest == 0 else " " + number_words(rest))
    raise ValueError(n)


_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
            "nine": "ninth", "twelve": "twelfth"}


def ordinal_words(n: int) -> str:
    words = number_words(n).split()
    last = words[-1]
    words[-1] = _ORDINAL.get(last) or (last[:-1] + "ieth" if last.endswith("y") else last + "th")
    return " ".join(words)


def spell_numbers(text: str) -> str:
    """Write digits as words, as the sentences do: Whisper writes "42", "$50", "7:00", "3rd"."""

    def clock(m: re.Match) -> str:
        hours, minutes = int(m.group(1)), int(m.group(2))
        return number_words(hours) + ("" if minutes == 0 else " " + number_words(minutes))

    def money(m: re.Match) -> str:
        amount = int(m.group(1).replace(",", ""))
        scale = m.group(2) or ""
        return f"{number_words(amount)}{scale} dollars"

    def ordinal(m: re.Match) -> str:
        return f" {ordinal_words(int(m.group(1)))} "

    def plain(m: re.Match) -> str:
        digits = m.group(0).replace(",", "")
        return f" {number_words(int(digits))} " if len(digits) <= 12 else m.group(0)

    text = re.sub(r"\b(\d{1,2}):(\d{2})\b", clock, text)
    text = re.sub(r"\$(\d[\d,]*)(\s+(?:thousand|million|billion))?(?:\s+dollars\b)?", money, text)
    text = re.sub(r"%", " percent", text)
    text = re.sub(r"\b(\d{1,9})(?:st|nd|rd|th)\b", ordinal, text)
    return re.sub(r"\d{1,3}(?:,\d{3})+|\d+", plain, text)


# --- DistillMOS -------------------------------------------------------------------------------


class DistillMOS:
    """DistillMOS v7 on 16 kHz audio, batched. Exactly the model's own forward pass:
    clips up to 7.68 s are zero-padded to that length (as ``forward`` does itself), so
    they can share a batch; longer clips go through one at a time."""

    def __init__(self):
        import torch

        placeholder = None
        try:
            import torchaudio  # noqa: F401
        except ImportError:
            placeholder = sys.modules["torchaudio"] = types.ModuleType("torchaudio")
        try:
            from distillmos import ConvTransformerSQAModel
            from distillmos import sqa
        except ImportError as exc:
            raise SystemExit(f"DistillMOS is not installed ({exc}): pip install --no-deps distillmos xls-r-sqa")
        finally:
            if placeholder is not None and sys.modules.get("torchaudio") is placeholder:
                del sys.modules["torchaudio"]
        with contextlib.redirect_stdout(sys.stderr):  # it prints where the weights came from
            self.model = ConvTransformerSQAModel().eval()
        self.torch = torch
        self.seq_len = sqa.SEQ_LEN

    def __call__(self, clips: list[np.ndarray]) -> list[float]:
        torch = self.torch
        scores: list[float] = [0.0] * len(clips)
        short = [i for i, c in enumerate(clips) if len(c) <= self.seq_len]
        with torch.inference_mode():
            for start in range(0, len(short), MOS_BATCH):
                idx = short[start:start + MOS_BATCH]
                batch = np.zeros((len(idx), self.seq_len), dtype=np.float32)
                for row, i in enumerate(idx):
                    batch[row, : len(clips[i])] = clips[i]
                out = self.model(torch.from_numpy(batch)).reshape(-1).tolist()
                for i, s in zip(idx, out):
                    scores[i] = float(s)
            for i, c in enumerate(clips):
                if len(c) > self.seq_len:
                    scores[i] = float(self.model(torch.from_numpy(c.astype(np.float32))[None]).reshape(-1)[0])
        return scores


# --- the three methods ----------------------------------------------------------------------


def atempo_chain(factor: float) -> str:
    """ffmpeg's atempo takes 0.5..2.0 per filter; chain filters for factors outside."""
    parts = []
    while factor > 2.0:
        parts.append(2.0)
        factor /= 2.0
    while factor < 0.5:
        parts.append(0.5)
        factor /= 0.5
    parts.append(factor)
    return ",".join(f"atempo={p:.6f}" for p in parts)


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"expected 16-bit PCM from ffmpeg, got {8 * w.getsampwidth()}-bit")
        sr, channels = w.getframerate(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    return data, sr


def ffmpeg_atempo(src: Path, dst: Path, factor: float) -> None:
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src),
           "-filter:a", atempo_chain(factor), "-c:a", "pcm_s16le", str(dst)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class LengthScalePiper:
    """The original Piper export (Ceil node intact, its own random draws) driven by
    ``scales = [noise_scale, length_scale, noise_w]``, fed the backend's phoneme ids."""

    def __init__(self, backend):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(backend.model_path), options, providers=["CPUExecutionProvider"])
        self.backend = backend

    def ids(self, text: str) -> np.ndarray:
        b = self.backend
        tokens = ["^", "_"]
        for s in b._symbols(text):
            tokens += [s, "_"]
        tokens.append("$")
        return np.array([[b.id_map[t][0] for t in tokens]], dtype=np.int64)

    def __call__(self, ids: np.ndarray, length_scale: float) -> np.ndarray:
        feeds = {
            "input": ids,
            "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
            "scales": np.array([NOISE_SCALE, length_scale, NOISE_W], dtype=np.float32),
        }
        return self.session.run(None, feeds)[0].reshape(-1).astype(np.float32)


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Case:
    sentence: int
    method: str  # A, B, C or "natural"
    scale: float
    target: float  # seconds
    duration: float  # seconds actually produced
    samples: int
    target_samples: int
    seconds: float  # synthesis wall time
    mos: float = float("nan")
    hypothesis: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def error_ms(self) -> float:
        return (self.duration - self.target) * 1000.0

    @property
    def rtf(self) -> float:
        return self.seconds / self.duration if self.duration > 0 else float("nan")


def pick(sentences: list[str], n: int | None) -> list[int]:
    """Indices of ``n`` sentences spread evenly over the file (all when n is None)."""
    total = len(sentences)
    if n is None or n >= total:
        return list(range(total))
    if n < 1:
        raise SystemExit("--sentences must be at least 1")
    return sorted({int(i * total / n) for i in range(n)})


def run(texts: list[str], indices: list[int], scales: list[float]) -> tuple[list[Case], dict]:
    from pipelines.media import resample
    from tts_core import TTS

    t_load = time.perf_counter()
    log("loading the Piper voice, the original export, Whisper base and DistillMOS ...")
    tts = TTS.from_pretrained("piper")
    backend = tts.backend
    sr, hop = tts.sample_rate, backend.hop_length
    one_shot = LengthScalePiper(backend)
    mos = DistillMOS()
    # Warm every path once so no method pays a first-call cost in its timings.
    warm = "Warming up the voice."
    tts.synthesize(warm, duration=1.0)
    tts.synthesize(warm)
    one_shot(one_shot.ids(warm), 1.0)
    transcribe(np.zeros(sr, dtype=np.float32), sr, "en")
    mos([np.zeros(16_000, dtype=np.float32)])
    log(f"loaded in {time.perf_counter() - t_load:.1f} s")

    cases: list[Case] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-tts-") as tmp_name:
        tmp = Path(tmp_name)
        for k, idx in enumerate(indices):
            text = texts[idx]
            natural_len = tts.natural_duration(text)
            mine: list[tuple[Case, np.ndarray]] = []

            # Natural synthesis: the reference row, and B's first step.
            t0 = time.perf_counter()
            nat = tts.synthesize(text)
            t_nat = time.perf_counter() - t0
            nat_wav = tmp / f"{idx}_natural.wav"
            t0 = time.perf_counter()
            write_wav(nat_wav, nat.samples, sr)
            t_write = time.perf_counter() - t0
            n_nat = len(nat.samples)
            mine.append((Case(idx, "natural", 1.0, natural_len, n_nat / sr, n_nat, int(round(natural_len * sr)),
                              t_nat), nat.samples))
            ids = one_shot.ids(text)

            for s in scales:
                target = s * natural_len
                want = int(round(target * sr))

                t0 = time.perf_counter()
                speech = tts.synthesize(text, duration=target)
                t_a = time.perf_counter() - t0
                a = speech.samples
                mine.append((Case(idx, "A", s, target, len(a) / sr, len(a), want, t_a,
                                  extra={"frames": speech.tokens, "within_bounds": speech.within_bounds}), a))

                factor = (n_nat / sr) / target
                if n_nat == want:  # it fits already: a peer does not stretch it
                    b, t_b = nat.samples, t_nat
                else:
                    out_wav = tmp / f"{idx}_{s}_atempo.wav"
                    t0 = time.perf_counter()
                    ffmpeg_atempo(nat_wav, out_wav, factor)
                    t_b = t_nat + t_write + (time.perf_counter() - t0)
                    b, b_sr = read_wav(out_wav)
                    if b_sr != sr:
                        raise RuntimeError(f"ffmpeg changed the sample rate: {b_sr}")
                    out_wav.unlink()
                mine.append((Case(idx, "B", s, target, len(b) / sr, len(b), want, t_b,
                                  extra={"atempo": factor, "stretched": n_nat != want}), b))

                t0 = time.perf_counter()
                c = one_shot(ids, s)
                t_c = time.perf_counter() - t0
                mine.append((Case(idx, "C", s, target, len(c) / sr, len(c), want, t_c,
                                  extra={"frames": len(c) // hop}), c))
            nat_wav.unlink()

            # Score this sentence's clips: Whisper one by one, DistillMOS in batches.
            for case, audio in mine:
                case.hypothesis = transcribe(audio, sr, "en")
            scores = mos([resample(audio, sr, 16_000) for _, audio in mine])
            for (case, _), score in zip(mine, scores):
                case.mos = score
                cases.append(case)

            done = k + 1
            elapsed = time.perf_counter() - started
            eta = elapsed / done * (len(indices) - done)
            a_err = max(abs(c.error_ms) for c, _ in mine if c.method == "A")
            log(f"[{done}/{len(indices)}] sentence {idx + 1}: L={natural_len:.2f} s, A max |err| {a_err:.3f} ms; "
                f"{elapsed:.0f} s elapsed, ~{eta:.0f} s left")

    meta = {
        "voice": backend.model_path.stem,
        "sample_rate": sr,
        "hop_length": hop,
        "frame_ms": hop / sr * 1000.0,
        "noise_scale": NOISE_SCALE,
        "noise_w": NOISE_W,
        "scoring_seconds": time.perf_counter() - started,
    }
    return cases, meta


# --- summaries --------------------------------------------------------------------------------


def word_errors(reference: str, hypothesis: str) -> int:
    """Word edits of one transcription, normalised as the corpus WER is."""
    return edit_distance(normalize(spell_numbers(reference)), normalize(spell_numbers(hypothesis)))


def paired_interval(a: list[float], b: list[float], rounds: int = BOOTSTRAP_ROUNDS,
                    seed: int = 0) -> tuple[float, float, float]:
    """A's minus B's total over the sentences, and its 95 % interval: resample the sentences
    with replacement (both methods' values on a sentence stay together)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if diff.size == 0:
        raise ValueError("no sentences to compare")
    rng = np.random.default_rng(seed)
    totals = diff[rng.integers(0, diff.size, size=(rounds, diff.size))].sum(axis=1)
    low, high = np.percentile(totals, [2.5, 97.5])
    return float(diff.sum()), float(low), float(high)


def compare(cases: list[Case], texts: list[str], scale: float) -> dict:
    """A against B at one scale, sentence by sentence: word errors (summed) and DistillMOS
    (averaged), each with its paired 95 % interval."""
    errors: dict[str, dict[int, int]] = {"A": {}, "B": {}}
    scores: dict[str, dict[int, float]] = {"A": {}, "B": {}}
    for c in cases:
        if c.method in errors and abs(c.scale - scale) < 1e-9:
            errors[c.method][c.sentence] = word_errors(texts[c.sentence], c.hypothesis)
            scores[c.method][c.sentence] = c.mos
    shared = sorted(set(errors["A"]) & set(errors["B"]))
    total, low, high = paired_interval([errors["A"][i] for i in shared], [errors["B"][i] for i in shared])
    mos, mos_low, mos_high = (v / len(shared) for v in
                              paired_interval([scores["A"][i] for i in shared], [scores["B"][i] for i in shared]))
    return {"sentences": len(shared),
            "wer_a_minus_b_errors": int(round(total)), "wer_interval_95": [low, high],
            "wer_differs": not (low <= 0.0 <= high),
            "mos_a_minus_b": mos, "mos_interval_95": [mos_low, mos_high],
            "mos_differs": not (mos_low <= 0.0 <= mos_high)}


def summarise(cases: list[Case], texts: list[str], frame_s: float) -> dict:
    """One summary per (method, scale), plus the natural reference."""
    groups: dict[tuple[str, float], list[Case]] = {}
    for c in cases:
        groups.setdefault((c.method, c.scale), []).append(c)
    out = {}
    for (method, scale), group in groups.items():
        err = np.array([abs(c.error_ms) for c in group])
        refs = [spell_numbers(texts[c.sentence]) for c in group]
        hyps = [spell_numbers(c.hypothesis) for c in group]
        total_audio = sum(c.duration for c in group)
        out[f"{method}@{scale:g}"] = {
            "method": method,
            "scale": scale,
            "n": len(group),
            "err_mean_ms": float(err.mean()),
            "err_p95_ms": float(np.percentile(err, 95)),
            "err_max_ms": float(err.max()),
            "signed_err_mean_ms": float(np.mean([c.error_ms for c in group])),
            "within_frame_pct": 100.0 * float(np.mean(err <= frame_s * 1000.0 + 1e-9)),
            "sample_exact_pct": 100.0 * float(np.mean([c.samples == c.target_samples for c in group])),
            "mos_mean": float(np.mean([c.mos for c in group])),
            "wer_pct": 100.0 * wer(refs, hyps),
            "rtf": float(sum(c.seconds for c in group) / total_audio),  # pooled: total time / total audio
            "rtf_max": float(max(c.rtf for c in group)),
        }
    return out


def report(summary: dict, scales: list[float], frame_ms: float, paired: dict) -> tuple[str, dict]:
    headers = ["method", "scale", "n", "err mean ms", "err p95 ms", "err max ms", "within 1 frame %",
               "DistillMOS", "WER %", "RTF"]
    rows = []
    for method in METHODS:
        for s in scales:
            r = summary[f"{method}@{s:g}"]
            rows.append([METHODS[method], f"{s:g}", r["n"], f"{r['err_mean_ms']:.2f}", f"{r['err_p95_ms']:.2f}",
                         f"{r['err_max_ms']:.2f}", f"{r['within_frame_pct']:.1f}", f"{r['mos_mean']:.3f}",
                         f"{r['wer_pct']:.2f}", f"{r['rtf']:.3f}"])
    nat = summary["natural@1"]
    rows.append([NATURAL, "1", nat["n"], "-", "-", "-", "-", f"{nat['mos_mean']:.3f}", f"{nat['wer_pct']:.2f}",
                 f"{nat['rtf']:.3f}"])
    lines = [table(headers, rows), ""]

    # A's exactness.
    a = [summary[f"A@{s:g}"] for s in scales]
    n_a = sum(r["n"] for r in a)
    within = sum(r["within_frame_pct"] * r["n"] for r in a) / (100.0 * n_a)
    exact = sum(r["sample_exact_pct"] * r["n"] for r in a) / (100.0 * n_a)
    lines.append(f"A: {100 * within:.1f}% of {n_a} cases within one frame ({frame_ms:.1f} ms), "
                 f"{100 * exact:.1f}% sample-exact; max |err| {max(r['err_max_ms'] for r in a):.3f} ms.")
    lines.append("")

    # A against B and C, scale by scale.
    cmp_headers = ["scale", "MOS A", "MOS B", "MOS C", "MOS A-B [95 % interval]", "WER A %", "WER B %", "WER C %",
                   "word errors A-B [95 % interval]"]
    cmp_rows = []
    for s in scales:
        ra, rb, rc = (summary[f"{m}@{s:g}"] for m in "ABC")
        pair = paired[f"{s:g}"]
        low, high = pair["wer_interval_95"]
        m_low, m_high = pair["mos_interval_95"]
        cmp_rows.append([f"{s:g}", f"{ra['mos_mean']:.3f}", f"{rb['mos_mean']:.3f}", f"{rc['mos_mean']:.3f}",
                         f"{pair['mos_a_minus_b']:+.3f} [{m_low:+.3f}, {m_high:+.3f}]", f"{ra['wer_pct']:.2f}",
                         f"{rb['wer_pct']:.2f}", f"{rc['wer_pct']:.2f}",
                         f"{pair['wer_a_minus_b_errors']:+d} [{low:+.0f}, {high:+.0f}]"])
    lines += [table(cmp_headers, cmp_rows), ""]

    # The targets.
    def verdict(a_val: float, b_val: float, higher_is_better: bool) -> str:
        if a_val == b_val:
            return "tie"
        return "win" if (a_val > b_val) == higher_is_better else "LOSS"

    # A win or a loss whose paired interval includes no difference is marked as such.
    def noise(s: float, verdicts: dict, key: str) -> str:
        return "" if verdicts[s] == "tie" or paired[f"{s:g}"][key] else " within noise"

    mos_v = {s: verdict(summary[f"A@{s:g}"]["mos_mean"], summary[f"B@{s:g}"]["mos_mean"], True) for s in scales}
    wer_scales = [s for s in scales if s >= WER_FROM_SCALE - 1e-9]
    wer_v = {s: verdict(summary[f"A@{s:g}"]["wer_pct"], summary[f"B@{s:g}"]["wer_pct"], False) for s in wer_scales}
    rtf_a = max(summary[f"A@{s:g}"]["rtf"] for s in scales)
    targets = {
        "A_within_one_frame_100pct": within == 1.0,
        "A_beats_B_mos_every_scale": all(v == "win" for v in mos_v.values()),
        "A_beats_B_wer_from_0.75": all(v == "win" for v in wer_v.values()),
        "A_rtf_le_0.1": rtf_a <= 0.1,
    }
    ok = lambda b: "met" if b else "NOT met"
    lines.append("Targets:")
    lines.append(f"- (A) |error| <= 1 frame for 100% of cases: {ok(targets['A_within_one_frame_100pct'])} "
                 f"({100 * within:.1f}%)")
    lines.append(f"- A beats B on DistillMOS at every scale: {ok(targets['A_beats_B_mos_every_scale'])} ("
                 + ", ".join(f"{s:g}: {v}{noise(s, mos_v, 'mos_differs')}" for s, v in mos_v.items()) + ")")
    lines.append(f"- A beats B on WER at every scale from {WER_FROM_SCALE:g} up: "
                 f"{ok(targets['A_beats_B_wer_from_0.75'])} ("
                 + ", ".join(f"{s:g}: {v}{noise(s, wer_v, 'wer_differs')}" for s, v in wer_v.items()) + ")")
    lines.append(f"- Piper RTF <= 0.1 (A, worst scale, pooled): {ok(targets['A_rtf_le_0.1'])} ({rtf_a:.3f})")
    return "\n".join(lines), targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=None, help="use N sentences spread over the file (default: all)")
    parser.add_argument("--scales", default=",".join(f"{s:g}" for s in DEFAULT_SCALES),
                        help="duration scales s; the target is s times the natural length")
    parser.add_argument("--json", type=Path, default=None, help="also write every number here")
    args = parser.parse_args(argv)
    try:
        scales = [float(x) for x in args.scales.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--scales: comma-separated numbers, got {args.scales!r}")
    if not scales or any(s <= 0 for s in scales):
        parser.error("--scales: give positive numbers")
    if shutil.which("ffmpeg") is None:
        parser.error("ffmpeg is not on PATH (method B needs it)")

    texts = [line.strip() for line in SENTENCES.read_text(encoding="utf-8").splitlines() if line.strip()]
    indices = pick(texts, args.sentences)
    log(f"{len(indices)} sentences x {len(scales)} scales x {len(METHODS)} methods (+ natural reference)")
    t_all = time.perf_counter()
    cases, meta = run(texts, indices, scales)
    frame_s = meta["hop_length"] / meta["sample_rate"]
    summary = summarise(cases, texts, frame_s)
    paired = {f"{s:g}": compare(cases, texts, s) for s in scales}
    text, targets = report(summary, scales, meta["frame_ms"], paired)
    wall = time.perf_counter() - t_all

    print(f"## Duration-controlled synthesis: {len(indices)} sentences, voice {meta['voice']}\n")
    print("T = scale x natural length. Error = produced length - T. A: tts.synthesize(duration=T). "
          "B: natural synthesis + ffmpeg atempo (none when it fits). C: VITS length_scale = scale (original export). "
          "RTF = synthesis wall time / audio length (B includes the natural synthesis and ffmpeg). "
          "WER: Whisper base, greedy, corpus level, digits spelled out.\n")
    print(text)
    log(f"done in {wall / 60:.1f} min")

    if args.json:
        ffmpeg_version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
        payload = {
            "config": {"sentences": len(indices), "scales": scales, "methods": METHODS, **meta,
                       "wall_seconds": wall, "ffmpeg": ffmpeg_version, "python": platform.python_version()},
            "summary": summary,
            "a_vs_b": paired,
            "targets": targets,
            "cases": [
                {**{k: v for k, v in asdict(c).items() if k != "extra"}, **c.extra, "text": texts[c.sentence],
                 "error_ms": c.error_ms, "rtf": c.rtf}
                for c in cases
            ],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
