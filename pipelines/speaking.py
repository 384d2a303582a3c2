"""How long a line takes to say at a natural pace, from its text alone.

The translate stage runs before any voice exists, so it cannot measure a draft the way the
fit planner later does (with the TTS itself). What it can do is count syllables and divide by
the language's usual rate: Pellegrino, Coupé & Marsico (2011), "A cross-language perspective
on speech information rate", Language 87(3), measured syllables per second of read speech:
English 6.19, French 7.18, German 5.97, Italian 6.99, Japanese 7.84 (morae), Mandarin 5.18,
Spanish 7.82 (Portuguese is not in the study: Spanish's neighbour Italian's rate is used).
Good to about ±20 % a line, which is enough to tell a translation twice too long from one
that fits.
"""

from __future__ import annotations

import re

SYLLABLES_PER_SECOND = {"en": 6.19, "fr": 7.18, "de": 5.97, "it": 6.99, "ja": 7.84, "zh": 5.18, "es": 7.82,
                        "pt": 6.99}
DEFAULT_RATE = 6.5  # between the study's languages, for the others

_VOWEL_GROUP = re.compile(r"[aeiouyàáâãäåæèéêëìíîïòóôõöøœùúûüýÿ]+", re.IGNORECASE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_SILENT_E = re.compile(r"(?<=[^aeiouy\W])e\b", re.IGNORECASE)  # English and French "name", "porte"


def syllables(text: str, language: str) -> int:
    """An estimate: one per kana, hanzi or hangul; else one per group of vowel letters (a
    final silent e not counted in English and French); digits as a syllable each."""
    cjk = len(_CJK.findall(text))
    rest = _CJK.sub(" ", text)
    groups = 0
    for word in rest.split():
        count = len(_VOWEL_GROUP.findall(word))
        if language in ("en", "fr") and count > 1 and _SILENT_E.search(word):
            count -= 1  # "name", "partie": the last e is not said ("je", "the" keep theirs)
        groups += count
    digits = len(re.findall(r"\d", rest))
    return cjk + groups + digits


def natural_seconds(text: str, language: str) -> float:
    """Seconds ``text`` takes in ``language`` at that language's usual pace."""
    return syllables(text, language) / SYLLABLES_PER_SECOND.get(language, DEFAULT_RATE)


def syllable_budget(seconds: float, language: str) -> int:
    """Syllables that fit ``seconds`` at the usual pace (at least one)."""
    return max(1, round(seconds * SYLLABLES_PER_SECOND.get(language, DEFAULT_RATE)))
