"""The stages of a dub, each a ``pipelines.stage.Stage``: extract -> separate -> transcribe ->
diarize -> translate -> synthesize -> remix. Each reads records from the ``Job`` and
returns its own; the work itself is in the stage's module (``pipelines/extract.py``...).

A video dub runs them all; subtitles in (``dub srt``, ``dub video --srt``) start from a
translation and run fewer; a stage-major batch runs one stage over many jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from tts_core.files import sha256_file

from . import asr, diarize, extract, remix, separate, synthesize, translate
from .fit import FitOptions
from .records import Audio, Mix, Speakers, Stems, Synthesis, Transcript, Translation
from .remix import MixOptions
from .stage import Job, Stage, Task
from .translators import BACKENDS as TRANSLATORS, TranslatorOptions, get_translator

# Subtitles in: the last line may borrow up to this long after its cue ends.
SUBTITLE_TAIL = 1.0
ASR_VERSION = asr.VERSION  # (the Transcribe stage has an option named asr)


@dataclass(frozen=True)
class Extract(Stage):
    name: ClassVar[str] = "extract"
    version: ClassVar[str] = extract.VERSION
    output: ClassVar[str] = "audio"

    def key(self, job):
        return {"sha256": job.source.sha256}

    def run(self, job, folder, task):
        return Audio.from_dict(extract.extract(job.source.path, folder), folder)


@dataclass(frozen=True)
class Separate(Stage):
    separator: str = "deepfilternet"
    name: ClassVar[str] = "separate"
    version: ClassVar[str] = separate.VERSION
    output: ClassVar[str] = "stems"

    def key(self, job):
        return {"audio": job.audio.audio}

    def run(self, job, folder, task):
        return Stems.from_dict(separate.separate(job.audio.audio, self.separator, folder, task), folder)


@dataclass(frozen=True)
class Transcribe(Stage):
    """Whisper hears the programme itself: on real speech over music it transcribed (and
    found onsets) better than on the enhanced dialogue (bench.separation, the sample). The
    VAD that snaps each line to its voice also hears the dialogue, where music does not mask
    a voice's first syllable."""

    asr: str = "faster-whisper"
    model: str = "base"
    lang: str | None = None  # the language spoken; None: detected
    device: str = "cpu"
    # Whisper started on the programme while the separator ran (not an option: same output).
    ahead: asr.Ahead | None = field(default=None, compare=False)
    name: ClassVar[str] = "transcribe"
    version: ClassVar[str] = ASR_VERSION
    output: ClassVar[str] = "transcript"

    def options(self):
        return {"asr": self.asr, "model": self.model, "lang": self.lang}

    def key(self, job):
        return {"audio": job.audio.audio, "dialogue": job.stems.dialogue}

    def start_ahead(self, job: Job) -> "Transcribe":
        """This stage with Whisper already hearing the programme (it needs no stems for that)."""
        return replace(self, ahead=asr.Ahead(job.audio.audio, self.asr, self.model, self.lang, self.device))

    def run(self, job, folder, task):
        found = asr.transcribe(job.audio.audio, self.asr, self.model, self.lang, self.device, task,
                               voice_wav=job.stems.dialogue, ahead=self.ahead)
        return Transcript.from_dict(found)


@dataclass(frozen=True)
class Diarize(Stage):
    speakers: int | None = None  # how many; None: found
    name: ClassVar[str] = "diarize"
    version: ClassVar[str] = diarize.VERSION
    output: ClassVar[str] = "speakers"

    def key(self, job):
        return {"segments": [(s.start, s.end) for s in job.transcript.segments], "dialogue": job.stems.dialogue}

    def warm(self):
        diarize.warm()

    def run(self, job, folder, task):
        segments = [s.to_dict() for s in job.transcript.segments]
        return Speakers.from_dict(diarize.diarize_stage(job.stems.dialogue, segments, self.speakers, folder), folder)


@dataclass(frozen=True)
class Translate(Stage):
    target: str = "en"
    translator: str = "auto"
    asr: str = "faster-whisper"  # Whisper translates from the audio
    model: str = "base"
    device: str = "cpu"
    translator_options: TranslatorOptions = field(default_factory=TranslatorOptions)
    name: ClassVar[str] = "translate"
    version: ClassVar[str] = translate.VERSION
    output: ClassVar[str] = "translation"

    def options(self):
        return {"target": self.target, "translator": self.translator, "asr": self.asr, "model": self.model,
                **self.translator_options.cache_key()}

    def key(self, job):
        return {"audio": job.audio.audio, "language": job.transcript.language,
                "segments": [(s.start, s.end, s.text) for s in job.transcript.segments]}

    def run(self, job, folder, task):
        segments = [s.to_dict() for s in job.transcript.segments]
        done = translate.translate(job.audio.audio, segments, job.transcript.language, self.target, self.translator,
                                   self.asr, self.model, self.device, task, self.translator_options)
        return Translation.from_dict(done)


