"""Speaker diarization on constructed conversations of real voices from different recordings.

    python -m bench.diarize [--json PATH]

Voices (Debian packages, read in place): the LibriVox reader of the pocketsphinx test data
(``/usr/share/pocketsphinx/test/data/librivox``, 16 kHz, cut between words into 1.2-4 s turns), the
Asterisk English prompt voice (``/usr/share/asterisk/sounds/en_US_f_Allison``, 8 kHz, resampled) and, for
the three-speaker case, the bundled Piper voice (synthetic, 22.05 kHz, resampled). The
Asterisk Spanish prompts are left out: they are the same voice talent as the English ones
(resemblyzer similarity ~0.75 across them, against ~0.4-0.55 between different speakers).

Turns follow each other with 0.4-0.9 s pauses and a faint noise floor. Diarization runs on
the true turn times and on the Silero VAD regions (``pipelines.asr.speech_regions``), with
the speaker count chosen automatically and forced to the truth. DER = (missed + false alarm
+ confusion) / reference speech time, 10 ms frames, optimal one-to-one label mapping, NO
collar (every boundary error counts).
"""

from __future__ import annotations

import argparse
import glob
import json
import time
from pathlib import Path

import numpy as np

from bench import recordings

RATE = 16_000
LIBRIVOX = str(recordings.LIBRIVOX)
ASTERISK_EN = str(recordings.asterisk_prompts("en"))
PIPER_LINES = [
    "I was thinking about what you told me yesterday.",
    "Are you sure that is the right train?",
    "We should leave before it gets dark.",
    "No, I never said that to anyone.",
    "Let me check the map once more.",
    "That sounds like a very good idea to me.",
    "Well, maybe we can ask someone at the station.",
    "I will call you when I arrive.",
    "Do you remember the name of the hotel?",
    "It was a long day, but a good one.",
]


def sources_available() -> str | None:
    """None when the Debian recordings are there, else what is missing."""
    if not glob.glob(f"{LIBRIVOX}/*.wav"):
        return f"LibriVox test recordings missing ({LIBRIVOX}: apt install pocketsphinx-en-us or the test data)"
    if not glob.glob(f"{ASTERISK_EN}/*.wav"):
        return f"Asterisk English prompts missing ({ASTERISK_EN}: apt install asterisk-core-sounds-en-wav)"
    return None


def _load(path: str) -> np.ndarray:
    import soundfile as sf

    from pipelines.media import resample

    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    return resample(audio.mean(axis=1), rate, RATE)


def _trim(audio: np.ndarray) -> np.ndarray | None:
    """The audio from its first voice onset to its last offset (Silero VAD), None if silent."""
    from pipelines.asr import speech_regions

    regions = speech_regions(audio)
    if not regions:
        return None
    return audio[int(regions[0][0] * RATE): int(regions[-1][1] * RATE)]


def librivox_turns(shortest: float = 1.2, longest: float = 3.0) -> list[np.ndarray]:
    """The LibriVox reader's files cut into turns of ``shortest``-``longest`` seconds, each
    cut at the quietest 20 ms frame of that span (a pause between words, mostly)."""
    hop = RATE // 50
    turns = []
    for path in sorted(glob.glob(f"{LIBRIVOX}/*.wav")):
        audio = _trim(_load(path))
        if audio is None:
            continue
        n = len(audio) // hop
        energy = np.sqrt(np.mean(audio[: n * hop].reshape(n, hop) ** 2, axis=1))
        start = 0
        while (n - start) * hop / RATE > longest + shortest:
            lo, hi = start + int(shortest * 50), start + int(longest * 50)
            cut = lo + int(np.argmin(energy[lo:hi]))
            turns.append(audio[start * hop: cut * hop])
            start = cut
        rest = audio[start * hop:]
        if len(rest) > longest * RATE:
            half = start + (n - start) // 2
            cut = half - 25 + int(np.argmin(energy[half - 25: half + 25]))
            turns += [audio[start * hop: cut * hop], audio[cut * hop:]]
        else:
            turns.append(rest)
    return turns


