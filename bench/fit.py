"""Timing fit: the pace each line needs, and where its dubbed speech sits in its slot.

    python -m bench.fit [CLIP[:LANG[:TTS]] ...] [--json PATH]

CLIP is a media file or one of the clips built here from real recordings (Debian packages):
``conversation`` (two real English voices taking turns over music: the LibriVox reader of
pocketsphinx-testdata and the Asterisk prompt voice, six turns each, music from
asterisk-moh-opsound 12 dB under the speech) and ``librivox`` (the LibriVox test clips joined
with pauses, read English). LANG is the target language (default en), TTS the backend
(default: the CLI's own choice). Default: ``samples/sample_es.mp4:en conversation:es:kokoro
librivox:en``.

Each clip is dubbed with the real CLI, and its report and line WAVs are read:
- pace: the source slot (before) and the planned slot (after) over the voice's natural
  length of the translated line (1 = the voice's own pace);
- lead / tail silence of each generated line: 10 ms frames more than 35 dB under the line's
  loudest frame, before its first and after its last louder frame
  (``tts_core.silence``); targets 30 ms and 60 ms;
- onset: where the dubbed speech starts on the timeline (slot start + lead silence) against
  where the source utterance it overlaps most really starts. The truth comes from how the
  clip was made: the sample's prompt files at the times in ``samples/sample_es.txt`` (file
  names from ``samples/make_sample.sh``) and the LibriVox clips at their offsets, each from
  its first 10 ms frame 20 dB over the recording's noise floor (as bench.segments finds
  onsets); the conversation's turns, which were cut to their voice before being placed.
  A line that holds several utterances is held to the first. Targets: median 60 ms, p90
  120 ms (absolute).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import recordings
from bench.common import table
from bench.segments import onset
from pipelines.media import decode_audio, read_wav, resample, write_wav
from tts_core.silence import edge_silence, speech_span

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "sample_es.mp4"
COMFORT = (0.85, 1.2)
HARD = (0.6, 1.6)
LEAD_MS, TAIL_MS = 30, 60  # the most silence a line may carry before / after its speech
ONSET_MEDIAN_MS, ONSET_P90_MS = 60, 120
RATE = 16_000  # the built clips
BUILT = ("conversation", "librivox")
DEFAULT_CLIPS = (f"{SAMPLE}:en", "conversation:es:kokoro", "librivox:en")


@dataclass(frozen=True)
class Clip:
    path: Path
    lang: str
    tts: str | None
    truth: list[dict] | None  # per source utterance: {"onset", "end"} in seconds, or None when unknown


def onset_of(audio: np.ndarray, rate: int) -> tuple[float, float]:
    """(first, end) second of the speech in a real recording: its onset as bench.segments
    finds it (20 dB over the recording's own noise floor: a peak-relative measure would
    start at a breath), its end by the lines' measure."""
    span = speech_span(audio, rate)
    return onset(resample(audio, rate, 16_000)), (len(audio) if span is None else span[1]) / rate


def sample_truth() -> list[dict] | None:
    """The bundled sample's prompts, each placed at its start in sample_es.txt; None when
    the prompt recordings are not installed."""
    folder = recordings.asterisk_prompts("es")
    names = re.findall(r'^\s*"([\w/-]+)\|', (ROOT / "samples" / "make_sample.sh").read_text(), re.M)
    starts = [float(line.split("\t")[0]) for line in (ROOT / "samples" / "sample_es.txt").read_text().splitlines()
              if line.strip()]
    files = [folder / f"{name}.wav" for name in names]
    if len(files) != len(starts) or not all(f.is_file() for f in files):
        return None
    truth = []
    for start, f in zip(starts, files):
        first, end = onset_of(decode_audio(f, RATE), RATE)
        truth.append({"onset": start + first, "end": start + end})
    return truth