@dataclass(frozen=True)
class Synthesize(Stage):
    """Plan every line's slot and generate it to exactly that length. Lines are also cached
    one by one in ``line_cache`` (shared by every run of the work folder), so an edited
    line alone is redone."""

    lang: str = "en"
    tts: str = "piper"
    voice: str | None = None
    speaker_wav: str | None = None  # one recording every line approaches
    device: str = "cpu"
    fast: bool = False
    fit: FitOptions | None = field(default_factory=FitOptions)
    emotion: str | None = None
    emotion_alpha: float = 1.0
    line_emotion: bool = True  # an emotion model hears each line's own source audio
    rate: int = extract.MIX_RATE
    translator_options: TranslatorOptions = field(default_factory=TranslatorOptions)  # for rewriting
    line_cache: Path | None = None
    name: ClassVar[str] = "synthesize"
    version: ClassVar[str] = synthesize.VERSION
    output: ClassVar[str] = "synthesis"

    def options(self):
        out = super().options()
        for unkeyed in ("device", "line_cache", "translator_options", "speaker_wav"):
            del out[unkeyed]
        return {**out, **self.translator_options.cache_key()}

    def lines(self, job: Job) -> Translation:
        """What is said, and by whom (diarization, when the lines are a transcript's)."""
        return job.translation.with_speakers(job.speakers)

    def end(self, job: Job) -> float:
        return job.audio.duration if job.audio is not None else job.end + SUBTITLE_TAIL

    def emotions(self, job: Job) -> synthesize.EmotionOptions:
        dialogue = job.stems.dialogue if job.stems is not None and self.line_emotion else None
        return synthesize.EmotionOptions(fixed=self.emotion, alpha=self.emotion_alpha,
                                         dialogue=str(dialogue) if dialogue else None)

    def rewriter(self, job: Job):
        """The fit planner's third resort: the translator that made a line rewrites it to a
        length, when it can (an LLM can; a phrase-table model cannot)."""
        name = self.rewriter_name(job)
        if name is None:
            return None
        translator = get_translator(name, self.translator_options, self.device)
        return lambda text, source_text, factor: translator.rewrite(text, source_text, self.lang, factor)

    def key(self, job):
        return {"segments": [line.to_dict() for line in self.lines(job).segments], "end": self.end(job),
                "speaker_wav": sha256_file(self.speaker_wav) if self.speaker_wav else None,
                "rewriter": self.rewriter_name(job),
                "emotion_from": self.emotions(job).dialogue}

    def rewriter_name(self, job: Job) -> str | None:
        name = job.translation.translator
        return name if name in TRANSLATORS and TRANSLATORS[name].can_rewrite else None

    def warm(self):
        synthesize.warm(self.tts, self.voice, self.device, self.lang, self.fast)

    def speaker_clips(self, job: Job) -> list[str]:
        """The clips of the speakers (from diarization) this stage's voice follows: none with
        one recording for every line (--voice), or with a backend that follows none."""
        from tts_core.backends import get_backend

        if self.speaker_wav is not None or job.speakers is None or not get_backend(self.tts).supports_voice_reference:
            return []
        # The same strings the lines carry (Translation.with_speakers), so the matches are found.
        return [str(path) for path in job.speakers.references.values()]

    def prepare(self, job):
        clips = self.speaker_clips(job)
        if clips:
            synthesize.prepare_voices(self.tts, self.voice, self.device, self.lang, clips, self.fast)

    def run(self, job, folder, task):
        segments = [line.to_dict() for line in self.lines(job).segments]
        done = synthesize.synthesize(self.line_cache or folder, segments, self.tts, self.voice, self.device,
                                     self.lang, self.rate, task, fit=self.fit, programme_end=self.end(job),
                                     speaker_wav=self.speaker_wav, rewrite=self.rewriter(job),
                                     emotion=self.emotions(job), fast=self.fast)
        return Synthesis.from_dict(done)


@dataclass(frozen=True)
class Remix(Stage):
    """The lines over the background, ducked, levelled and limited; subtitles in (no
    programme), the lines alone at their own level unless a loudness is asked for."""

    mix: MixOptions = field(default_factory=MixOptions)
    hold: tuple[float, float] | None = None  # (voice gain, mix gain dB) kept from an earlier mix
    encode: str | None = None  # the output's codec, to encode while mixing (mux.encode_ahead)
    name: ClassVar[str] = "remix"
    version: ClassVar[str] = remix.VERSION
    output: ClassVar[str] = "mix"

    def duration(self, job: Job) -> float:
        if job.audio is not None:
            return job.audio.duration
        return max([job.end] + [line.end for line in job.synthesis.lines])

    def key(self, job):
        return {"audio": job.audio.audio if job.audio else None, "stems": job.stems,
                "lines": [(line.audio, line.start) for line in job.synthesis.lines], "duration": self.duration(job),
                "rate": job.synthesis.sample_rate}

    def warm(self):
        remix.warm()

    def run(self, job, folder, task):
        lines = [line.to_dict() for line in job.synthesis.lines]
        stems = job.stems
        done = remix.remix(job.audio.audio if job.audio else None, stems.background if stems else None,
                           stems.dialogue if stems else None, lines, self.duration(job), folder, self.mix,
                           rate=job.synthesis.sample_rate, hold=self.hold, encode=self.encode)
        return Mix.from_dict(done, folder)


# The video dub's stages, in order.
VIDEO = (Extract, Separate, Transcribe, Diarize, Translate, Synthesize, Remix)
