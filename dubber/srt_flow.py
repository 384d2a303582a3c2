"""Subtitles in, a timed dialogue track out: ``dub srt SUBS -o dialogue.wav``.

Each cue is spoken in its slot, planned by the same fit planner as a video dub, and the
report has the same shape.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pipelines import loudness, synthesize
from pipelines.fit import FitOptions
from pipelines.subtitles import clock, cues_to_segments, read_subtitles
from tts_core.files import cache_root

from . import report as report_mod
from pipelines.errors import InputError, UserError
from pipelines.media import read_wav, wav_info, wav_writer
from .paths import check_creatable, check_folder, check_not_inputs
from .runner import Progress, SilentProgress, Workspace

RATE = 48_000
BLOCK = 30 * RATE  # the track is made, levelled and written this many samples at a time
# A WAV's sizes are 32-bit: 16-bit mono at 48 kHz holds at most this long (about 12 h 25 min).
MAX_SECONDS = (2**32 - 1 - 36) // 2 // RATE


@dataclass(frozen=True)
class SrtOptions:
    input: Path  # SRT, VTT or ASS
    output: Path  # a 16-bit PCM WAV
    lang: str = "en"  # language of the subtitle text
    report: Path | None = None
    tts: str = "piper"
    voice: str | None = None  # backend voice name or path
    speaker_wav: str | None = None  # a recording of the voice to approach
    device: str = "cpu"
    tts_fast: bool = False  # the backend's fast setting (IndexTTS-2: one beam, fewer flow steps)
    emotion: str | None = None  # one emotion for every cue (a name, 8 weights, "auto")
    loudness: float | None = None  # LUFS; None keeps the voice's level (peaks limited to -1 dBTP)
    fit: FitOptions | None = field(default_factory=FitOptions)
    work_dir: Path | None = None

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def dub_subtitles(options: SrtOptions, progress: Progress | None = None) -> dict:
    progress = progress or SilentProgress()
    output = Path(options.output)
    if output.suffix.lower() != ".wav":
        raise UserError(f"the dialogue track is written as WAV: use an output ending in .wav, not {output.name}")
    check_folder(output)
    check_not_inputs([("-o", output), ("--report", options.report)],
                     [("the subtitle file", options.input), ("the --voice recording", options.speaker_wav)])
    work_dir = Path(options.work_dir) if options.work_dir else cache_root() / "work"
    if options.report:
        check_creatable(options.report, "--report")
    check_creatable(work_dir, "--work-dir", folder=True)
    from pipelines.asr import check_language

    lang = check_language(options.lang)
    synthesize.check_language(options.tts, options.voice, lang, options.device, options.speaker_wav,
                              options.tts_fast)
    cues = read_subtitles(options.input)
    segments = [{**seg, "source_text": seg["text"]} for seg in cues_to_segments(cues)]
    end = max(seg["end"] for seg in segments)
    if end + 1.0 > MAX_SECONDS:  # a typo in a timestamp, more often than not
        raise InputError(f"the last cue of {options.input} ends at {clock(end)}: longer than a WAV can hold "
                         f"({clock(MAX_SECONDS)}); check its timestamps, or split the file")

    ws = Workspace(work_dir, progress)
    progress.stage("synthesize", cached=False)
    started = time.perf_counter()
    synth = synthesize.synthesize(ws.root, segments, options.tts, options.voice, options.device, lang, RATE,
                                  progress.task, fit=options.fit, programme_end=end + 1.0,
                                  speaker_wav=options.speaker_wav, fast=options.tts_fast,
                                  emotion=synthesize.EmotionOptions(fixed=options.emotion))
    ws.timings["synthesize"] = time.perf_counter() - started
    progress.done("synthesize", ws.timings["synthesize"])

    progress.stage("remix", cached=False)
    started = time.perf_counter()
    lines = synth["lines"]
    length = int(np.ceil(max([end] + [line["end"] for line in lines]) * RATE))
    # Block by block, from the line files: hours of timeline never sit in memory as one array.
    spans = sorted((start, start + wav_info(line["audio"]).frames, line["audio"]) for line in lines
                   if line.get("audio") for start in [int(round(line["start"] * RATE))])

    def track():
        first = 0
        for a in range(0, length, BLOCK):
            b = min(a + BLOCK, length)
            block = np.zeros(b - a, np.float32)
            while first < len(spans) and spans[first][1] <= a:
                first += 1
            for start, stop, path in spans[first:]:
                if start >= b:
                    break
                if stop > a:
                    audio, _ = read_wav(path)
                    lo, hi = max(start, a), min(stop, b)
                    block[lo - a:hi - a] += audio[lo - start:hi - start]
            yield block

    if options.loudness is not None:
        gain = loudness.level(track, RATE, options.loudness, -1.5).factor
        pieces = loudness.limited((block * gain for block in track()), RATE, -1.5)
    else:
        pieces = loudness.limited(track(), RATE, -1.5)
    meter, peak = loudness.LoudnessMeter(RATE), loudness.TruePeakMeter()
    with wav_writer(output, RATE, 1) as out:
        for piece in pieces:
            out.write(piece)
            meter.add(piece)
            peak.add(piece)
    ws.timings["remix"] = time.perf_counter() - started
    progress.done("remix", ws.timings["remix"])

    result = report_mod.build(options, None, ws.timings, {}, lines, length / RATE)
    result["mix"] = {"lufs": meter.value(), "true_peak": peak.value()}
    if options.report:
        report_mod.write(Path(options.report), result)
    return result