def build_conversation(folder: Path) -> tuple[Path, list[dict]]:
    from bench.diarize import asterisk_turns, conversation, librivox_turns

    voices = {"librivox": librivox_turns()[:6], "asterisk": asterisk_turns(6)}
    if len(voices["librivox"]) < 6 or len(voices["asterisk"]) < 6:
        sys.exit("the conversation clip needs pocketsphinx-testdata and asterisk-core-sounds-en-wav (make bench)")
    # Pauses long enough that each turn is a line of its own (the transcript joins words
    # less than 0.8 s apart into one line).
    speech, turns = conversation(voices, seed=3, pauses=(0.9, 1.4))
    music = decode_audio(sorted(recordings.MUSIC.glob("*.wav"))[0], RATE)
    music = np.resize(music, len(speech))
    gain = np.sqrt(np.mean(speech**2) / np.mean(music**2)) * 10 ** (-12 / 20)
    # Each turn was cut to its voice (Silero VAD) before it was placed, so it starts where its
    # speech does; a level measure inside a turn of unbroken speech has no floor to rise from.
    truth = [{"onset": t["start"], "end": t["end"], "speaker": t["speaker"]} for t in turns]
    return write_wav(folder / "conversation_en.wav", speech + gain * music, RATE), truth


def build_librivox(folder: Path) -> tuple[Path, list[dict]]:
    """The LibriVox clips joined with 0.7 s pauses: real read English for a second timeline."""
    files = sorted(recordings.LIBRIVOX.glob("*.wav"))
    if not files:
        sys.exit(f"the librivox clip needs the LibriVox test recordings in {recordings.LIBRIVOX} (make bench)")
    pause = np.zeros(int(0.7 * RATE), np.float32)
    parts, truth, t = [], [], 0.0
    for f in files:
        clip = decode_audio(f, RATE)
        first, end = onset_of(clip, RATE)
        truth.append({"onset": t + first, "end": t + end})
        parts += [clip, pause]
        t += (len(clip) + len(pause)) / RATE
    return write_wav(folder / "librivox_reading.wav", np.concatenate(parts), RATE), truth


def parse_clip(spec: str, folder: Path) -> Clip:
    name, lang, tts = (spec.split(":") + ["", ""])[:3]
    if name in BUILT:
        path, truth = (build_conversation if name == "conversation" else build_librivox)(folder)
    elif Path(name).is_file():
        path = Path(name)
        truth = sample_truth() if path.resolve() == SAMPLE.resolve() else None
    else:
        sys.exit(f"no such clip: {spec} (a media file, or {' / '.join(BUILT)}, optionally :LANG[:TTS])")
    return Clip(path, lang or "en", tts or None, truth)


def dub(clip: Clip, folder: Path) -> dict:
    out = folder / f"{clip.path.stem}_{clip.lang}{'.wav' if clip.path.suffix == '.wav' else '.mp4'}"
    report = out.with_suffix(".json")
    cmd = [sys.executable, "-m", "dubber.cli", str(clip.path), "--lang", clip.lang, "-o", str(out),
           "--report", str(report), "--work-dir", str(folder / "work"), "-q"]
    if clip.tts:
        cmd += ["--tts", clip.tts]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"dub failed on {clip.path}: {proc.stderr.strip()}")
    return json.loads(report.read_text())


def placement(lines: list[dict], truth: list[dict] | None) -> dict:
    """Lead and tail silence of every generated line, and its onset error against the truth."""
    leads, tails, onsets = [], [], []
    for s in lines:
        audio, rate = read_wav(s["audio"])
        lead, tail = edge_silence(audio if audio.ndim == 1 else audio.mean(axis=1), rate)
        leads.append(lead * 1000)
        tails.append(tail * 1000)
        overlapping = [t for t in truth or [] if min(t["end"], s["source_end"]) > max(t["onset"], s["source_start"])]
        if overlapping:  # a line may hold two utterances: it starts with the first
            onsets.append((s["start"] + lead - min(t["onset"] for t in overlapping)) * 1000)
    return {"lead_ms": leads, "tail_ms": tails, "onset_error_ms": onsets}


