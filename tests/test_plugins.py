"""Backends from other packages: every kind of backend is found by name in one registry
shape, and a package registers its own through the ``dub.backends`` entry point group.

The third-party package here is written to a folder with its ``.dist-info`` (as pip would
install it) and put on ``PYTHONPATH``; the dub runs in a new process, as a user's would.
"""

import json
import os
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import pytest

from pipelines import asr, separate, translators
from pipelines.errors import BackendError
from tts_core.backends import BACKENDS
from tts_core.errors import UnknownBackendError
from tts_core.registry import Registry

ROOT = Path(__file__).resolve().parent.parent

# A real, if simple, TTS: one token per letter, each a tone held for exactly the frames the
# planner gives it, so the slot's length is honoured by construction.
CHIME = '''
import numpy as np

from tts_core.backends.base import Analysis, Backend
from tts_core.errors import EmptyTextError


class Chime(Backend):
    name = "chime"
    languages = ("en", "es")
    supports_target_tokens = True
    supports_voice_reference = False
    supports_emotion = "none"
    bundled = False  # never a default: only when named
    sample_rate = 16_000
    hop_length = 160

    @classmethod
    def load(cls, source=None, *, device="cpu", lang=None):
        return cls()

    def analyse(self, text, *, seed=0, **voice):
        letters = [c for c in text.lower() if c.isalpha() or c == " "]
        if not any(c.isalpha() for c in letters):
            raise EmptyTextError(f"nothing to say in {text!r}")
        kinds = tuple("pause" if c == " " else ("vowel" if c in "aeiou" else "consonant") for c in letters)
        natural = np.array([4.0 if k == "pause" else 8.0 for k in kinds])
        return Analysis(text=text, phonemes="".join(letters), kinds=kinds, natural=natural, state=letters)

    def render(self, analysis, frames, *, seed=0, prosody=None, edges=(0.0, 0.0)):
        pieces = []
        for letter, count in zip(analysis.state, np.asarray(frames, dtype=np.int64)):
            t = np.arange(int(count) * self.hop_length) / self.sample_rate
            pitch = 0.0 if letter == " " else 200.0 + 20.0 * (ord(letter) - ord("a"))
            pieces.append((0.2 * np.sin(2 * np.pi * pitch * t)).astype(np.float32))
        return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
'''

SRT = """1
00:00:00,500 --> 00:00:02,000
Hello there.

2
00:00:02,500 --> 00:00:04,250
A chime for every letter.
"""


def install_plugin(site: Path, entry_points: str) -> None:
    """What ``pip install`` of a package declaring those entry points leaves on disk."""
    (site / "dub_chime").mkdir(parents=True)
    (site / "dub_chime" / "__init__.py").write_text(textwrap.dedent(CHIME))
    info = site / "dub_chime-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dub-chime\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_third_party_tts_dubs_subtitles(tmp_path):
    site = tmp_path / "site"
    install_plugin(site, "[dub.backends]\ntts.chime = dub_chime:Chime\n")
    subs = tmp_path / "lines.srt"
    subs.write_text(SRT)
    out, report = tmp_path / "dialogue.wav", tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    run = subprocess.run([sys.executable, "-m", "dubber", "srt", str(subs), "--tts", "chime", "-o", str(out),
                          "--report", str(report), "--work-dir", str(tmp_path / "work"), "-q"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    result = json.loads(report.read_text())
    assert result["options"]["tts"] == "chime"
    for seg in result["segments"]:  # every line exactly its slot, as with a built-in backend
        assert abs(seg["audio_duration"] - (seg["end"] - seg["start"])) <= 0.012
    with wave.open(str(out)) as w:
        assert w.getnframes() / w.getframerate() >= 4.25

    # The same name, listed among the others when a name is wrong.
    wrong = subprocess.run([sys.executable, "-m", "dubber", "srt", str(subs), "--tts", "chimes", "-o",
                            str(tmp_path / "x.wav"), "-q"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert wrong.returncode == 2 and "chime, espeak" in wrong.stderr and not (tmp_path / "x.wav").exists()


def test_every_kind_has_the_same_registry():
    for registry, error in ((BACKENDS, UnknownBackendError), (translators.BACKENDS, BackendError),
                            (asr.ENGINES, BackendError), (separate.SEPARATORS, BackendError)):
        assert isinstance(registry, Registry) and registry.names() == sorted(registry.names())
        with pytest.raises(error, match="choose one of " + ", ".join(registry.names())):
            registry.get("no-such-backend")
    assert "piper" in BACKENDS and "whisper" in translators.BACKENDS and "faster-whisper" in asr.ENGINES


def test_entry_points_in_process(tmp_path, monkeypatch):
    """A plugin shows up after ``forget_plugins`` (as after installing it); one that cannot
    be imported fails with a message naming its package; a built-in name cannot be taken."""
    site = tmp_path / "site"
    install_plugin(site, "[dub.backends]\ntts.chime = dub_chime:Chime\ntts.broken = dub_chime:Missing\n"
                         "tts.piper = dub_chime:Chime\ntranslator.chime = dub_chime:Chime\n")
    monkeypatch.syspath_prepend(str(site))
    registry = Registry("tts", "TTS backend", UnknownBackendError)
    registry.register_lazy("piper", "tts_core.backends.piper:PiperBackend")
    try:
        BACKENDS.forget_plugins()
        assert {"chime", "broken"} <= set(BACKENDS.names())
        assert BACKENDS.get("chime").name == "chime" and BACKENDS.get("piper").__module__ == "tts_core.backends.piper"
        with pytest.raises(UnknownBackendError, match="package dub-chime"):
            BACKENDS.get("broken")
        assert registry.names() == ["broken", "chime", "piper"]  # another kind's entry is not ours
        assert registry.get("piper").__name__ == "PiperBackend"
    finally:
        monkeypatch.undo()
        BACKENDS.forget_plugins()
    assert "chime" not in BACKENDS.names()
