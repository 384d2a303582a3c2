"""The video dub, stage by stage: extract -> separate -> transcribe -> diarize ->
translate -> synthesize (fit planner + TTS) -> remix -> mux; with ``--srt`` your own
subtitles replace transcription and translation. Each stage's cache key is built from
the folders of the stages it reads, so a change redoes only what depends on it."""

from __future__ import annotations

import functools
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from pipelines import asr, diarize, extract, mux, remix, separate, synthesize, translate
from pipelines.subtitles import Cue, clock, cues_to_segments, read_subtitles, write_srt, write_vtt
from tts_core.files import atomic_path, sha256_file

from . import report as report_mod
from .config import DubOptions
from pipelines.errors import InputError, UserError
from pipelines.media import probe
from .paths import check_creatable, check_folder, check_not_inputs, same_file
from .runner import Progress, SilentProgress, Workspace


def check_paths(source: Path, output: Path) -> None:
    if not source.exists():
        raise InputError(f"input not found: {source}: check the path")
    if same_file(output, source):
        raise UserError(f"the output {output} is the input: choose another output path with -o")
    check_folder(output)


STEMS = (("dialogue.wav", "dialogue"), ("music_effects.wav", "music_effects"), ("mix.wav", "mix"))


def write_stems(folder: Path, mix_dir: Path, mixed: dict) -> None:
    """Dialogue, music-and-effects and mix WAVs for post-production (each written atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, key in STEMS:
        with atomic_path(folder / name, suffix=".wav") as tmp:
            shutil.copyfile(mix_dir / mixed[key], tmp)


def input_digest(path: Path) -> str:
    """SHA-256 of the input, remembered per (path, size, mtime) within a process: a
    stage-major batch enters the dub once per stage, and hours of video take seconds to hash."""
    st = path.stat()
    return _digest(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def spoken_or_und(transcript: dict) -> str:
    return transcript.get("language") or "und"


def _can_rewrite(name: str | None) -> bool:
    from pipelines.translators import BACKENDS

    return bool(name in BACKENDS and BACKENDS[name].can_rewrite)


def rewriter(name: str | None, lang: str, options: DubOptions):
    """The fit planner's third resort: the translator that made a line rewrites it to a
    length, when it can (an LLM can; a phrase-table model cannot)."""
    if not _can_rewrite(name):
        return None
    from pipelines.translators import get_translator

    translator = get_translator(name, options.translator_options, options.device)
    return lambda text, source_text, factor: translator.rewrite(text, source_text, lang, factor)


def subtitle_paths(output: Path, code: str) -> tuple[Path, Path]:
    """The SRT and VTT of one language written beside the output."""
    return output.with_name(f"{output.stem}.{code}.srt"), output.with_name(f"{output.stem}.{code}.vtt")


def check_writes(options: DubOptions, source: Path, output: Path) -> None:
    """Nothing the dub writes lands on a file it reads (see ``dubber.paths``)."""
    codes = [options.lang] + ([options.source_lang] if options.source_lang and not options.srt else [])
    sidecars = [("-o", path, "its subtitles") for code in codes for path in subtitle_paths(output, code)]
    stems = [("--stems", Path(options.stems) / name) for name, _ in STEMS] if options.stems else []
    check_not_inputs([("-o", output), ("--report", options.report), *sidecars, *stems],
                     [("the input", source), ("the --srt file", options.srt),
                      ("the --voice recording", options.speaker_wav)])
    if options.report:
        check_creatable(options.report, "--report")
    for option, folder in (("--stems", options.stems), ("--work-dir", options.work_root)):
        if folder:
            check_creatable(folder, option, folder=True)


def write_subtitles(output: Path, lines: list[dict], transcript: dict | None, lang: str,
                    spoken: str | None) -> dict[str, Path]:
    """SRT and VTT of what is said (on the dubbed timeline) and, when it was transcribed,
    of what the source said, next to the output: ``OUT.en.srt``, ``OUT.es.vtt``...
    Speaker names are written only when they came from the user's subtitles (the labels
    diarization gives, S1, S2..., mean nothing to a viewer)."""
    written = {}
    named = transcript is None
    dubbed = [Cue(i, line["start"], line["end"], line["text"], line.get("speaker") if named else None)
              for i, line in enumerate(lines) if line.get("text") and line["end"] > line["start"]]
    tracks = {lang: dubbed}
    if transcript is not None and spoken and spoken != lang:
        tracks[spoken] = [Cue(i, seg["start"], seg["end"], seg["text"]) for i, seg in enumerate(transcript["segments"])]
    for code, cues in tracks.items():
        srt, vtt = subtitle_paths(output, code)
        written[code] = write_srt(cues, srt)
        write_vtt(cues, vtt)
    return written


# The stages in order; "mux" stands for remix and mux, the end of the dub.
STAGES = ("extract", "separate", "transcribe", "diarize", "translate", "synthesize", "mux")


def dub_video(options: DubOptions, progress: Progress | None = None, until: str | None = None) -> dict:
    """Dub ``options.input``; return the report. With ``until`` (a name in ``STAGES``), stop
    once that stage is in the cache and return ``{"until", "stages", "cached"}`` instead: a
    stage-major batch runs one stage over all its files before the next stage loads its
    model."""
    if until is not None and until not in STAGES:
        raise ValueError(f"unknown stage {until!r}: one of {', '.join(STAGES)}")
    progress = progress or SilentProgress()

    def reached(stage: str) -> bool:
        return until is not None and STAGES.index(stage) >= STAGES.index(until)

    def partial() -> dict:
        return {"until": until, "stages": dict(ws.timings), "cached": dict(ws.cached)}

    source, output = Path(options.input), Path(options.output)
    check_paths(source, output)
    lang = asr.check_language(options.lang)
    source_lang = asr.check_language(options.source_lang) if options.source_lang else None
    separate.get_separator(options.separator)  # an unknown name fails before any work
    if source_lang and not options.srt:  # a pair no translator covers fails before any work too
        translate.choose(options.translator, source_lang, lang, options.translator_options)
    asr.check_backend(options.asr)
    if until in (None, STAGES[0]):  # a stage-major batch checks once, not in every stage
        synthesize.check_language(options.tts, options.voice, lang, options.device,
                                  str(options.speaker_wav) if options.speaker_wav else None, options.tts_fast)
    check_writes(options, source, output)
    info = probe(source)
    if not info.has_audio:
        raise InputError(f"{source} has no audio stream: there is no dialogue to dub; give the file with its sound")
    if until in (None, STAGES[0]):  # a container that cannot hold this dub fails now, not after the synthesis
        mux.check(source, output, info.has_video, subtitles=options.subs)
    # Your own subtitles are read now: a file that is not subtitles, or that is not this
    # video's, fails before any stage runs.
    cues = read_subtitles(options.srt) if options.srt else None
    if cues and info.duration > 0:  # 0: a container that does not say how long it is
        late = [cue for cue in cues if cue.start >= info.duration]
        if late:
            after = f"after the end of {source} ({clock(info.duration)})"
            which = (f"{len(late)} cues of {options.srt} start {after}, the first at {clock(late[0].start)}"
                     if len(late) > 1 else f"a cue of {options.srt} starts at {clock(late[0].start)}, {after}")
            raise InputError(f"{which}: give the subtitles of this video")

    ws = Workspace(Path(options.work_root), progress)
    task = progress.task
    input_key = {"sha256": input_digest(source)}
    ext_dir, ext = ws.run("extract", extract.VERSION, input_key, lambda f: extract.extract(source, f))
    if reached("extract"):
        return partial()
    sep_dir, sep = ws.run(
        "separate", separate.VERSION, {"from": ext_dir.name, "separator": options.separator},
        lambda f: separate.separate(ext_dir / ext["audio"], options.separator, f, task),
    )
    dialogue = sep_dir / sep["dialogue"]
    if reached("separate"):
        return partial()
    if options.srt:
        # Your own subtitles: no transcription or translation; they are what gets said.
        spoken = source_lang
        transcript = None
        translated = {"translator": "subtitles", "segments": [
            {**seg, "source_text": ""} for seg in cues_to_segments(cues)]}
    else:
        # Whisper hears the programme itself: on real speech over music it transcribed (and
        # found onsets) better than on the enhanced dialogue (bench.separation, the sample).
        # The VAD that snaps each line to its voice also hears the dialogue, where music does
        # not mask a voice's first syllable.
        programme = ext_dir / ext["audio"]
        asr_dir, transcript = ws.run(
            "transcribe", asr.VERSION,
            {"from": ext_dir.name, "asr": options.asr, "model": options.asr_model, "lang": source_lang,
             "voice": sep_dir.name},
            lambda f: asr.transcribe(programme, options.asr, options.asr_model, source_lang, options.device, task,
                                     voice_wav=dialogue),
        )
        if not transcript["segments"]:
            if not options.allow_empty:
                raise InputError(f"no speech found in {source}: nothing to dub (--allow-empty outputs the original)")
            mux.mux(source, ext_dir / ext["audio"], output, ext["has_video"], spoken_or_und(transcript))
            result = report_mod.build(options, transcript["language"], ws.timings, ws.cached, [], ext["duration"])
            if options.report:
                report_mod.write(Path(options.report), result)
            return result
        spoken = transcript["language"]
        if reached("transcribe"):
            return partial()
        dia_dir, speakers = ws.run(
            "diarize", diarize.VERSION, {"from": asr_dir.name, "speakers": options.speakers},
            lambda f: diarize.diarize_stage(dialogue, transcript["segments"], options.speakers, f),
        )
        for seg, label in zip(transcript["segments"], speakers["labels"]):
            seg["speaker"] = label
            if label in speakers["references"]:
                seg["reference"] = str(dia_dir / speakers["references"][label])
        if reached("diarize"):
            return partial()
        _, translated = ws.run(
            "translate", translate.VERSION,
            {"from": asr_dir.name, "target": lang, "translator": options.translator, "asr": options.asr,
             "model": options.asr_model, **options.translator_options.cache_key()},
            lambda f: translate.translate(programme, transcript["segments"], spoken, lang, options.translator,
                                          options.asr, options.asr_model, options.device, task,
                                          options.translator_options),
        )
    if reached("translate"):  # with --srt, the subtitles stand for transcription and translation
        return partial()
    if transcript is not None:  # who speaks each line (and a clip of their voice) follows the line
        for seg, heard in zip(translated["segments"], transcript["segments"]):
            seg.update({k: heard[k] for k in ("speaker", "reference") if k in heard})
    # A backend with an emotion model hears each line's own source audio (the separated
    # dialogue, whose digest is in the stage's key through its folder) unless told otherwise.
    emotion = synthesize.EmotionOptions(fixed=options.emotion, alpha=options.emotion_alpha,
                                        dialogue=str(dialogue) if options.line_emotion else None)
    _, synth = ws.run(
        "synthesize", synthesize.VERSION,
        {"segments": translated["segments"], "tts": options.tts, "voice": options.voice, "lang": lang,
         "rate": extract.MIX_RATE, "fit": asdict(options.fit) if options.fit else None, "end": ext["duration"],
         "speaker_wav": input_digest(Path(options.speaker_wav)) if options.speaker_wav else None,
         "rewriter": translated.get("translator") if _can_rewrite(translated.get("translator")) else None,
         "fast": options.tts_fast, "emotion": asdict(emotion), **options.translator_options.cache_key()},
        lambda f: synthesize.synthesize(ws.root, translated["segments"], options.tts, options.voice, options.device, lang,
                                        extract.MIX_RATE, task, fit=options.fit, programme_end=ext["duration"],
                                        speaker_wav=str(options.speaker_wav) if options.speaker_wav else None,
                                        rewrite=rewriter(translated.get("translator"), lang, options),
                                        emotion=emotion, fast=options.tts_fast),
    )
    if reached("synthesize"):
        return partial()
    lines = synth["lines"]
    mix_dir, mixed = ws.run(
        "remix", remix.VERSION,
        {"from": sep_dir.name, "lines": [(line.get("audio"), line["start"]) for line in lines],
         "duration": ext["duration"], "mix": asdict(options.mix)},
        lambda f: remix.remix(ext_dir / ext["audio"], sep_dir / sep["background"], dialogue, lines,
                              ext["duration"], f, options.mix),
    )
    progress.stage("mux", cached=False)
    start = time.perf_counter()
    subs = write_subtitles(output, lines, transcript, lang, spoken)
    mux.mux(source, mix_dir / mixed["mix"], output, ext["has_video"], lang, keep_original=options.keep_original,
            source_lang=spoken, subtitles=subs[lang] if options.subs else None)
    if options.stems:
        write_stems(Path(options.stems), mix_dir, mixed)
    ws.timings["mux"] = time.perf_counter() - start
    progress.done("mux", ws.timings["mux"])

    result = report_mod.build(options, spoken, ws.timings, ws.cached, lines, ext["duration"])
    result["mix"] = {k: mixed[k] for k in ("source_lufs", "target_lufs", "lufs", "true_peak", "voice_gain", "cut_ms")}
    if options.report:
        report_mod.write(Path(options.report), result)
    return result
