"""Subtitles in, a timed dialogue track out: ``dub srt SUBS -o dialogue.wav``.

The same stages as a video dub, from the translation on: each cue is spoken in its slot,
planned by the same fit planner, and mixed by the same remix (with no programme under it),
and the report has the same shape.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipelines import synthesize
from pipelines.fit import FitOptions
from pipelines.records import Line, Translation
from pipelines.remix import MixOptions
from pipelines.stage import Job
from pipelines.stages import Remix, Synthesize
from pipelines.subtitles import clock, cues_to_segments, read_subtitles
from tts_core.files import atomic_path, cache_root

from . import report as report_mod
from pipelines.errors import InputError, UserError
from .paths import check_creatable, check_folder, check_not_inputs
from .runner import Progress, SilentProgress, Workspace

RATE = 48_000
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
    job = Job(translation=Translation("subtitles", [Line.from_dict(seg) for seg in segments]), end=end)
    flow = [Synthesize(lang, options.tts, options.voice, options.speaker_wav, options.device, options.tts_fast,
                       options.fit, options.emotion, rate=RATE, line_cache=ws.root),
            Remix(MixOptions(loudness=options.loudness))]
    for stage in flow:
        job = ws.run_stage(stage, job)
    with ws.step("write"):
        with atomic_path(output, suffix=".wav") as tmp:
            shutil.copyfile(job.mix.mix, tmp)

    result = report_mod.build(options, None, ws.timings, ws.cached, job.synthesis.lines, job.mix.samples / RATE,
                              job.mix)
    if options.report:
        report_mod.write(Path(options.report), result)
    return result
