"""Stage 7: put the new audio into the output container.

The picture is stream-copied (bit-identical, never re-encoded); the mix is encoded to
the container's usual audio codec. Audio-only inputs give an audio file.
"""

from __future__ import annotations

from pathlib import Path

from tts_core.files import atomic_path

from dubber.media import run_ffmpeg

VERSION = "1"
AUDIO_CODECS = {".mp4": "aac", ".m4a": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus",
                ".mp3": "libmp3lame", ".wav": "pcm_s16le", ".flac": "flac", ".ogg": "libopus"}


def mux(source: Path, mix_wav: Path, output: Path, has_video: bool, lang: str) -> Path:
    suffix = output.suffix.lower()
    codec = AUDIO_CODECS.get(suffix, "aac")
    bitrate = [] if codec in ("pcm_s16le", "flac") else ["-b:a", "192k"]
    with atomic_path(output, suffix=suffix) as tmp:
        if has_video:
            run_ffmpeg(["-i", str(source), "-i", str(mix_wav), "-map", "0:v:0", "-map", "1:a:0",
                        "-c:v", "copy", "-c:a", codec, *bitrate, "-map_metadata", "0",
                        f"-metadata:s:a:0", f"language={lang}", str(tmp)], "mux the dubbed audio")
        else:
            run_ffmpeg(["-i", str(mix_wav), "-c:a", codec, *bitrate, f"-metadata:s:a:0", f"language={lang}",
                        str(tmp)], "write the dubbed audio")
    return output
