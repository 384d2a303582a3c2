"""Text front end of IndexTTS-2: normalisation, then the release's BPE (sentencepiece, 12,000 pieces).

The release normalises text with grammar-based TN (English and Chinese) before its BPE. Those
grammars are not a dependency here; ``text_en.py`` and ``text_zh.py`` write the readings out
as rules that give the same text on ordinary sentences: numbers, years, ordinals, decimals,
money, percent, times, dates, common units and abbreviations, telephone numbers, fractions
and ranges in English; numbers (with 两), years, dates, times, percent, money, units,
fractions and phone numbers in Chinese. Then, as the release does, CJK characters are spaced
apart, everything is upper-cased (the BPE was trained upper-case) and punctuation is mapped
onto the few marks the BPE knows.

A line is read as Chinese when it has a CJK character, no Latin letter, or tone-numbered
pinyin ("xuan4"), as the release decides; ``language="en"`` keeps a line without CJK English.

This module picks the reading of a line, protects what the rules must leave alone, maps the
punctuation, and holds the tokenizer and the splitting of long lines for the GPT.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import EmptyTextError, ModelFileError, UnsupportedRequestError
# The readings of numbers (cardinal, ordinal, zh_cardinal, ...) are also reached from here.
from .text_en import cardinal, decimal, normalize_english, ordinal, year  # noqa: F401
from .text_zh import PINYIN, normalize_chinese, placeholder, zh_cardinal  # noqa: F401

MAX_TEXT_TOKENS_PER_SEGMENT = 120

# Punctuation the BPE knows; everything else is mapped onto these (the release's table).
PUNCTUATION_MAP = {
    "：": ",", "；": ",", ";": ",", "，": ",", "。": ".", "！": "!", "？": "?", "\n": " ", "·": "-",
    "、": ",", "...": "…", ",,,": "…", "，，，": "…", "……": "…", "“": "'", "”": "'", '"': "'",
    "‘": "'", "’": "'", "（": "'", "）": "'", "(": "'", ")": "'", "《": "'", "》": "'", "【": "'",
    "】": "'", "[": "'", "]": "'", "—": "-", "～": "-", "~": "-", "「": "'", "」": "'", ":": ",",
}  # fmt: skip
ZH_PUNCTUATION_MAP = {"$": ".", **PUNCTUATION_MAP}

CJK = re.compile(
    r"([\u1100-\u11ff\u2e80-\ua4cf\ua840-\uD7AF\uF900-\uFAFF\uFE30-\uFE4F\uFF65-\uFFDC\U00020000-\U0002FFFF])"
)
HAN = re.compile(r"[\u4e00-\u9fff]")
EMAIL = re.compile(r"^[a-zA-Z0-9]+@[a-zA-Z0-9]+\.[a-zA-Z]+$")
# Hyphenated names (GPT-5, F5-TTS) keep their hyphens: they are not minus signs or ranges.
TECH_TERM = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+")
HYPHEN = "\ue000"  # stands for a protected hyphen while the rules run
CONTRACTION = re.compile(r"(what|where|who|which|how|t?here|it|s?he|that|this)'s", re.IGNORECASE)
# <字|读音> pronunciation annotations pass through untouched.
ANNOTATION = re.compile(r"<([^|>\n]+)\|([^>\n]+)>")


def is_chinese(text: str) -> bool:
    """The release's choice of normaliser for a line."""
    if HAN.search(text) or not re.search(r"[a-zA-Z]", text) or EMAIL.match(text):
        return True
    return bool(PINYIN.search(text))


def _map_punctuation(text: str, table: dict[str, str]) -> str:
    pattern = re.compile("|".join(re.escape(k) for k in table))
    return pattern.sub(lambda m: table[m[0]], text)


