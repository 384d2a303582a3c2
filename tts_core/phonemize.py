"""Text to IPA phonemes through the espeak-ng program.

espeak-ng is GPL-3.0, so it is run as a separate process, never linked or imported.
Piper and Kokoro voices were trained on espeak-ng IPA with the clause punctuation kept,
so the text is cut into clauses here, each clause is phonemised on its own, and its
punctuation mark is put back after it (espeak-ng's own output drops it).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess

from .errors import ToolMissingError, UnsupportedRequestError

# A clause ends at one of these; the mark itself is a token the voices know.
_CLAUSE = re.compile(r"([^.,;:!?…]*)([.,;:!?…]*)")
# espeak-ng marks a switch of language inside a clause as "(en)" / "(es)".
_LANG_SWITCH = re.compile(r"\([a-z\-]+\)")


@functools.lru_cache(maxsize=1)
def espeak_binary() -> str:
    for name in ("espeak-ng", "espeak"):
        path = shutil.which(name)
        if path:
            return path
    raise ToolMissingError(
        "espeak-ng not found: install it (apt-get install espeak-ng) or run the project's setup"
    )


@functools.lru_cache(maxsize=64)
def espeak_voices() -> frozenset[str]:
    out = subprocess.run(
        [espeak_binary(), "--voices"], capture_output=True, text=True, check=False
    ).stdout
    names = set()
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            names.add(parts[1])
    return frozenset(names)


def _espeak_ipa(text: str, voice: str) -> str:
    proc = subprocess.run(
        [espeak_binary(), "-q", "--ipa", "-v", voice, "--", text],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        message = proc.stderr.strip().splitlines()
        raise UnsupportedRequestError(
            f"espeak-ng failed for voice {voice!r}: {message[-1] if message else 'no message'}"
        )
    # espeak-ng breaks a long clause over lines; inside one clause they are word gaps.
    ipa = " ".join(line.strip() for line in proc.stdout.splitlines() if line.strip())
    return _LANG_SWITCH.sub("", ipa)


def phonemize(text: str, voice: str = "en-us") -> list[str]:
    """Return the clauses of ``text`` as IPA strings, each ending with its punctuation.

    Example: "Hello there, friend!" -> ["həlˈoʊ ðˈɛɹ,", "fɹˈɛnd!"]
    """
    clauses: list[str] = []
    text = " ".join(text.split())
    for words, marks in _CLAUSE.findall(text):
        if not words.strip():
            if marks and clauses:
                clauses[-1] += marks.replace("…", "...")
            continue
        ipa = _espeak_ipa(words.strip(), voice)
        if ipa:
            clauses.append(ipa + marks.replace("…", "..."))
    return clauses
