"""Speech squeezed to a faster pace as it is generated, against the same speech sped up afterwards.

    python -m bench.pace [--backend kokoro] [--lang es] [--sentences N] [--paces 1.2,1.4] [--json PATH]

For each sentence of ``bench/sentences_<lang>.txt`` (the 60 Spanish ones were written for
this benchmark: everyday dialogue, no digits, abbreviations or names), the voice first says
it at its own pace (``tts.synthesize(text)``). L is the length of that rendition's speech,
without the silence the model puts around it (``tts_core.silence.speech_span``). For each
pace p the slot is T = L / p, and two ways fill it:

  A  this core: ``tts.synthesize(text, duration=T)``
  B  peers: the natural rendition cut to its speech, sped up with ffmpeg ``atempo`` by
     (speech length / T), then padded or trimmed by the last few ms to T exactly

Scored per pace: Whisper base WER in the sentences' language (the natural rendition too),
A minus B in word errors with a paired bootstrap 95 % interval over sentences, A's silence
before and after its speech, A's duration error and its synthesis seconds per line. Only
the public API is used, so a checkout from before a change can run this same file to give
the "before". A Markdown table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.common import normalize, table, transcribe, wer
from bench.tts import ffmpeg_atempo, paired_interval, pick, read_wav, spell_numbers, word_errors, write_wav
from tts_core.silence import edge_silence, speech_span

DEFAULT_PACES = (1.2, 1.4)
WARM_TEXT = "Una frase para calentar."


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sentences_path(lang: str) -> Path:
    return Path(__file__).with_name(f"sentences_{lang}.txt")


def load_sentences(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --- the peers' way (B) -------------------------------------------------------------------------


def fit_length(audio: np.ndarray, samples: int) -> np.ndarray:
    """Zeros added to, or samples cut from, the end: atempo misses the length by a few ms."""
    out = np.zeros(samples, dtype=np.float32)
    out[: min(samples, len(audio))] = audio[:samples]
    return out


def peer_fit(audio: np.ndarray, sample_rate: int, target: float) -> np.ndarray:
    """The speech span of ``audio`` sped up by ffmpeg atempo so it lasts ``target`` seconds.
    The model's edge silence is cut first: a peer that kept it would need a higher factor
    for the same words and lose to A on that alone."""
    span = speech_span(audio, sample_rate)
    if span is None:
        raise ValueError("no speech to speed up")
    speech = audio[span[0]:span[1]]
    want = int(round(target * sample_rate))
    if len(speech) == want:  # it fits already; atempo=1 would still rewrite the signal
        return fit_length(speech, want)
    factor = (len(speech) / sample_rate) / target
    with tempfile.TemporaryDirectory(prefix="bench-pace-") as tmp_name:
        src, dst = Path(tmp_name) / "speech.wav", Path(tmp_name) / "fast.wav"
        write_wav(src, speech, sample_rate)
        ffmpeg_atempo(src, dst, factor)
        fast, rate = read_wav(dst)
    if rate != sample_rate:
        raise RuntimeError(f"ffmpeg changed the sample rate: {rate}")
    return fit_length(fast, want)


# --- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    sentence: int
    method: str  # "natural", "A" or "B"
    pace: float  # 1 for the natural rendition
    target: float  # seconds asked for (natural: what it came out as)
    duration: float  # seconds produced
    seconds: float  # wall time to make it (B: ffmpeg only, the natural synthesis is shared)
    lead: float  # seconds of silence before the speech
    tail: float  # and after it
    hypothesis: str

    @property
    def error_ms(self) -> float:
        return (self.duration - self.target) * 1000.0


def clip(sentence: int, method: str, pace: float, target: float, audio: np.ndarray, rate: int, seconds: float,
         lang: str) -> Clip:
    lead, tail = edge_silence(audio, rate)
    return Clip(sentence, method, pace, target, len(audio) / rate, seconds, lead, tail,
                transcribe(audio, rate, lang))


def run(backend: str, lang: str, texts: list[str], indices: list[int], paces: list[float]) -> tuple[list[Clip], dict]:
    from tts_core import TTS

    t_load = time.perf_counter()
    log(f"loading {backend} ({lang}) and Whisper base ...")
    tts = TTS.from_pretrained(backend, lang=lang)
    # Warm both synthesis paths and Whisper so the first line pays no first-call cost.
    warm = tts.synthesize(WARM_TEXT)
    tts.synthesize(WARM_TEXT, duration=0.8 * warm.duration)
    transcribe(np.zeros(warm.sample_rate, dtype=np.float32), warm.sample_rate, lang)
    log(f"loaded in {time.perf_counter() - t_load:.1f} s")

    clips: list[Clip] = []
    started = time.perf_counter()
    for k, idx in enumerate(indices):
        text = texts[idx]
        t0 = time.perf_counter()
        natural = tts.synthesize(text)
        t_nat = time.perf_counter() - t0
        rate = natural.sample_rate
        span = speech_span(natural.samples, rate)
        if span is None:
            raise RuntimeError(f"sentence {idx + 1}: the natural rendition is silent")
        speech_len = (span[1] - span[0]) / rate
        mine = [clip(idx, "natural", 1.0, natural.duration, natural.samples, rate, t_nat, lang)]
        for p in paces:
            target = speech_len / p
            # The natural rendition ran first, so whatever text analysis the core caches is
            # shared; A's seconds are the rendering at the new length.
            t0 = time.perf_counter()
            a = tts.synthesize(text, duration=target)
            t_a = time.perf_counter() - t0
            mine.append(clip(idx, "A", p, target, a.samples, a.sample_rate, t_a, lang))
            t0 = time.perf_counter()
            b = peer_fit(natural.samples, rate, target)
            mine.append(clip(idx, "B", p, target, b, rate, time.perf_counter() - t0, lang))
        clips += mine

        done, elapsed = k + 1, time.perf_counter() - started
        errors = " ".join(f"{c.method}{'' if c.method == 'natural' else f'@{c.pace:g}'}="
                          f"{word_errors(text, c.hypothesis)}" for c in mine)
        a_err = max(abs(c.error_ms) for c in mine if c.method == "A")
        log(f"[{done}/{len(indices)}] sentence {idx + 1}: L={speech_len:.2f} s, word errors {errors}, "
            f"A max |err| {a_err:.3f} ms; ~{elapsed / done * (len(indices) - done):.0f} s left")

    meta = {"backend": backend, "lang": lang, "sample_rate": tts.sample_rate,
            "scoring_seconds": time.perf_counter() - started}
    return clips, meta


# --- summaries --------------------------------------------------------------------------------


def corpus_wer(clips: list[Clip], texts: list[str]) -> float:
    # Digits spelled out on both sides as bench.tts.word_errors does, so the per-sentence
    # errors and the corpus WER count the same edits (a digit is wrong against the
    # sentence's words either way).
    return 100.0 * wer([spell_numbers(texts[c.sentence]) for c in clips],
                       [spell_numbers(c.hypothesis) for c in clips])


def silence_ms(clips: list[Clip]) -> dict:
    lead = np.array([c.lead for c in clips]) * 1000.0
    tail = np.array([c.tail for c in clips]) * 1000.0
    return {"lead_mean_ms": float(lead.mean()), "lead_max_ms": float(lead.max()),
            "tail_mean_ms": float(tail.mean()), "tail_max_ms": float(tail.max())}


def summarise(clips: list[Clip], texts: list[str], paces: list[float]) -> dict:
    """The natural row and one row per pace: WER of A and B, A - B word errors with its
    paired 95 % interval, and A's edge silence, duration error and synthesis time."""
    natural = [c for c in clips if c.method == "natural"]
    nat = {c.sentence: c for c in natural}
    out = {"natural": {"n": len(natural), "words": sum(len(normalize(texts[c.sentence])) for c in natural),
                       "wer_pct": corpus_wer(natural, texts), **silence_ms(natural),
                       "seconds_mean": float(np.mean([c.seconds for c in natural]))}}
    for p in paces:
        a = {c.sentence: c for c in clips if c.method == "A" and abs(c.pace - p) < 1e-9}
        b = {c.sentence: c for c in clips if c.method == "B" and abs(c.pace - p) < 1e-9}
        shared = sorted(set(a) & set(b))
        a_err = [word_errors(texts[i], a[i].hypothesis) for i in shared]
        b_err = [word_errors(texts[i], b[i].hypothesis) for i in shared]
        total, low, high = paired_interval(a_err, b_err)
        a_clips = [a[i] for i in shared]
        # The pace A's speech is really said at: the silence A keeps inside the slot leaves
        # its words less than T, so they run faster than p (B's speech fills the slot).
        a_pace = [(nat[i].duration - nat[i].lead - nat[i].tail) / max(1e-9, a[i].duration - a[i].lead - a[i].tail)
                  for i in shared if i in nat]
        out[f"{p:g}"] = {
            "pace": p, "n": len(shared),
            "wer_a_pct": corpus_wer(a_clips, texts), "wer_b_pct": corpus_wer([b[i] for i in shared], texts),
            "a_minus_b_errors": int(round(total)), "interval_95": [low, high], "within_noise": low <= 0.0 <= high,
            **silence_ms(a_clips),
            "err_max_ms": float(max(abs(c.error_ms) for c in a_clips)),
            "seconds_mean": float(np.mean([c.seconds for c in a_clips])),
            "a_speech_pace_mean": float(np.mean(a_pace)) if a_pace else float("nan"),
            "a_speech_pace_max": float(np.max(a_pace)) if a_pace else float("nan"),
        }
    return out