def normalize(text: str, language: str | None = None) -> str:
    """Spoken form of ``text``, before spacing and upper-casing. ``language`` "en" or "zh"
    forces the reading of a line without CJK; None decides as the release does."""
    annotations = {}

    def protect(m: re.Match) -> str:
        key = placeholder(len(annotations), "\ue003")
        annotations[key] = m[0]
        return key

    text = ANNOTATION.sub(protect, text)
    chinese = is_chinese(text) if language is None or HAN.search(text) else language == "zh"
    text = CONTRACTION.sub(r"\1 is", text)
    text = TECH_TERM.sub(lambda m: m[0].replace("-", HYPHEN), text.rstrip() if chinese else text)
    if chinese:
        text = _map_punctuation(normalize_chinese(text), ZH_PUNCTUATION_MAP)
    else:
        text = _map_punctuation(normalize_english(text), PUNCTUATION_MAP)
    text = re.sub(rf"\s*{HYPHEN}\s*", "-", text)
    for key, value in annotations.items():
        text = text.replace(key, value)
    return text


def space_cjk(text: str) -> str:
    """CJK characters spaced apart, everything upper-case: the form the BPE was trained on."""
    return " ".join(w.strip().upper() for w in CJK.split(text.strip()) if w.strip())


class TextTokenizer:
    """Text -> the release's BPE ids (bpe.model, 12,000 pieces)."""

    # Pieces that end a sentence, where a long line is split.
    SENTENCE_END = (".", "!", "?", "▁.", "▁?", "▁...", "…", "▁…")
    CLAUSE_END = (",", "▁,", "-")

    def __init__(self, model_file: str | Path):
        import sentencepiece

        path = Path(model_file)
        if not path.is_file():
            raise ModelFileError(f"BPE model not found: {path}")
        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(path))
        self.unk_id = self.sp.unk_id()

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, text: str, language: str | None = None) -> list[int]:
        """BPE ids of ``text`` after normalisation; a lone character is encoded as it is, as
        the release does."""
        if not text:
            return []
        if len(text.strip()) == 1:
            return self.sp.encode(text)
        return self.sp.encode(space_cjk(normalize(text, language)))

    def unknown_characters(self, text: str, language: str | None = None) -> list[str]:
        """The characters of the normalised ``text`` that the BPE encodes as <unk>, for a warning."""
        spaced = space_cjk(normalize(text, language))
        return sorted(c for c in set(spaced) if not c.isspace() and self.unk_id in self.sp.encode(c))

    def decode(self, ids: list[int]) -> str:
        return self.sp.decode(ids)

    def split_segments(self, ids: list[int], max_tokens: int = MAX_TEXT_TOKENS_PER_SEGMENT) -> list[list[int]]:
        """A long line cut into pieces of at most ``max_tokens``: at sentence ends, then at
        commas, then anywhere; neighbours are joined back while they fit."""
        def known(pieces):
            return {i for i in map(self.sp.piece_to_id, pieces) if i != self.unk_id}

        return _split(ids, known(self.SENTENCE_END), known(self.CLAUSE_END), max_tokens)


def _cut_after(ids: list[int], marks: set[int]) -> list[list[int]]:
    pieces, current = [], []
    for i in ids:
        current.append(i)
        if i in marks:
            pieces.append(current)
            current = []
    return pieces + ([current] if current else [])


def _split(ids: list[int], sentence: set[int], clause: set[int], max_tokens: int) -> list[list[int]]:
    if max_tokens < 1:
        raise UnsupportedRequestError("max_tokens must be at least 1")
    pieces = []
    for part in _cut_after(ids, sentence):
        if len(part) > max_tokens:
            for sub in _cut_after(part, clause):
                pieces += [sub[i : i + max_tokens] for i in range(0, len(sub), max_tokens)]
        else:
            pieces.append(part)
    merged: list[list[int]] = []
    for part in pieces:
        if merged and len(merged[-1]) + len(part) <= max_tokens:
            merged[-1] = merged[-1] + part
        else:
            merged.append(part)
    return merged


def tokenize(tokenizer: TextTokenizer, text: str, language: str | None = None) -> list[int]:
    """BPE ids of one line; an error when nothing speakable is left."""
    ids = tokenizer.encode(text, language)
    if not ids:
        raise EmptyTextError(f"nothing to say in {text!r}")
    return ids
