"""The video dub, stage by stage: extract -> separate -> transcribe -> diarize ->
translate -> synthesize (fit planner + TTS) -> remix -> mux; with ``--srt`` your own
subtitles replace transcription and translation. The stages are ``pipelines.stages``, run
one after the other on a ``Job`` by the runner; each one's cache key is built from the
records it reads, so a change redoes only what depends on it."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path

from pipelines import asr, extract, mux, separate, synthesize, translate, whisper_model
from pipelines.cache import stable_hash
from pipelines.records import Line, Mix, Source, SpokenLine, Transcript, Translation, to_json
from pipelines.stage import Job, Stage
from pipelines.stages import Diarize, Extract, Remix, Separate, Synthesize, Transcribe, Translate
from pipelines.subtitles import Cue, clock, cues_to_segments, read_subtitles, write_srt, write_vtt
from tts_core.files import atomic_path, sha256_file

from . import report as report_mod
from .config import DubOptions
from pipelines.errors import InputError, UserError
from pipelines.media import probe
from .project import Edit, Project, delivered, project_path, read_project
from .paths import check_creatable, check_folder, check_not_inputs, same_file
from .runner import Background, Progress, SilentProgress, Workspace, warm_ahead


def check_paths(source: Path, output: Path) -> None:
    if not source.exists():
        raise InputError(f"input not found: {source}: check the path")
    if same_file(output, source):
        raise UserError(f"the output {output} is the input: choose another output path with -o")
    check_folder(output)


STEMS = (("dialogue.wav", "dialogue"), ("music_effects.wav", "music_effects"), ("mix.wav", "mix"))


def write_stems(folder: Path, mix: Mix) -> None:
    """Dialogue, music-and-effects and mix WAVs for post-production (each written atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, key in STEMS:
        with atomic_path(folder / name, suffix=".wav") as tmp:
            shutil.copyfile(getattr(mix, key), tmp)


def input_digest(path: Path) -> str:
    """SHA-256 of the input, remembered per (path, size, mtime) within a process: a
    stage-major batch enters the dub once per stage, and hours of video take seconds to hash."""
    st = path.stat()
    return _digest(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def subtitle_paths(output: Path, code: str) -> tuple[Path, Path]:
    """The SRT and VTT of one language written beside the output."""
    return output.with_name(f"{output.stem}.{code}.srt"), output.with_name(f"{output.stem}.{code}.vtt")


def check_writes(options: DubOptions, source: Path, output: Path) -> None:
    """Nothing the dub writes lands on a file it reads (see ``dubber.paths``)."""
    codes = [options.lang] + ([options.source_lang] if options.source_lang and not options.srt else [])
    sidecars = [("-o", path, "its subtitles") for code in codes for path in subtitle_paths(output, code)]
    sidecars.append(("-o", project_path(output), "its project file"))
    stems = [("--stems", Path(options.stems) / name) for name, _ in STEMS] if options.stems else []
    check_not_inputs([("-o", output), ("--report", options.report), *sidecars, *stems],
                     [("the input", source), ("the --srt file", options.srt),
                      ("the --voice recording", options.speaker_wav)])
    if options.report:
        check_creatable(options.report, "--report")
    for option, folder in (("--stems", options.stems), ("--work-dir", options.work_root)):
        if folder:
            check_creatable(folder, option, folder=True)


def write_subtitles(output: Path, lines: list[SpokenLine], transcript: Transcript | None, lang: str,
                    spoken: str | None) -> dict[str, Path]:
    """SRT and VTT of what is said (on the dubbed timeline) and, when it was transcribed,
    of what the source said, next to the output: ``OUT.en.srt``, ``OUT.es.vtt``...
    Speaker names are written only when they came from the user's subtitles (the labels
    diarization gives, S1, S2..., mean nothing to a viewer)."""
    written = {}
    named = transcript is None
    dubbed = [Cue(i, line.start, line.end, line.text, line.speaker if named else None)
              for i, line in enumerate(lines) if line.text and line.end > line.start]
    tracks = {lang: dubbed}
    if transcript is not None and spoken and spoken != lang:
        tracks[spoken] = [Cue(i, seg.start, seg.end, seg.text) for i, seg in enumerate(transcript.segments)]
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

    def beyond(stage: Stage) -> bool:
        """Whether ``stage`` comes after ``until`` (remix is part of "mux", the end)."""
        return until is not None and STAGES.index(stage.name if stage.name in STAGES else "mux") > STAGES.index(until)

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
    if not options.srt and options.asr == "faster-whisper":  # a model folder that is not there fails now
        whisper_model.resolve(options.asr_model)
    voice_check = None
    if until in (None, STAGES[0]):  # a stage-major batch checks once, not in every stage
        # Loading the voice is the check (0.3-0.4 s): it runs while the input is probed and its
        # audio extracted, and is waited for before the next stage, so a voice that cannot
        # speak the language still fails before any other work.
        voice_check = Background(functools.partial(
            synthesize.check_language, options.tts, options.voice, lang, options.device,
            str(options.speaker_wav) if options.speaker_wav else None, options.tts_fast), name="voice-check")
    check_writes(options, source, output)
    info = probe(source)
    if not info.has_audio:
        raise InputError(f"{source} has no audio stream: there is no dialogue to dub; give the file with its sound")
    if until in (None, STAGES[0]):  # a container that cannot hold this dub fails now, not after the synthesis
        mux.check(source, output, info.has_video, subtitles=options.subs, keep_original=options.keep_original)
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
    job = Job(source=Source(source, input_digest(source)))
    if cues is not None:  # your own subtitles are what gets said: no transcription or translation
        job = job.replace(translation=Translation("subtitles", [
            Line.from_dict({**seg, "source_text": ""}) for seg in cues_to_segments(cues)]))
    # The project file of an earlier dub of this output, read once: review's edited texts are
    # kept by a rerun, and an output nothing has touched since is not muxed again.
    previous = read_project(output)
    edited = previous.edited_texts(job.source.sha256) if previous else {}
    listed = stages(options, ws.root)
    n = 0
    while n < len(listed):
        stage = listed[n]
        if beyond(stage):
            if voice_check is not None:
                voice_check.result()
            return partial()
        following = listed[n + 1] if n + 1 < len(listed) else None
        # Stages that do not need each other's output overlap on the two cores a dub has (a
        # stage-major batch keeps one model in memory at a time instead, so not there):
        if (isinstance(stage, Separate) and isinstance(following, Transcribe) and until is None
                and not ws.is_cached(stage, job)):
            # Whisper hears the programme, not the stems: it runs while the separator does.
            listed[n + 1] = following.start_ahead(job)
        if voice_check is not None and n > 0:  # Whisper, just started, loads meanwhile
            voice_check.result()  # its error, if any, is the dub's
            voice_check = None
        if isinstance(stage, Transcribe) and stage.ahead is not None:
            # Whisper's last seconds leave part of a core idle and the GIL mostly free: the
            # stages after it load their libraries and models meanwhile (torch for the
            # speaker encoder, scipy's filters: ~1.5 s that would otherwise wait in line).
            warm_ahead(listed[n + 1:])
        if isinstance(stage, Diarize) and isinstance(following, Translate) and until is None:
            # Both read the transcript alone; once the speakers are known, their voices are
            # matched (the synthesis's first work) while the translation may still run.
            synth = next((s for s in listed[n + 2:] if isinstance(s, Synthesize)), None)

            def voices(speakers: Job) -> None:
                if synth.speaker_clips(speakers):
                    with ws.step("voices"):  # in the report beside the stages: it is the synthesis's work
                        synth.prepare(speakers)

            job = ws.run_together([stage, following], job, then=voices if synth is not None else None)
            n += 2
            continue
        if isinstance(stage, Synthesize):
            job = with_edits(job, edited)
        job = ws.run_stage(stage, job)
        if job.transcript is not None and not job.transcript.segments:
            return _nothing_said(options, ws, job, source, output)
        n += 1

    spoken = job.transcript.language if job.transcript else source_lang
    # Their audio was just made from the edited texts: what review kept is the text alone.
    return deliver(options, ws, job, spoken, previous, {i: Edit(changes={"text": t}) for i, t in edited.items()})


def deliver(options: DubOptions, ws: Workspace, job: Job, spoken: str | None, previous: Project | None,
            edits: dict[int, Edit]) -> dict:
    """The end of a dub (and of a review's render): the video muxed with the new mix, its
    subtitles, stems, the report and the project file review opens (with ``edits``).
    ``previous`` is the project file already beside the output, if any."""
    output, lang = Path(options.output), options.lang
    lines, mix = job.synthesis.lines, job.mix
    with ws.step("mux"), tempfile.TemporaryDirectory(prefix=".dub-subs-", dir=output.parent) as staging:
        # The subtitles are made beside the output but put in place only once it is: a run
        # that fails leaves none of its files, and the earlier run's all.
        staged = write_subtitles(Path(staging) / output.name, lines, job.transcript, lang, spoken)
        track = staged[lang] if options.subs else None
        # Everything the muxed file is made from: a rerun that finds it unchanged skips the mux.
        key = stable_hash("mux", mux.VERSION, {"input": job.source.sha256, "mix": to_json(mix.mix, ws.root),
                                               "lang": lang, "spoken": spoken, "keep": options.keep_original,
                                               "subs": sha256_file(track) if track else None})
        if previous is None or not previous.still_delivered(output, key):
            mux.mux(Path(options.input), mix.mix, output, job.audio.has_video, lang,
                    keep_original=options.keep_original, source_lang=spoken, subtitles=track,
                    encoded=(mix.encoded, mix.codec) if mix.encoded is not None else None)
        for code in staged:
            for made, final in zip(subtitle_paths(Path(staging) / output.name, code), subtitle_paths(output, code)):
                os.replace(made, final)
        if options.stems:
            write_stems(Path(options.stems), mix)

    result = report_mod.build(options, spoken, ws.timings, ws.cached, lines, job.audio.duration, mix,
                              translator=job.translation.translator if job.translation is not None else None)
    if options.report:
        report_mod.write(Path(options.report), result)
    Project(project_path(output), _absolute(result, ws.root), job.source.sha256, edits,
            delivered(output, key)).write()
    return result


def _absolute(report: dict, work_root: Path) -> dict:
    """The report as the project keeps it: every path absolute (review may run from another
    folder), and the work folder named (its default depends on the environment)."""
    options = dict(report["options"], work_dir=str(Path(work_root).resolve()))
    for name in ("input", "output", "report", "speaker_wav", "stems", "srt"):
        if options.get(name):
            options[name] = str(Path(options[name]).resolve())
    return {**report, "input": options["input"], "output": options["output"], "options": options}


def with_edits(job: Job, texts: dict[int, str]) -> Job:
    """The translation with review's edited texts in place of the translator's."""
    if not texts or job.translation is None:
        return job
    lines = [line.replace(text=texts[i]) if i in texts else line for i, line in enumerate(job.translation.segments)]
    return job.replace(translation=job.translation.replace(segments=lines))


def stages(options: DubOptions, root: Path) -> list[Stage]:
    """The video dub's stages with this run's options; with ``--srt``, the subtitles stand
    for transcription, diarization and translation."""
    lang = options.lang
    listed: list[Stage] = [Extract(), Separate(options.separator)]
    if not options.srt:
        listed += [Transcribe(options.asr, options.asr_model, options.source_lang, options.device),
                   Diarize(options.speakers),
                   Translate(lang, options.translator, options.asr, options.asr_model, options.device,
                             options.translator_options)]
    listed += [Synthesize(lang, options.tts, options.voice, str(options.speaker_wav) if options.speaker_wav else None,
                          options.device, options.tts_fast, options.fit, options.emotion, options.emotion_alpha,
                          options.line_emotion, extract.MIX_RATE, options.translator_options, line_cache=root),
               Remix(options.mix, encode=mux.encode_ahead(Path(options.output)))]
    return listed


def _nothing_said(options: DubOptions, ws: Workspace, job: Job, source: Path, output: Path) -> dict:
    """No speech was found: fail, or with --allow-empty write the original's audio."""
    if not options.allow_empty:
        tracks = probe(source).audio_streams
        other = (f"; it has {tracks} audio tracks and dub hears the first: to dub track 2, remux it first "
                 f"(ffmpeg -i IN -map 0:v? -map 0:a:1 -c copy OUT)") if tracks > 1 else ""
        raise InputError(f"no speech found in {source}: nothing to dub (--allow-empty outputs the original){other}")
    language = job.transcript.language
    mux.mux(source, job.audio.audio, output, job.audio.has_video, language or "und")
    result = report_mod.build(options, language, ws.timings, ws.cached, [], job.audio.duration)
    if options.report:
        report_mod.write(Path(options.report), result)
    return result