def report(summary: dict, paces: list[float]) -> str:
    headers = ["pace", "WER A %", "WER B %", "A-B word errors [95 % interval]", "A lead ms mean/max",
               "A tail ms mean/max", "A words' pace mean/max", "A max abs err ms", "A synth s/line"]
    nat = summary["natural"]
    rows = [["natural", f"{nat['wer_pct']:.1f}", "-", "-", f"{nat['lead_mean_ms']:.0f} / {nat['lead_max_ms']:.0f}",
             f"{nat['tail_mean_ms']:.0f} / {nat['tail_max_ms']:.0f}", "-", "-", f"{nat['seconds_mean']:.2f}"]]
    for p in paces:
        r = summary[f"{p:g}"]
        low, high = r["interval_95"]
        noise = " within noise" if r["within_noise"] else ""
        rows.append([f"{p:g}", f"{r['wer_a_pct']:.1f}", f"{r['wer_b_pct']:.1f}",
                     f"{r['a_minus_b_errors']:+d} [{low:+.0f}, {high:+.0f}]{noise}",
                     f"{r['lead_mean_ms']:.0f} / {r['lead_max_ms']:.0f}",
                     f"{r['tail_mean_ms']:.0f} / {r['tail_max_ms']:.0f}",
                     f"{r['a_speech_pace_mean']:.2f} / {r['a_speech_pace_max']:.2f}", f"{r['err_max_ms']:.3f}", f"{r['seconds_mean']:.2f}"])
    return table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pace", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="kokoro", help="TTS backend (default: kokoro)")
    parser.add_argument("--lang", default="es", help="language of the voice, the sentences and Whisper (default: es)")
    parser.add_argument("--sentences", type=int, default=None, help="use N sentences spread over the file (default: all)")
    parser.add_argument("--paces", default=",".join(f"{p:g}" for p in DEFAULT_PACES),
                        help="paces p; the slot is the natural speech length over p")
    parser.add_argument("--json", type=Path, default=None, help="also write every number here")
    args = parser.parse_args(argv)
    try:
        paces = [float(x) for x in args.paces.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--paces: comma-separated numbers, got {args.paces!r}")
    if not paces or any(p <= 0 for p in paces):
        parser.error("--paces: give positive numbers")
    if shutil.which("ffmpeg") is None:
        parser.error("ffmpeg is not on PATH (method B needs it)")
    path = sentences_path(args.lang)
    if not path.exists():
        parser.error(f"no sentences for --lang {args.lang}: {path.name} is missing")

    texts = load_sentences(path)
    indices = pick(texts, args.sentences)
    log(f"{len(indices)} sentences x {len(paces)} paces x 2 methods (+ the natural rendition)")
    t_all = time.perf_counter()
    clips, meta = run(args.backend, args.lang, texts, indices, paces)
    summary = summarise(clips, texts, paces)
    wall = time.perf_counter() - t_all

    command = (f"python -m bench.pace --backend {args.backend} --lang {args.lang} --sentences {len(indices)} "
               f"--paces {','.join(f'{p:g}' for p in paces)}")
    print(f"## Pace by generation (A) against pace by atempo (B): {args.backend}, {args.lang}\n")
    print(f"`{command}`\n")
    print(f"{len(indices)} sentences, {summary['natural']['words']} words. Slot T = L / pace, L = the natural "
          f"rendition's speech without its edge silence. A: tts.synthesize(duration=T). B: that speech + ffmpeg "
          f"atempo to T. WER: Whisper base, greedy, corpus level. Natural row: the free-length rendition "
          f"(its silence and synthesis time in A's columns). A's words' pace: natural speech length over A's speech "
          f"length (silence A keeps inside the slot makes its words faster than the pace asked).\n")
    print(report(summary, paces))
    log(f"done in {wall / 60:.1f} min")

    if args.json:
        ffmpeg_version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
        payload = {
            "config": {"command": command, "sentences": len(indices), "paces": paces, **meta, "wall_seconds": wall,
                       "ffmpeg": ffmpeg_version, "python": platform.python_version()},
            "summary": summary,
            "clips": [{**asdict(c), "text": texts[c.sentence], "error_ms": c.error_ms,
                       "word_errors": word_errors(texts[c.sentence], c.hypothesis)} for c in clips],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