def asterisk_turns(count: int, shortest: float = 0.5, longest: float = 4.0) -> list[np.ndarray]:
    """``count`` English prompts spread over the alphabet, trimmed to their speech."""
    paths = sorted(glob.glob(f"{ASTERISK_EN}/*.wav"))
    spread = paths[:: max(1, len(paths) // (count * 3))]
    turns = []
    for path in spread + [p for p in paths if p not in spread]:
        clip = _trim(_load(path))
        if clip is not None and shortest <= len(clip) / RATE <= longest:
            turns.append(clip)
        if len(turns) == count:
            break
    return turns


def piper_turns(count: int) -> list[np.ndarray]:
    from pipelines.media import resample
    from tts_core import TTS

    tts = TTS.from_pretrained("piper")
    turns = []
    for line in PIPER_LINES[:count]:
        speech = tts.synthesize(line)
        clip = _trim(resample(np.asarray(speech.samples, dtype=np.float32), speech.sample_rate, RATE))
        if clip is not None:
            turns.append(clip)
    return turns


def conversation(voices: dict[str, list[np.ndarray]], seed: int = 0,
                 pauses: tuple[float, float] = (0.4, 0.9)) -> tuple[np.ndarray, list[dict]]:
    """Turns of every voice interleaved (no voice twice in a row while others have turns
    left), ``pauses`` seconds apart (drawn uniformly), peak-normalised turns, faint noise.
    Returns the 16 kHz audio and the truth segments ({"start", "end", "speaker"})."""
    rng = np.random.default_rng(seed)
    left = {name: list(turns) for name, turns in voices.items()}
    order: list[str] = []
    while any(left.values()):
        choices = [n for n, t in left.items() if t and (not order or n != order[-1])] or \
                  [n for n, t in left.items() if t]
        weights = np.array([len(left[n]) for n in choices], dtype=float)
        name = choices[rng.choice(len(choices), p=weights / weights.sum())]
        order.append(name)
        left[name] = left[name][1:]
    used = {name: 0 for name in voices}
    pieces, segments, t = [np.zeros(int(0.5 * RATE), dtype=np.float32)], [], 0.5
    for name in order:
        clip = voices[name][used[name]]
        used[name] += 1
        clip = 0.5 * clip / max(1e-6, float(np.abs(clip).max()))
        segments.append({"start": round(t, 3), "end": round(t + len(clip) / RATE, 3), "speaker": name})
        pause = np.zeros(int(rng.uniform(*pauses) * RATE), dtype=np.float32)
        pieces += [clip.astype(np.float32), pause]
        t += (len(clip) + len(pause)) / RATE
    audio = np.concatenate(pieces)
    audio += rng.normal(0, 10 ** (-60 / 20), len(audio)).astype(np.float32)
    return audio.astype(np.float32), segments


def build(three: bool = False) -> tuple[np.ndarray, list[dict]]:
    libri = librivox_turns()
    voices = {"librivox": libri, "asterisk": asterisk_turns(len(libri) + 2)}
    if three:
        voices["piper"] = piper_turns(8)
    return conversation(voices, seed=1 if three else 0)


def der(reference: list[dict], hypothesis: list[dict], step: float = 0.01) -> dict[str, float]:
    """Frame DER (no collar): segments carry "start", "end", "speaker"; no overlap within
    either side. Labels are mapped one-to-one to maximise agreement (Hungarian)."""
    from scipy.optimize import linear_sum_assignment

    end = max(s["end"] for s in reference + hypothesis)
    n = int(np.ceil(end / step)) + 1

    def frames(segs):
        names = sorted({s["speaker"] for s in segs})
        lab = np.full(n, -1)
        for s in segs:
            lab[int(round(s["start"] / step)): int(round(s["end"] / step))] = names.index(s["speaker"])
        return lab, names

    ref, ref_names = frames(reference)
    hyp, hyp_names = frames(hypothesis)
    both = (ref >= 0) & (hyp >= 0)
    overlap = np.zeros((len(ref_names), len(hyp_names)))
    np.add.at(overlap, (ref[both], hyp[both]), 1)
    rows, cols = linear_sum_assignment(-overlap)
    matched = overlap[rows, cols].sum()
    speech = float((ref >= 0).sum())
    missed = float(((ref >= 0) & (hyp < 0)).sum())
    false_alarm = float(((ref < 0) & (hyp >= 0)).sum())
    confusion = float(both.sum() - matched)
    return {"der": (missed + false_alarm + confusion) / speech, "missed": missed / speech,
            "false_alarm": false_alarm / speech, "confusion": confusion / speech}


def run_case(name: str, audio: np.ndarray, truth: list[dict]) -> list[dict]:
    from pipelines.asr import speech_regions
    from pipelines.diarize import diarize

    n_true = len({s["speaker"] for s in truth})
    rows = []
    vad = [{"start": a, "end": b} for a, b in speech_regions(audio)]
    for source, segs in (("truth", truth), ("VAD", vad)):
        for mode, count in (("auto", None), ("forced", n_true)):
            t0 = time.perf_counter()
            labels = diarize(audio, segs, num_speakers=count)
            seconds = time.perf_counter() - t0
            hyp = [{"start": s["start"], "end": s["end"], "speaker": l} for s, l in zip(segs, labels)]
            score = der(truth, hyp)
            rows.append({"conversation": name, "segments": f"{source} ({len(segs)})", "count": mode,
                         "speakers": f"{len(set(labels))}/{n_true}", **score, "runtime_s": seconds,
                         "audio_s": len(audio) / RATE})
    return rows


def sweep(audio: np.ndarray, truth: list[dict], thresholds=(0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)) -> dict:
    """Cosine distances between truth segments (same / different speaker) and the speaker
    count the auto threshold would give, to tune ``DISTANCE_THRESHOLD``."""
    from scipy.spatial.distance import pdist, squareform

    from pipelines.diarize import MAX_SPEAKERS, MIN_SECONDS, _cluster, segment_embeddings

    long = [s for s in truth if s["end"] - s["start"] >= MIN_SECONDS]
    emb = segment_embeddings(audio, long)
    dist = squareform(pdist(emb, metric="cosine"))
    names = np.array([s["speaker"] for s in long])
    upper = np.triu(np.ones_like(dist, dtype=bool), 1)
    same = dist[upper & (names[:, None] == names[None, :])]
    diff = dist[upper & (names[:, None] != names[None, :])]
    counts = {t: int(_cluster(emb, None, t, MAX_SPEAKERS).max() + 1) for t in thresholds}  # before absorbing
    return {"same_max": float(same.max()), "same_p95": float(np.percentile(same, 95)),
            "diff_min": float(diff.min()), "diff_p5": float(np.percentile(diff, 5)), "counts": counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the rows here as JSON")
    args = parser.parse_args(argv)
    missing = sources_available()
    if missing:
        print(f"skipped: {missing}")
        return 0
    from bench.common import table
    from pipelines.diarize import DISTANCE_THRESHOLD, segment_embeddings

    rows = []
    for name, three in (("2 real voices", False), ("2 real + Piper", True)):
        audio, truth = build(three)
        print(f"{name}: {len(audio) / RATE:.1f} s, {len(truth)} turns, "
              f"{sum(s['end'] - s['start'] for s in truth):.1f} s speech")
        segment_embeddings(audio[:RATE], [{"start": 0, "end": 1}])  # load the encoder outside the timing
        rows += run_case(name, audio, truth)
        tune = sweep(audio, truth)
        print(f"  segment cosine distance, same speaker: p95 {tune['same_p95']:.2f} max {tune['same_max']:.2f}; "
              f"different speakers: p5 {tune['diff_p5']:.2f} min {tune['diff_min']:.2f}")
        print("  speakers by tree cut (before folding small clusters): " + ", ".join(f"{t}: {c}" for t, c in tune["counts"].items()))
    headers = ["conversation", "segments", "count", "speakers found/true", "DER", "missed", "false alarm",
               "confusion", "runtime s", "audio s"]
    print(f"\nDER, 10 ms frames, no collar; auto count: cosine-distance threshold {DISTANCE_THRESHOLD}\n")
    print(table(headers, [[r["conversation"], r["segments"], r["count"], r["speakers"], r["der"], r["missed"],
                           r["false_alarm"], r["confusion"], r["runtime_s"], r["audio_s"]] for r in rows]))
    worst = max(r["der"] for r in rows)
    print(f"\nworst DER {worst:.1%} (target <= 15%): {'met' if worst <= 0.15 else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
