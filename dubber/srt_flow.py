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
from pipelines.subtitles import cues_to_segments, read_subtitles
from tts_core.files import cache_root

from . import report as report_mod
from .errors import UserError
from .media import read_wav, write_wav
from .runner import Progress, SilentProgress, Workspace

RATE = 48_000


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
    if not output.resolve().parent.is_dir():
        raise UserError(f"output folder {output.resolve().parent} does not exist: create it or choose another -o")
    from pipelines.asr import check_language

    lang = check_language(options.lang)
    synthesize.check_language(options.tts, options.voice, lang, options.device, options.speaker_wav)
    cues = read_subtitles(options.input)
    segments = [{**seg, "source_text": seg["text"]} for seg in cues_to_segments(cues)]
    end = max(seg["end"] for seg in segments)

    ws = Workspace(Path(options.work_dir) if options.work_dir else cache_root() / "work", progress)
    progress.stage("synthesize", cached=False)
    started = time.perf_counter()
    synth = synthesize.synthesize(ws, segments, options.tts, options.voice, options.device, lang, RATE,
                                  progress.task, fit=options.fit, programme_end=end + 1.0,
                                  speaker_wav=options.speaker_wav)
    ws.timings["synthesize"] = time.perf_counter() - started
    progress.done("synthesize", ws.timings["synthesize"])

    progress.stage("remix", cached=False)
    started = time.perf_counter()
    lines = synth["lines"]
    length = int(np.ceil(max([end] + [line["end"] for line in lines]) * RATE))
    track = np.zeros(length, np.float32)
    for line in lines:
        if line.get("audio"):
            audio, _ = read_wav(line["audio"])
            a = int(round(line["start"] * RATE))
            track[a:a + len(audio)] += audio[: length - a]
    if options.loudness is not None:
        track, _, _ = loudness.normalize(track, RATE, options.loudness, -1.5)
    else:
        track = loudness.limit(track, RATE, -1.5)
    write_wav(output, track, RATE)
    ws.timings["remix"] = time.perf_counter() - started
    progress.done("remix", ws.timings["remix"])

    result = report_mod.build(options, None, ws.timings, {}, lines, length / RATE)
    result["mix"] = {"lufs": loudness.integrated_loudness(track, RATE), "true_peak": loudness.true_peak(track)}
    if options.report:
        report_mod.write(Path(options.report), result)
    return result
