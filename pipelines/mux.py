"""Stage 7: put the new audio into the output container.

The picture is stream-copied (bit-identical, never re-encoded); the mix is encoded to
the container's usual audio codec. Audio-only inputs give an audio file.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from tts_core.files import atomic_path

from .errors import InputError, UserError
from .languages import iso639_2
from .media import arg, probe, run_ffmpeg, tool, wav_info

VERSION = "1"
AUDIO_CODECS = {".mp4": "aac", ".m4a": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus",
                ".mp3": "libmp3lame", ".wav": "pcm_s16le", ".flac": "flac", ".ogg": "libopus"}


# The codecs the remix encodes while it writes the mix, and the file each goes in: the mux
# then copies that track (the same samples as encoding the mix's WAV: checked in the tests).
# AAC (MP4, MOV, M4A, MKV) only; the others are encoded here, after the remix.
ENCODED_AHEAD = {"aac": "mix.m4a"}


def audio_codec(output: Path) -> str:
    """The codec the dub's audio takes in ``output`` (by its extension)."""
    return AUDIO_CODECS.get(Path(output).suffix.lower(), "aac")


def codec_options(codec: str) -> list[str]:
    return [] if codec in ("pcm_s16le", "flac") else ["-b:a", "192k"]


def encode_ahead(output: Path) -> str | None:
    """The codec for the remix to encode as it writes the mix, when the mux can copy it."""
    codec = audio_codec(output)
    return codec if codec in ENCODED_AHEAD else None


SUBTITLE_CODECS = {".mp4": "mov_text", ".m4v": "mov_text", ".mov": "mov_text", ".mkv": "srt", ".webm": "webvtt"}


def check(source: Path, output: Path, has_video: bool, subtitles: bool = False, keep_original: bool = False) -> None:
    """Refuse, before any work, an output type that cannot hold this dub (an unknown
    extension, H.264 in WebM, a picture in a WAV): ffmpeg writes the start of the picture
    and a moment of silence in the output's container, as ``mux`` would. An audio dub is
    one track: what would be silently left out of it is refused too."""
    suffix = output.suffix.lower()
    if not has_video and keep_original:
        raise UserError(f"--keep-original adds the source's audio as a second track of a video; {source.name} "
                        f"has no picture, and {output.name} gets the dub alone: drop --keep-original")
    if not has_video and subtitles:
        raise UserError(f"--subs adds a subtitle track to a video; {source.name} has no picture: drop --subs "
                        "(the subtitles are written beside the output as .srt and .vtt either way)")
    kinds = "a video type such as .mp4, .mkv or .mov" if has_video else "an audio type such as .wav, .mp3 or .m4a"
    if not suffix:
        raise UserError(f"the output {output} has no extension: end -o in {kinds}")
    if subtitles and has_video and suffix not in SUBTITLE_CODECS:
        raise UserError(f"{suffix} cannot carry a subtitle track: use .mp4 or .mkv, or drop --subs")
    proc = _trial(source, suffix, has_video)
    if proc.returncode == 0 or (has_video and _trial(source, ".mkv", True).returncode != 0):
        return  # fine, or the picture itself does not read: the stages say so, not the container
    # ffmpeg's first line says why ("Only VP8 or VP9 or AV1 video ... for WebM"); the rest is its exit path.
    lines = [re.sub(r"^\[[^]]* @ 0x[0-9a-f]+\] ", "", line) for line in proc.stderr.strip().splitlines()]
    why = lines[0].rstrip(".") if lines else f"ffmpeg exit {proc.returncode}"
    if "suitable output format" in why:
        raise UserError(f"unknown output type {suffix} ({output.name}): end -o in {kinds}")
    raise UserError(f"a {suffix} file cannot hold this dub ({why}): end -o in another type; "
                    + (".mkv holds any picture" if has_video else ".wav holds any audio"))


