"""End to end: this project's dub against the common peer approach, on the same lines.

    python -m bench.e2e [CLIP[:LANG[:TTS]] ...] [--json PATH]

CLIP is a media file, or ``narration`` (built here, see below); LANG is the target language
(default en) and TTS the backend (default: the ``dub`` CLI's own default), passed to A as
``--lang LANG --tts TTS``. With no clips, two are run:

  samples/sample_es.mp4       Spanish dialogue over music, dubbed into English with the
                              default TTS. Every English line is shorter than its Spanish
                              slot, so B never speeds up or trims there.
  narration:es:kokoro         when Debian's LibriVox test clips exist (pocketsphinx test data,
                              English narration, public domain, with a transcription): the 5
                              clips joined with 0.3 s gaps at 48 kHz under a plain H.264
                              picture (ffmpeg ``color``), so the mux path with video runs, and
                              dubbed into Spanish with Kokoro. Spanish takes ~20-30 % longer
                              than English, so lines overflow their slots: the case where the
                              two ways of fitting differ. Built in the bench's temp folder.

Each clip is dubbed twice, on the same transcript and translation:

  A  this project as shipped: the real ``dub`` CLI run as a subprocess (cold, in a fresh
     work folder, with a cache holding only what is installed: the model files derived
     under the cache root and each voice's embedding of the probe sentence, derived before
     the timed runs; never a voice match an earlier run made, see bench.common's
     ``installed_only``). Wall time and the child's peak memory are measured; per-stage
     seconds come from its report.
  B  the peer approach, run as a subprocess of this module (``_peer``) on A's transcript
     and translation (each line's ``source_start``/``source_end`` and ``text`` from A's
     report): natural-length synthesis with A's own voice, ffmpeg ``atempo`` to the source
     slot capped at 1.4x (never slowed down), the overflow trimmed at the slot end, a plain
     ``amix`` (normalize=0) over the same separated background A used, no loudness
     normalisation or limiting, and a mux with the video stream copied. B's whole-dub time
     adds the seconds of the stages of A it reuses (extract, separate, transcribe,
     translate, and diarize when it uses A's speaker clips). B's process starts from a
     cache of its own holding only what is installed, as A's does: a voice it is to
     follow, it matches itself (A's match is not handed to it).

Same voice for both: B loads A's backend, voice and language from the report's
``options`` and ``lang`` (``TTS.from_pretrained(tts, voice=voice, lang=lang)``), and, when
the backend can follow a voice reference (Kokoro), passes each line the same speaker
reference clip A's synthesize stage gave it (``speaker_wav=``: the speaker's clip from
diarization, to which Kokoro matches the same bundled voice or blend and pitch level as it
did for A: the match is deterministic). A's synthesize stage
passes nothing else per line (no emotion, default seed), so ``synthesize(text,
speaker_wav=reference)`` is A's own call without ``duration=``: B's natural-length speech
is the rendition A's duration control starts from. The reference is the report's
``reference`` field of each line.

Scored for both: slot error per line, silence inside each placed line before and after its
speech (``tts_core.silence``: 10 ms frames 35 dB under the line's loudest) and where its speech
starts against the source line's start, lines stretched or trimmed, words lost to trimming
(an estimate) or to dropped lines, WER of Whisper base (in the target language) on each
dubbed line cut from the output (and from the clean dubbed speech), DistillMOS of the clean
dubbed speech per line, speaker similarity (resemblyzer) to the source dialogue, loudness
and true peak against the source (ffmpeg ebur128), wall time per stage, real-time factor
and peak memory. One table per clip, then the same figures pooled over all clips (words
summed; WER and DistillMOS over all lines of all clips, as each clip has few lines) with
the targets: A better than B on slot error, words lost, WER and DistillMOS. Every figure is
measured on this run; nothing is hard-coded. Markdown goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import derive_probes, installed_only, normalize, table, transcribe, wer
from bench.foundation import ebur128
from bench.tts import DistillMOS, atempo_chain
from pipelines.media import decode_audio, probe, read_wav, resample, tool
from tts_core.silence import edge_silence

DEFAULT_CLIP = Path("samples/sample_es.mp4")
NARRATION = "narration"  # the built-in clip made from the LibriVox test clips
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
NARRATION_GAP = 0.3  # seconds of silence after each LibriVox clip
NARRATION_DEFAULT = f"{NARRATION}:es:kokoro"
RATE = 48_000  # the mix rate of both dubs
ASR_RATE = 16_000
MAX_TEMPO = 1.4  # the peer approach's speed-up cap
BASE_REUSED = ("extract", "separate", "transcribe", "translate")  # what B always takes from A
ALL_REUSED = ("extract", "separate", "transcribe", "diarize", "translate")  # + diarize with A's speaker clips


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the clips ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    spec: str  # as given on the command line
    name: str  # a path, or NARRATION
    lang: str  # target language, passed to A as --lang
    tts: str | None  # TTS backend, passed to A as --tts; None: the CLI's own choice (as a user gets it)


def parse_clip(spec: str) -> Clip:
    """``CLIP``, ``CLIP:LANG`` or ``CLIP:LANG:TTS``; a path that itself contains ':' is taken whole
    when it exists. Empty fields keep their defaults (``CLIP::kokoro``)."""
    parts = spec.split(":")
    for tail in range(0, min(2, len(parts) - 1) + 1):
        name = ":".join(parts[:len(parts) - tail])
        if name == NARRATION or Path(name).is_file():
            rest = parts[len(parts) - tail:]
            lang = (rest[0] if rest else "") or "en"
            tts = (rest[1] if len(rest) > 1 else "") or None
            return Clip(spec, name, lang, tts)
    sys.exit(f"no such clip: {spec} (a media file, or {NARRATION!r}, optionally :LANG[:TTS])")


def librivox_clips() -> list[tuple[Path, str]]:
    """The LibriVox test clips in ``fileids`` order, with their transcriptions; [] when absent."""
    ids, script = LIBRIVOX / "fileids", LIBRIVOX / "transcription"
    if not (ids.is_file() and script.is_file()):
        return []
    said = {}
    for line in script.read_text().splitlines():
        if "(" in line:
            text, _, rest = line.rpartition("(")
            said[rest.strip(" )")] = text.replace("<s>", "").replace("</s>", "").strip()
    clips = [(LIBRIVOX / f"{i.strip()}.wav", said.get(i.strip(), "")) for i in ids.read_text().split() if i.strip()]
    return clips if clips and all(p.is_file() for p, _ in clips) else []


def build_narration(folder: Path) -> tuple[Path, str]:
    """An English narration video: the LibriVox clips joined with short gaps at 48 kHz under a
    plain H.264 picture. Returns (path, the clips' own transcription joined)."""
    clips = librivox_clips()
    if not clips:
        sys.exit(f"the {NARRATION} clip needs the LibriVox test clips in {LIBRIVOX} (Debian pocketsphinx test data)")
    out = folder / "narration_en.mp4"
    total = sum(wav_seconds(p) + NARRATION_GAP for p, _ in clips)
    inputs, graph = [], []
    for k, (path, _) in enumerate(clips):
        inputs += ["-i", str(path)]
        graph.append(f"[{k}:a]aresample={RATE},apad=pad_dur={NARRATION_GAP}[a{k}]")
    graph.append("".join(f"[a{k}]" for k in range(len(clips))) + f"concat=n={len(clips)}:v=0:a=1[a]")
    ffmpeg([*inputs, "-f", "lavfi", "-i", "color=c=0x203040:s=320x180:r=25", "-filter_complex", ";".join(graph),
            "-map", f"{len(clips)}:v", "-map", "[a]", "-t", f"{total:.3f}", "-c:v", "libx264", "-preset", "veryfast",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-ar", str(RATE), str(out)])
    return out, " ".join(text for _, text in clips)


# --- running a child and measuring it ----------------------------------------------------------


def run_measured(cmd: list[str], what: str, env: dict | None = None) -> tuple[float, float | None]:
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
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
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


def stage_result(work: Path, stage: str) -> dict | None:
    """The result.json of a stage in A's (fresh, single-clip) work folder, or None."""
    found = sorted(work.glob(f"{stage}/*/result.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(found[-1].read_text()) if found else None


# --- B: the peer approach (runs in its own process) ---------------------------------------------


def ffmpeg(args: list[str]) -> None:
    subprocess.run([tool("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True,
                   stdout=subprocess.DEVNULL)


def wav_seconds(path: Path) -> float:
    audio, rate = read_wav(path)
    return len(audio) / rate


def peer_dub(plan_path: Path, background: Path, out_dir: Path) -> dict:
    """Natural TTS in A's voice, atempo capped at 1.4x, trim at the slot end, plain amix, mux.

    ``plan_path``: JSON with the source, A's backend/voice/lang/device and the lines (index,
    text, source_start, source_end, reference) taken from A's report."""
    from tts_core import TTS, TTSError

    plan = json.loads(plan_path.read_text())
    source = Path(plan["input"])
    out_dir.mkdir(parents=True, exist_ok=True)
    stages: dict[str, float] = {}

    t = time.perf_counter()
    tts = TTS.from_pretrained(plan["tts"], voice=plan["voice"], device=plan["device"], lang=plan["lang"])
    follows = tts.backend.supports_voice_reference  # A passes the reference only then
    raw = []
    for i, seg in enumerate(plan["lines"]):
        reference = seg.get("reference") if follows else None
        try:
            speech = tts.synthesize(seg["text"], speaker_wav=reference)
        except TTSError as exc:
            raw.append((None, 0.0, reference, str(exc)))
            continue
        raw.append((speech.save(out_dir / f"raw_{i:03d}.wav"), speech.duration, reference, None))
    stages["tts"] = time.perf_counter() - t

    t = time.perf_counter()
    lines = []
    for i, (seg, (path, natural, reference, failed)) in enumerate(zip(plan["lines"], raw)):
        slot = seg["source_end"] - seg["source_start"]
        base = {"index": seg["index"], "text": seg["text"], "start": seg["source_start"], "end": seg["source_end"],
                "reference": reference}
        if failed:
            lines.append({**base, "skipped": failed})
            continue
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
        lines.append({**base, "natural": natural, "tempo": tempo, "stretched": stretched, "placed": placed,
                      "trimmed": max(0.0, stretched - placed), "audio": str(placed_path)})
    stages["atempo_trim"] = time.perf_counter() - t

    t = time.perf_counter()
    mix = out_dir / "mix.wav"
    spoken = [ln for ln in lines if not ln.get("skipped")]
    inputs = ["-i", str(background)]
    graph = []
    for k, line in enumerate(spoken, 1):
        inputs += ["-i", line["audio"]]
        graph.append(f"[{k}:a]adelay={int(round(line['start'] * RATE))}S:all=1[l{k}]")
    labels = "[0:a]" + "".join(f"[l{k}]" for k in range(1, len(spoken) + 1))
    graph.append(f"{labels}amix=inputs={len(spoken) + 1}:duration=first:dropout_transition=0:normalize=0[out]")
    ffmpeg([*inputs, "-filter_complex", ";".join(graph), "-map", "[out]", "-ar", str(RATE), "-c:a", "pcm_s16le",
            str(mix)])
    stages["mix"] = time.perf_counter() - t

    t = time.perf_counter()
    output = out_dir / f"B{source.suffix or '.mp4'}"
    ffmpeg(["-i", str(source), "-i", str(mix), "-map", "0:v?", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac",
            "-b:a", "192k", str(output)])
    stages["mux"] = time.perf_counter() - t
    result = {"output": str(output), "mix": str(mix), "stages": stages, "lines": lines,
              "tts": {"backend": tts.backend.name, "voice": plan["voice"], "lang": plan["lang"],
                      "follows_reference": follows}}
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


def score_side(name: str, lines: list[dict], output: Path, clean_rate: int, source_embedding: np.ndarray,
               mos: DistillMOS, lang: str, dropped: list[str], words_total: int) -> dict:
    """``lines``: start, end (the slot the line is judged against), placed (seconds of speech
    placed), tempo, pace (speed against the voice's natural length), trimmed (seconds cut),
    text, clean (the line's clean speech). ``dropped``: texts of lines this side did not say
    (their words count as lost)."""
    from tts_core.voice import embed, similarity

    log(f"scoring {name} ...")
    errors = [abs(ln["placed"] - (ln["end"] - ln["start"])) * 1000 for ln in lines]
    refs = [ln["text"] for ln in lines]
    mix = decode_audio(output, ASR_RATE, 1)
    mix_hyps = [transcribe(c, ASR_RATE, lang) if len(c) else "" for c in
                (cut(mix, ASR_RATE, ln["start"], ln["end"]) for ln in lines)]
    clean_hyps = [transcribe(ln["clean"], clean_rate, lang) if len(ln["clean"]) else "" for ln in lines]
    mos_scores = mos([resample(ln["clean"], clean_rate, ASR_RATE) for ln in lines])
    speech = np.concatenate([ln["clean"] for ln in lines]) if lines else np.zeros(clean_rate, np.float32)
    whole_sim = similarity(embed(speech, clean_rate), source_embedding)
    line_sims = [similarity(embed(ln["clean"], clean_rate), source_embedding) for ln in lines]
    lufs, peak = ebur128(output)
    edges = [edge_silence(ln["clean"], clean_rate) if len(ln["clean"]) else (0.0, 0.0) for ln in lines]
    lost = [words_lost(ln["text"], 1.0 - ln["trimmed"] / (ln["placed"] + ln["trimmed"]))
            if ln["trimmed"] > 0 else 0 for ln in lines]
    dropped_words = sum(len(normalize(t)) for t in dropped)
    return {
        "slot_error_ms": stats_ms(errors),
        "lines": len(lines),
        "stretched": sum(1 for ln in lines if ln["tempo"] != 1.0),
        "trimmed": sum(1 for ln in lines if ln["trimmed"] > 0),
        "dropped": len(dropped), "dropped_texts": dropped,
        "tempos": [ln["tempo"] for ln in lines],
        "paces": [ln["pace"] for ln in lines],
        "trimmed_seconds": [ln["trimmed"] for ln in lines],
        "words_lost_trimmed": int(sum(lost)), "words_lost_dropped": int(dropped_words),
        "words_lost": int(sum(lost) + dropped_words), "words_total": int(words_total),
        "wer_mix": wer(refs, mix_hyps), "wer_clean": wer(refs, clean_hyps),
        "mos": mos_scores, "mos_mean": float(np.mean(mos_scores)) if mos_scores else float("nan"),
        "similarity": whole_sim, "similarity_lines": line_sims,
        "similarity_line_mean": float(np.mean(line_sims)) if line_sims else float("nan"),
        "lufs": lufs, "true_peak": peak,
        "source_slot_gap_ms": [abs(ln["placed"] - (ln["source_end"] - ln["source_start"])) * 1000 for ln in lines],
        # Silence inside each placed line before and after its speech, and where the speech
        # starts against the source line's start (the source speech onset, within ~30 ms).
        "lead_ms": [e[0] * 1000 for e in edges], "tail_ms": [e[1] * 1000 for e in edges],
        "onset_ms": [(ln["start"] + e[0] - ln["source_start"]) * 1000 for ln, e in zip(lines, edges)],
        "pairs": [{"start": ln["start"], "end": ln["end"], "reference": r, "mix": h, "clean": c}
                  for ln, r, h, c in zip(lines, refs, mix_hyps, clean_hyps)],
    }


def warm_voices(clip: Clip) -> None:
    """The probe embeddings of the clip's voices (bench.common.derive_probes), when its
    backend matches voices with them (Kokoro)."""
    from pipelines.synthesize import default_backend

    if (clip.tts or default_backend(clip.lang)) == "kokoro":
        derived = derive_probes(clip.lang)
        if derived:
            log(f"derived {derived} probe embeddings of the {clip.lang} voices (once per machine)")


def measure(clip: Clip, mos: DistillMOS, built: Path) -> dict:
    from tts_core.voice import embed

    source_truth = None
    if clip.name == NARRATION:
        log(f"building the {NARRATION} clip from {LIBRIVOX} ...")
        path, source_truth = build_narration(built)
        label = f"{NARRATION} (LibriVox test clips, English, joined; {path.name})"
    else:
        path, label = Path(clip.name), clip.name
    info = probe(path)
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp_name:
        tmp = Path(tmp_name)
        work, stems, out_a, report_path = tmp / "W", tmp / "stems", tmp / f"A{path.suffix or '.mp4'}", tmp / "A.json"
        work.mkdir()
        log(f"A: dubbing {path} into {clip.lang} with --tts {clip.tts or '(default)'} (dub CLI, cold work folder) ...")
        backend = ["--tts", clip.tts] if clip.tts else []
        warm_voices(clip)
        a_wall, a_peak = run_measured([sys.executable, "-m", "dubber.cli", str(path), "--lang", clip.lang,
                                       *backend, "-o", str(out_a), "--report", str(report_path),
                                       "--work-dir", str(work), "--stems", str(stems), "-q"], "dub (A)",
                                      installed_only(tmp / "A-cache"))
        report = json.loads(report_path.read_text())
        background = only("separate/*/background.wav", work)
        source_dialogue = only("separate/*/dialogue.wav", work)
        translated = stage_result(work, "translate") or {}

        # The lines there are to say: A's lines with text and a source slot (A may drop some).
        planned = [s for s in report["segments"] if (s.get("text") or "").strip()
                   and s["source_end"] > s["source_start"]]
        references = [s.get("reference") for s in planned]  # the clip A's synthesize stage used per line
        options = report["options"]
        plan = {"input": str(path), "tts": options["tts"], "voice": options.get("voice"),
                "device": options.get("device", "cpu"), "lang": report["lang"],
                "lines": [{"index": s["index"], "text": s["text"].strip(), "source_start": s["source_start"],
                           "source_end": s["source_end"], "reference": r} for s, r in zip(planned, references)]}
        plan_path = tmp / "B_plan.json"
        plan_path.write_text(json.dumps(plan, indent=2, ensure_ascii=False) + "\n")
        log(f"A done in {a_wall:.1f} s; B: the peer approach on A's lines ({options['tts']}, "
            f"voice {options.get('voice') or 'default'}) ...")
        b_dir = tmp / "B"
        b_wall, b_peak = run_measured([sys.executable, "-m", "bench.e2e", "_peer", str(plan_path), str(background),
                                       str(b_dir)], "peer dub (B)", installed_only(tmp / "B-cache"))
        peer = json.loads((b_dir / "peer.json").read_text())
        log(f"B done in {b_wall:.1f} s")

        a_said = {s["index"]: s for s in planned if not s.get("skipped")}
        b_said = {ln["index"]: ln for ln in peer["lines"] if not ln.get("skipped")}
        both = [s["index"] for s in planned if s["index"] in a_said and s["index"] in b_said]
        words_total = sum(len(normalize(s["text"])) for s in planned)
        # The source speaker: the separated dialogue over the source slots.
        src, src_rate = read_wav(source_dialogue)
        src = src if src.ndim == 1 else src.mean(axis=1)
        source_embedding = embed(np.concatenate([cut(src, src_rate, s["source_start"], s["source_end"])
                                                 for s in planned]), src_rate)

        stem, stem_rate = read_wav(stems / "dialogue.wav")
        stem = stem if stem.ndim == 1 else stem.mean(axis=1)
        a_lines = []
        for i in both:
            s = a_said[i]
            placed = wav_seconds(Path(s["audio"])) if s.get("audio") and Path(s["audio"]).is_file() \
                else s["audio_duration"]
            a_lines.append({"start": s["start"], "end": s["end"], "source_start": s["source_start"],
                            "source_end": s["source_end"], "placed": placed, "tempo": s.get("tempo", 1.0),
                            "pace": 1.0 / s["speech_rate"] if s.get("speech_rate") else 1.0,
                            "trimmed": 0.0, "text": s["text"], "clean": cut(stem, stem_rate, s["start"], s["end"])})
        b_lines = []
        for i in both:
            s, ln = a_said[i], b_said[i]
            audio, rate = read_wav(ln["audio"])
            b_lines.append({**ln, "source_start": s["source_start"], "source_end": s["source_end"],
                            "pace": ln["tempo"], "clean": resample(audio, rate, stem_rate)})
        a = score_side("A", a_lines, out_a, stem_rate, source_embedding, mos, clip.lang,
                       [s["text"] for s in planned if s["index"] not in a_said], words_total)
        # Info: A's line WAVs as synthesised, before the mix's voice gain (level is not what differs).
        raw = [read_wav(a_said[i]["audio"]) for i in both
               if a_said[i].get("audio") and Path(a_said[i]["audio"]).is_file()]
        a["mos_line_wavs"] = mos([resample(x if x.ndim == 1 else x.mean(axis=1), r, ASR_RATE) for x, r in raw]) \
            if len(raw) == len(both) else []
        b = score_side("B", b_lines, Path(peer["output"]), stem_rate, source_embedding, mos, clip.lang,
                       [ln["text"] for ln in peer["lines"] if ln.get("skipped")], words_total)
        b["naturals"] = [ln["natural"] for ln in b_lines]
        b["overflow"] = [ln["natural"] / (ln["end"] - ln["start"]) for ln in b_lines]
        source_lufs, source_peak = ebur128(path)

    reused_names = ALL_REUSED if any(ln.get("reference") for ln in peer["lines"]) else BASE_REUSED
    reused = {k: report["stages"].get(k, 0.0) for k in reused_names}
    b_whole = b_wall + sum(reused.values())
    heard_source = " ".join(s.get("source_text", "") for s in report["segments"])
    return {
        "spec": clip.spec, "label": label, "input": str(path), "lang": report["lang"],
        "source_lang": report.get("source_lang"), "tts": options["tts"], "voice": options.get("voice"),
        "translator": translated.get("translator"), "duration": info.duration, "has_video": info.has_video,
        "lines": len(both), "planned_lines": len(planned),
        "source_lufs": source_lufs, "source_true_peak": source_peak,
        "source_transcript_wer": wer([source_truth], [heard_source]) if source_truth else None,
        "mix_report": report.get("mix", {}),
        "references": {"lines_with_reference": sum(1 for r in references if r),
                       "followed_by_backend": peer["tts"]["follows_reference"]},
        "A": {**a, "wall_seconds": a_wall, "stages": report["stages"], "peak_mb": a_peak,
              "whole_seconds": a_wall, "rtf": a_wall / info.duration,
              "fit": [a_said[i].get("fit") for i in both],
              "fit_why": [a_said[i].get("fit_why") for i in both if a_said[i].get("fit_why")],
              "natural_duration": [a_said[i].get("natural_duration") for i in both],
              "within_bounds": [a_said[i].get("within_bounds") for i in both],
              "skipped": [{"index": s["index"], "why": s.get("skipped")} for s in report["segments"]
                          if s.get("skipped")]},
        "B": {**b, "own_wall_seconds": b_wall, "stages": {**reused, **peer["stages"]}, "peak_mb": b_peak,
              "reused_seconds": sum(reused.values()), "whole_seconds": b_whole, "rtf": b_whole / info.duration},
    }


# --- the tables ---------------------------------------------------------------------------------


def better(a: float | None, b: float | None, lower: bool = True, tol: float = 1e-9) -> str:
    if a is None or b is None or (isinstance(a, float) and np.isnan(a)) or (isinstance(b, float) and np.isnan(b)):
        return ""
    if abs(a - b) <= tol:
        return "tie"
    return ("A" if a < b else "B") if lower else ("A" if a > b else "B")


HEADERS = ["metric", "A (this project)", "B (peer: natural TTS + atempo<=1.4 + trim + amix)", "better"]


class Rows(list):
    def add(self, label, a, b, lower=True, fmt="{:.1f}", tol=1e-9, key_a=None, key_b=None):
        fa = fmt.format(a) if a is not None else "n/a"
        fb = fmt.format(b) if b is not None else "n/a"
        self.append([label, fa, fb, better(key_a if key_a is not None else a, key_b if key_b is not None else b,
                                           lower, tol) if lower is not None else ""])


def edge_rows(row, A: dict, B: dict) -> None:
    """Silence inside the lines and where their speech starts (both sides, per line)."""
    for key, label in (("lead_ms", "silence before the speech in a line (ms, median; target <= 30)"),
                       ("tail_ms", "silence after the speech in a line (ms, median; target <= 60)")):
        row(label, float(np.median(A[key])), float(np.median(B[key])), fmt="{:.0f}", tol=0.5)
        row("  max", float(np.max(A[key])), float(np.max(B[key])), fmt="{:.0f}", tol=0.5)
    row("|speech onset - source line start| (ms, median)", float(np.median(np.abs(A["onset_ms"]))),
        float(np.median(np.abs(B["onset_ms"]))), fmt="{:.0f}", tol=0.5)
    row("  p90", float(np.percentile(np.abs(A["onset_ms"]), 90)), float(np.percentile(np.abs(B["onset_ms"]), 90)),
        fmt="{:.0f}", tol=0.5)


def render(m: dict) -> str:
    A, B = m["A"], m["B"]
    rows = Rows()
    row = rows.add
    n = m["lines"]
    for k in ("mean", "p95", "max"):
        row(f"slot error {k} (ms; A planned slot, B source slot)", A["slot_error_ms"][k], B["slot_error_ms"][k],
            tol=0.05)
    row("|speech - source slot| mean (ms, info: A shortens slots on purpose)",
        float(np.mean(A["source_slot_gap_ms"])), float(np.mean(B["source_slot_gap_ms"])), lower=None)
    edge_rows(row, A, B)
    row(f"lines whose natural speech overflows the source slot (info, B's voice), of {n}", None,
        sum(1 for r in B["overflow"] if r > 1.0), lower=None, fmt="{}")
    row("natural length / source slot, max (info; > 1.4 means B must trim)", None,
        max(B["overflow"], default=float("nan")), lower=None, fmt="{:.2f}")
    row("fastest line vs its natural pace (x, info; A: TTS length control, B: atempo)",
        max(A["paces"], default=float("nan")), max(B["paces"], default=float("nan")), lower=None, fmt="{:.2f}")
    row(f"lines stretched (tempo != 1) of {n}", A["stretched"], B["stretched"], fmt="{}")
    row(f"lines trimmed of {n}", A["trimmed"], B["trimmed"], fmt="{}")
    if A["dropped"] or B["dropped"]:
        row(f"lines dropped (not said) of {m['planned_lines']}", A["dropped"], B["dropped"], fmt="{}")
    row(f"spoken words lost to trimming or dropping (est., of {A['words_total']})", A["words_lost"], B["words_lost"],
        fmt="{}")
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
    for name in ALL_REUSED:
        row(f"  stage {name} (s; B reuses A's)", A["stages"].get(name, 0.0), B["stages"].get(name, 0.0),
            lower=None, fmt="{:.2f}")
    for name in ("voices", "synthesize", "remix", "mux"):
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
    return table(HEADERS, rows)


def verdict(a, b, lower=True, tol=1e-9) -> str:
    w = better(a, b, lower, tol)
    return {"A": "PASS", "tie": "TIE (not better)", "B": "FAIL"}.get(w, "n/a")


def targets(m: dict) -> list[str]:
    A, B = m["A"], m["B"]
    return [
        f"- A better than B on mean slot error: {verdict(A['slot_error_ms']['mean'], B['slot_error_ms']['mean'], tol=0.05)}",
        f"- A better than B on words lost: {verdict(A['words_lost'], B['words_lost'])}",
        f"- A better than B on WER (output mix): {verdict(A['wer_mix'], B['wer_mix'], tol=0.0005)}",
        f"- A better than B on DistillMOS: {verdict(A['mos_mean'], B['mos_mean'], lower=False, tol=0.005)}",
        f"- A's whole-dub RTF <= 1.0 on this CPU: {'PASS' if A['rtf'] <= 1.0 else 'FAIL'} ({A['rtf']:.2f})",
    ] + ([f"  (on this clip B trims no line: no line overflows its source slot even at 1.4x, so words lost "
          f"cannot separate A from B here; B stretched {B['stretched']} of {m['lines']} lines)"]
         if B["trimmed"] == 0 and not (A["dropped"] or B["dropped"]) else [])


def pooled(results: list[dict]) -> dict:
    """The figures over all lines of all clips: words summed; slot error, WER and DistillMOS
    over every line (not a mean of per-clip means); RTF as total dub time over total clip time."""
    out = {"clips": len(results), "lines": sum(m["lines"] for m in results),
           "duration": sum(m["duration"] for m in results)}
    for side in ("A", "B"):
        sides = [m[side] for m in results]
        pairs = [p for s in sides for p in s["pairs"]]
        errors = [e for s in sides for e in s["slot_error_ms"]["all"]]
        mos = [x for s in sides for x in s["mos"]]
        out[side] = {
            "slot_error_ms": {k: v for k, v in stats_ms(errors).items() if k != "all"},
            "stretched": sum(s["stretched"] for s in sides), "trimmed": sum(s["trimmed"] for s in sides),
            "dropped": sum(s["dropped"] for s in sides),
            "words_lost": sum(s["words_lost"] for s in sides), "words_total": sum(s["words_total"] for s in sides),
            "wer_mix": wer([p["reference"] for p in pairs], [p["mix"] for p in pairs]),
            "wer_clean": wer([p["reference"] for p in pairs], [p["clean"] for p in pairs]),
            "mos_mean": float(np.mean(mos)) if mos else float("nan"),
            "whole_seconds": sum(s["whole_seconds"] for s in sides),
            **{key: [x for s in sides for x in s[key]] for key in ("lead_ms", "tail_ms", "onset_ms")},
        }
        out[side]["rtf"] = out[side]["whole_seconds"] / out["duration"]
    return out


def render_pooled(c: dict) -> str:
    A, B = c["A"], c["B"]
    rows = Rows()
    row = rows.add
    n = c["lines"]
    for k in ("mean", "p95", "max"):
        row(f"slot error {k} over all lines (ms)", A["slot_error_ms"][k], B["slot_error_ms"][k], tol=0.05)
    row(f"lines stretched (tempo != 1) of {n}", A["stretched"], B["stretched"], fmt="{}")
    row(f"lines trimmed of {n}", A["trimmed"], B["trimmed"], fmt="{}")
    row("lines dropped (not said)", A["dropped"], B["dropped"], fmt="{}")
    edge_rows(row, A, B)
    row(f"spoken words lost, summed (est., of {A['words_total']})", A["words_lost"], B["words_lost"], fmt="{}")
    row("WER over all lines, output mix", 100 * A["wer_mix"], 100 * B["wer_mix"], fmt="{:.1f}%", tol=0.05)
    row("WER over all lines, clean dubbed speech", 100 * A["wer_clean"], 100 * B["wer_clean"], fmt="{:.1f}%",
        tol=0.05)
    row("DistillMOS over all lines (mean)", A["mos_mean"], B["mos_mean"], lower=False, fmt="{:.2f}", tol=0.005)
    row("whole-dub wall time, summed (s)", A["whole_seconds"], B["whole_seconds"], fmt="{:.1f}", tol=0.05)
    row(f"real-time factor (summed / {c['duration']:.2f} s of clips)", A["rtf"], B["rtf"], fmt="{:.2f}", tol=0.005)
    return table(HEADERS, rows)


def pooled_targets(c: dict, results: list[dict]) -> list[str]:
    A, B = c["A"], c["B"]
    lines = [
        f"- A better than B on mean slot error (all lines): "
        f"{verdict(A['slot_error_ms']['mean'], B['slot_error_ms']['mean'], tol=0.05)}",
        f"- A better than B on words lost (summed): {verdict(A['words_lost'], B['words_lost'])}",
        f"- A better than B on WER (output mix, all lines): {verdict(A['wer_mix'], B['wer_mix'], tol=0.0005)}",
        f"- A better than B on DistillMOS (all lines): {verdict(A['mos_mean'], B['mos_mean'], lower=False, tol=0.005)}",
        f"- A's whole-dub RTF <= 1.0 on this CPU (every clip): "
        f"{'PASS' if all(m['A']['rtf'] <= 1.0 for m in results) else 'FAIL'} "
        f"({', '.join(format(m['A']['rtf'], '.2f') for m in results)})",
    ]
    if B["trimmed"] == 0 and not (A["dropped"] or B["dropped"]):
        most = max((r for m in results for r in m["B"]["overflow"]), default=float("nan"))
        lines.append(f"  (B trims no line on any clip: the longest natural line is {most:.2f}x its source slot, "
                     f"within the 1.4x atempo cap, so words lost cannot separate A from B on these clips)")
    return lines


def heard(m: dict) -> list[str]:
    out = [f"What was heard per line ({m['label']}; Whisper base in {m['lang']}, output mix):"]
    for i, (pa, pb) in enumerate(zip(m["A"]["pairs"], m["B"]["pairs"])):
        out.append(f"{i:2d} ref: {pa['reference']}")
        out.append(f"{'':3}A [{pa['start']:6.2f}-{pa['end']:6.2f}]: {pa['mix']}")
        out.append(f"{'':3}B [{pb['start']:6.2f}-{pb['end']:6.2f}]: {pb['mix']}")
    return out


def notes(m: dict) -> list[str]:
    """What the clip's dub did, in a few lines: how A planned its lines, what B's voice was."""
    A, refs = m["A"], m["references"]
    fits = collections.Counter(f or "-" for f in A["fit"])
    out = [f"- translator: {m['translator']}; TTS {m['tts']}, voice {m['voice'] or 'default'}; "
           f"speaker reference clips: {refs['lines_with_reference']} of {m['planned_lines']} lines, "
           f"followed by the backend: {'yes' if refs['followed_by_backend'] else 'no'}",
           f"- A's slot plan: {', '.join(f'{k} x{v}' for k, v in fits.most_common())}; "
           f"lines outside the TTS rate bounds: {sum(1 for w in A['within_bounds'] if w is False)}; "
           f"lines A skipped: {len(A['skipped'])}"]
    if m.get("source_transcript_wer") is not None:
        out.append(f"- A's source transcript against the clips' own transcription: "
                   f"WER {100 * m['source_transcript_wer']:.1f}%")
    return out


CAVEATS = """Caveats:
- Words lost to trimming is an estimate: round(words x fraction of the stretched line cut away), assuming
  words are spread evenly over the line; nothing is transcribed from the cut-off tail. A line a side does not
  say at all (dropped) counts all its words; such a line is left out of that clip's WER and DistillMOS.
- Slot error is judged against each side's own slot: A's planned slot (the planner may shorten a long source
  slot to the slowest comfortable pace, leaving silence, or borrow time from the gaps around a long line), B's
  source slot. B never slows down, so a line shorter than its slot counts its shortfall as slot error; the
  info row compares both against the source slot.
- B reuses A's transcript, translation, separated background and (with a backend that follows a voice
  reference) A's speaker clips from diarization, so its whole-dub time adds those stages' seconds; its peak
  memory covers only its own steps (ASR and separation would add A's). Peak memory is GNU time's maximum RSS of
  each child (or RUSAGE_CHILDREN without it).
- A and B each start from a cache holding only what is installed (derived model files, each voice's probe
  embedding): a voice matched to a speaker's clip is matched by each side in its own run (A's "voices" step,
  inside B's TTS step), never taken from an earlier run.
- The machine is shared (other jobs run on the same cores): wall times and RTF vary from run to run.
- DistillMOS and WER come from models (DistillMOS v7, Whisper base in the target language; base is weaker on
  Spanish than on English), not listeners; each clip has few lines, hence the pooled figures. The same backend,
  voice and reference clip speak both dubs, so speaker similarity mostly reflects the voice, not the method.
- The translation is the same for A and B and is not judged here (the narration's is apertium's, word by word)."""


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_peer"]:  # internal: B in its own process, so it is timed and measured alone
        peer_dub(Path(argv[1]), Path(argv[2]), Path(argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", metavar="CLIP[:LANG[:TTS]]",
                        help=f"a media file or {NARRATION!r} [default: {DEFAULT_CLIP}, and {NARRATION_DEFAULT} "
                             "when the LibriVox test clips are installed]")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    specs = args.clips or [str(DEFAULT_CLIP)] + ([NARRATION_DEFAULT] if librivox_clips() else [])
    if not args.clips and len(specs) == 1:
        log(f"no LibriVox test clips in {LIBRIVOX}: running {DEFAULT_CLIP} only")
    clips = [parse_clip(s) for s in specs]
    started = time.perf_counter()
    mos = DistillMOS()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-clips-") as built:
        for clip in clips:
            m = measure(clip, mos, Path(built))
            results.append(m)
            print(f"## {m['label']} → {m['lang']} ({m['duration']:.2f} s, {m['lines']} lines, "
                  f"{m['source_lang']} → {m['lang']}, --tts {m['tts']}) · {os.cpu_count()} CPUs · "
                  f"{platform.processor() or platform.machine()} · "
                  f"{datetime.datetime.now().isoformat(timespec='seconds')}")
            print()
            print("\n".join(notes(m)))
            print()
            print(render(m))
            print()
            print("Targets (this clip):")
            print("\n".join(targets(m)))
            print()
            print("\n".join(heard(m)))
            print()
    combined = pooled(results)
    if len(results) > 1:
        print(f"## All clips pooled ({', '.join(m['spec'] for m in results)}; {combined['lines']} lines, "
              f"{combined['duration']:.2f} s)")
        print()
        print(render_pooled(combined))
        print()
    print("Targets" + (" (all clips)" if len(results) > 1 else "") + ":")
    print("\n".join(pooled_targets(combined, results)))
    print()
    print(CAVEATS)
    bench_seconds = time.perf_counter() - started
    log(f"bench ran in {bench_seconds:.0f} s")
    if args.json:
        doc = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpus": os.cpu_count(),
               "machine": platform.machine(), "bench_seconds": bench_seconds, "clips": results,
               "pooled": combined}
        args.json.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=float) + "\n")


if __name__ == "__main__":
    main()