def summary(paces: list[float]) -> list:
    p = np.asarray(paces)
    eps = 1e-3  # planned paces sit exactly on the band's edge
    outside = np.mean((p < COMFORT[0] - eps) | (p > COMFORT[1] + eps)) * 100
    beyond = np.mean((p < HARD[0] - eps) | (p > HARD[1] + eps)) * 100
    return [len(p), float(np.median(p)), float(np.percentile(p, 5)), float(np.percentile(p, 95)),
            f"{outside:.0f}%", f"{beyond:.0f}%"]


def placement_row(name: str, d: dict) -> list:
    lead, tail = np.asarray(d["lead_ms"]), np.asarray(d["tail_ms"])
    onset = np.abs(d["onset_error_ms"])
    return [name, len(lead), f"{np.median(lead):.0f} / {lead.max():.0f}", f"{(lead > LEAD_MS).sum()}",
            f"{np.median(tail):.0f} / {tail.max():.0f}", f"{(tail > TAIL_MS).sum()}",
            f"{np.median(onset):.0f} / {np.percentile(onset, 90):.0f}" if len(onset) else "-",
            f"{np.median(d['onset_error_ms']):+.0f}" if len(onset) else "-"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", help=f"CLIP[:LANG[:TTS]] [default: {' '.join(DEFAULT_CLIPS)}]")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    pace_rows, place_rows, data = [], [], {}
    with tempfile.TemporaryDirectory(prefix="bench-fit-") as tmp:
        for spec in args.clips or [c for c in DEFAULT_CLIPS if c.split(":")[0] != str(SAMPLE) or SAMPLE.is_file()]:
            clip = parse_clip(spec, Path(tmp))
            print(f"dubbing {clip.path.name} into {clip.lang} ...", file=sys.stderr, flush=True)
            report = dub(clip, Path(tmp))
            lines = [s for s in report["segments"] if s.get("natural_duration") and s.get("audio")]
            name = f"{clip.path.name}:{clip.lang}:{report['options']['tts']}"
            before = [(s["source_end"] - s["source_start"]) / s["natural_duration"] for s in lines]
            after = [(s["end"] - s["start"]) / s["natural_duration"] for s in lines]
            borrowed = sum(s.get("borrowed_ms", 0) for s in lines)
            statuses = {k: sum(s.get("fit") == k for s in lines) for k in ("ok", "shortened", "borrowed", "fast", "slow", "over")}
            placed = placement(lines, clip.truth)
            pace_rows.append([name, "before (source slots)", *summary(before), "-"])
            pace_rows.append([name, "after (planned)", *summary(after), f"{borrowed:.0f}"])
            place_rows.append(placement_row(name, placed))
            data[name] = {"before": before, "after": after, "borrowed_ms": borrowed, "statuses": statuses,
                          "speech_rate": [s.get("speech_rate") for s in lines], **placed}
    print(f"Pace = slot / natural length of the line (1 = the voice's own pace; comfort {COMFORT}, hard {HARD}).\n")
    print(table(["clip", "slots", "lines", "median", "p5", "p95", "outside comfort", "outside hard", "ms borrowed"],
                pace_rows))
    print(f"\nWhere the speech sits: silence in each generated line before / after its speech (ms, median / max; "
          f"lines over {LEAD_MS} / {TAIL_MS} ms), and |dubbed onset - source onset| (ms, median / p90; "
          f"targets {ONSET_MEDIAN_MS} / {ONSET_P90_MS}).\n")
    print(table(["clip", "lines", "lead", f"> {LEAD_MS}", "tail", f"> {TAIL_MS}", "onset error", "signed median"],
                place_rows))
    for name, d in data.items():
        fast = d["statuses"]["fast"] + d["statuses"]["over"]
        print(f"\n{name}: line outcomes {d['statuses']} ({fast} fast or over)")
    if args.json:
        args.json.write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
