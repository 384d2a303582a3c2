"""Options of a dub, one frozen record built from defaults and CLI flags."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from pipelines.fit import FitOptions
from pipelines.remix import MixOptions
from pipelines.translators import TranslatorOptions
from tts_core.files import cache_root


@dataclass(frozen=True)
class DubOptions:
    input: Path  # the video (or audio) to dub
    output: Path  # where the dubbed file goes (written atomically)
    lang: str  # target language, ISO 639-1
    source_lang: str | None = None  # None: detected by Whisper
    report: Path | None = None  # JSON report path
    separator: str = "deepfilternet"  # dialogue/background split: deepfilternet | none
    asr: str = "faster-whisper"  # ASR engine (a registry name)
    asr_model: str = "base"  # Whisper model: a name, a local CTranslate2 folder; "base" is bundled
    translator: str = "auto"  # a pipelines.translators name, or auto
    translator_options: TranslatorOptions = field(default_factory=TranslatorOptions)  # model, LLM endpoint
    tts: str = "piper"  # TTS backend name
    voice: str | None = None  # backend voice: name or local path; None = bundled default
    speaker_wav: Path | None = None  # a recording every line's voice approaches; None = each speaker's own
    device: str = "cpu"  # cpu | cuda
    tts_fast: bool = False  # the backend's fast setting (IndexTTS-2: one beam, fewer flow steps)
    emotion: str | None = None  # one emotion for every line (backends with an emotion model)
    line_emotion: bool = True  # an emotion model (IndexTTS-2) hears each line's own source audio
    emotion_alpha: float = 1.0  # how much of that emotion, against the voice's own
    mix: MixOptions = field(default_factory=MixOptions)  # ducking, loudness, true peak
    fit: FitOptions | None = field(default_factory=FitOptions)  # slot planning; None = source slots as is
    keep_original: bool = False  # add the source audio as a second track
    stems: Path | None = None  # folder for dialogue, music-and-effects and mix WAVs
    srt: Path | None = None  # your own (translated) subtitles: skip transcription and translation
    subs: bool = False  # add the dubbed subtitles as a soft track
    speakers: int | None = None  # how many people speak; None = found by diarization
    allow_empty: bool = False  # no speech found: output the original instead of failing
    work_dir: Path | None = None  # stage cache; None = <cache>/work

    @property
    def work_root(self) -> Path:
        return self.work_dir if self.work_dir is not None else cache_root() / "work"

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "DubOptions":
        """The options ``to_dict`` gave (a report's ``options``): how review redoes part of a dub."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("input", "output", "report", "speaker_wav", "stems", "srt", "work_dir"):
            if values.get(name) is not None:
                values[name] = Path(values[name])
        values["mix"] = MixOptions(**values.get("mix", {}))
        values["translator_options"] = TranslatorOptions(**values.get("translator_options", {}))
        fit = values.get("fit", asdict(FitOptions()))
        values["fit"] = None if fit is None else FitOptions(**{k: tuple(v) if isinstance(v, list) else v
                                                               for k, v in fit.items()})
        return cls(**values)
