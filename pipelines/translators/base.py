"""What every translator is: its options and the base class the backends fill in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import BackendError


@dataclass(frozen=True)
class TranslatorOptions:
    """Settings of the text translators; every field has a CLI flag."""

    model: str | None = None  # marian / nllb: a Hugging Face model name or a local folder
    llm_url: str | None = None  # OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1
    llm_model: str | None = None  # None: the first model the endpoint lists at {llm_url}/models
    llm_api_key_env: str | None = None  # name of the environment variable holding the API key
    llm_timeout: float = 120.0  # seconds per request
    batch_size: int = 16  # lines per model call or LLM request

    def cache_key(self) -> dict:
        """The fields that change what is translated (for a stage's cache key)."""
        return {"model": self.model, "llm_url": self.llm_url, "llm_model": self.llm_model}


def one_line(text: str) -> str:
    """Line breaks and runs of spaces as single spaces: a dubbed line is spoken as one."""
    return " ".join(text.split())


class Translator:
    """A text translator. Subclasses set the class attributes and implement ``_translate``."""

    name: ClassVar[str]
    offline: ClassVar[bool] = True  # works with no network, from installed packages only
    from_audio: ClassVar[bool] = False  # translates each line's audio, not its text
    can_rewrite: ClassVar[bool] = False
    fits_slots: ClassVar[bool] = False  # translates to each line's slot length (``_translate_to_fit``)
    pairs: ClassVar[frozenset[tuple[str, str]] | None] = None  # None: see covers()

    def __init__(self, options: TranslatorOptions | None = None, device: str = "cpu"):
        self.options = options or TranslatorOptions()
        self.device = device

    @classmethod
    def covers(cls, source: str, target: str) -> bool:
        return cls.pairs is None or (source, target) in cls.pairs

    @classmethod
    def coverage(cls) -> str:
        """The pairs it covers, for messages."""
        if cls.pairs is None:
            return "any pair"
        return ", ".join(f"{s}->{t}" for s, t in sorted(cls.pairs))

    @classmethod
    def check(cls, source: str, target: str, options: TranslatorOptions) -> None:
        """Raise a BackendError saying how to fix it when the backend cannot run here."""

    def translate(self, texts: list[str], source: str, target: str, slots: list[float] | None = None,
                  context: list[str] | None = None) -> list[str]:
        """One translation per input line, in order; blank lines stay blank. ``slots`` (seconds
        each line is spoken in) and ``context`` (the whole transcript these lines are part of)
        reach a backend that ``fits_slots``; the others translate the words alone."""
        if not self.covers(source, target):
            raise BackendError(f"translator {self.name!r} cannot translate {source!r} to {target!r}: "
                               f"it covers {self.coverage()}")
        lines = [one_line(t) for t in texts]
        todo = [i for i, line in enumerate(lines) if line]
        out = [""] * len(lines)
        if todo:
            if self.fits_slots and slots is not None:
                whole = [one_line(t) for t in context] if context else [lines[i] for i in todo]
                done = self._translate_to_fit([lines[i] for i in todo], [slots[i] for i in todo], whole,
                                              source, target)
            else:
                done = self._translate([lines[i] for i in todo], source, target)
            if len(done) != len(todo):  # a backend bug, not the user's
                raise RuntimeError(f"{self.name} returned {len(done)} lines for {len(todo)}")
            for i, text in zip(todo, done):
                out[i] = one_line(text)
        return out

    def _translate(self, texts: list[str], source: str, target: str) -> list[str]:
        raise NotImplementedError

    def _translate_to_fit(self, texts: list[str], slots: list[float], context: list[str], source: str,
                          target: str) -> list[str]:
        raise NotImplementedError

    def rewrite(self, text: str, source_text: str, target: str, factor: float) -> str:
        """The line reworded to about ``factor`` times its length, same meaning."""
        raise BackendError(f"translator {self.name!r} cannot rewrite lines: use --translator llm")