def _trial(source: Path, suffix: str, has_video: bool) -> subprocess.CompletedProcess:
    """ffmpeg writing the first half second of the picture, and silence, as a ``suffix`` file."""
    with tempfile.TemporaryDirectory(prefix="dub-mux-") as folder:
        # Several frames, not one: MP3 takes a single frame as cover art but refuses a moving picture.
        picture = ["-i", arg(source)] if has_video else []
        copy = ["-map", "0:v:0", "-c:v", "copy"] if has_video else []
        trial = Path(folder) / f"trial{suffix}"
        return subprocess.run(
            [tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *picture,
             "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", *copy, "-map", f"{int(has_video)}:a:0",
             "-c:a", audio_codec(trial), "-t", "0.5", str(trial)],
            capture_output=True, text=True, errors="replace")


def mux(source: Path, mix_wav: Path, output: Path, has_video: bool, lang: str, *, keep_original: bool = False,
        source_lang: str | None = None, subtitles: Path | None = None,
        encoded: tuple[Path, str] | None = None) -> Path:
    """Write ``output``: the picture copied, the dub as the first audio track (tagged with its
    language), with ``keep_original`` the source's own audio as a second track, and with
    ``subtitles`` a soft subtitle track. ``encoded``: (file, codec) of the mix already
    encoded, copied when it is the codec ``output`` takes."""
    suffix = output.suffix.lower()
    codec = audio_codec(output)
    bitrate = codec_options(codec)
    dub_in, dub_codec = (encoded[0], ["copy"]) if encoded and encoded[1] == codec else (mix_wav, [codec, *bitrate])
    tags = ["-metadata:s:a:0", f"language={iso639_2(lang)}", "-metadata:s:a:0", "title=Dub"]
    with atomic_path(output, suffix=suffix) as tmp:
        if has_video:
            maps = ["-map", "0:v:0", "-map", "1:a:0"] + (["-map", "0:a:0"] if keep_original else [])
            original = ["-c:a:1", codec, *(["-b:a:1", "192k"] if bitrate else []), "-metadata:s:a:1",
                        f"language={iso639_2(source_lang)}", "-metadata:s:a:1", "title=Original",
                        "-disposition:a:1", "0"] if keep_original else []
            subs: list[str] = []
            if subtitles is not None:
                if suffix not in SUBTITLE_CODECS:
                    raise UserError(f"{suffix} cannot carry a subtitle track: use .mp4 or .mkv, or drop --subs")
                maps += ["-map", "2:s:0"]
                subs = ["-i", arg(subtitles)]
                tags += ["-c:s", SUBTITLE_CODECS[suffix], "-metadata:s:s:0", f"language={iso639_2(lang)}"]
            run_ffmpeg(["-i", arg(source), "-i", arg(dub_in), *subs, *maps, "-c:v", "copy", "-c:a:0", *dub_codec,
                        *original, "-disposition:a:0", "default", "-map_metadata", "0", *tags, arg(tmp)],
                       "mux the dubbed audio")
        else:
            run_ffmpeg(["-i", arg(dub_in), "-c:a", *dub_codec, *tags, arg(tmp)], "write the dubbed audio")
        _check_written(tmp, mix_wav, output)
    return output


def _check_written(path: Path, mix_wav: Path, output: Path) -> None:
    """The file must read back as media holding the whole dub: ffmpeg's exit code and words are
    not enough (a full disk or a quota can end a file early while ffmpeg says nothing)."""
    bed = wav_info(mix_wav)
    want = bed.frames / bed.sample_rate
    hint = "the disk may be full or over quota: free space and run again"
    try:
        written = probe(path)
    except InputError:
        raise UserError(f"{output} could not be read back after writing it: {hint}") from None
    have = written.audio_duration if written.audio_duration is not None else written.duration
    if have < want - 0.5:  # encoders pad or trim a few ms; a short file is missing seconds
        raise UserError(f"{output} came out with {have:.1f} s of the {want:.1f} s dub: {hint}")
