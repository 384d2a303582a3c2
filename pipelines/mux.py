"""Stage 7: put the new audio into the output container.

The picture is stream-copied (bit-identical, never re-encoded); the mix is encoded to
the container's usual audio codec. Audio-only inputs give an audio file.
"""

from __future__ import annotations

from pathlib import Path

from tts_core.files import atomic_path

from dubber.errors import UserError
from dubber.languages import iso639_2
from dubber.media import run_ffmpeg

VERSION = "1"
AUDIO_CODECS = {".mp4": "aac", ".m4a": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus",
                ".mp3": "libmp3lame", ".wav": "pcm_s16le", ".flac": "flac", ".ogg": "libopus"}


SUBTITLE_CODECS = {".mp4": "mov_text", ".m4v": "mov_text", ".mov": "mov_text", ".mkv": "srt", ".webm": "webvtt"}


def mux(source: Path, mix_wav: Path, output: Path, has_video: bool, lang: str, *, keep_original: bool = False,
        source_lang: str | None = None, subtitles: Path | None = None) -> Path:
    """Write ``output``: the picture copied, the dub as the first audio track (tagged with its
    language), with ``keep_original`` the source's own audio as a second track, and with
    ``subtitles`` a soft subtitle track."""
    suffix = output.suffix.lower()
    codec = AUDIO_CODECS.get(suffix, "aac")
    bitrate = [] if codec in ("pcm_s16le", "flac") else ["-b:a", "192k"]
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
                subs = ["-i", str(subtitles)]
                tags += ["-c:s", SUBTITLE_CODECS[suffix], "-metadata:s:s:0", f"language={iso639_2(lang)}"]
            run_ffmpeg(["-i", str(source), "-i", str(mix_wav), *subs, *maps, "-c:v", "copy", "-c:a:0", codec,
                        *bitrate, *original, "-disposition:a:0", "default", "-map_metadata", "0", *tags, str(tmp)],
                       "mux the dubbed audio")
        else:
            run_ffmpeg(["-i", str(mix_wav), "-c:a", codec, *bitrate, *tags, str(tmp)], "write the dubbed audio")
    return output
