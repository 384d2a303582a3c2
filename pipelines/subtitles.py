"""Read and write subtitle files (SRT, WebVTT, ASS/SSA) as timed lines to dub.

``read_subtitles`` turns whatever a user hands us (any common encoding, any line ending,
styled, multi-speaker, with broken or overlapping times) into clean cues: one line of
plain text each, a speaker when the file names one, sorted, non-overlapping, each with
``end > start``. Parsing is pysubs2's; what this module adds is decoding, cleaning,
speaker turns and time repair, because those decide what gets said and when.
"""

from __future__ import annotations

import codecs
import html
import itertools
import re
import shlex
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from tts_core.files import write_text_atomic

MAX_BYTES = 64 << 20  # no subtitle file is this big: it is a video or an archive passed by mistake
MIN_REPAIRED_MS, DEFAULT_REPAIRED_MS = 200, 500  # length given to a cue whose end is <= its start
MIN_CLIPPED_MS = 300  # an overlapped cue shorter than this after clipping is merged instead

_VTT_TIMING = re.compile(r"(?:\d+:)?\d{2}:\d{2}\.\d{2,3}\s*-->")
_OVERRIDE = re.compile(r"\{[^}]*\}")  # ASS override blocks such as {\an8}; SRT files carry them too
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>")  # WebVTT <v Name> names the speaker
_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<\d[\d:.]*>")  # HTML-ish tags and VTT karaoke timestamps
_DASH = re.compile(r"^[-\u2010\u2013\u2014](?:\s+|(?=[^\W\d_]))")  # "- Hi" / "-Hi", not "-5"
_LABEL = re.compile(
    r"^(?P<name>[^\W\d_][^\W\d_'’.\-]*(?: [^\W\d_][^\W\d_'’.\-]*){0,2})(?:\s?:(?:\s+|$)|\s?：\s*)(?P<rest>.*)$"
)


@dataclass(frozen=True)
class Cue:
    """One line to say: times in seconds, plain one-line text, the speaker if known."""

    index: int
    start: float
    end: float
    text: str
    speaker: str | None = None


# ---------------------------------------------------------------- decoding

def _looks_chinese(text: str) -> bool:
    """Whether a GB18030 decoding is real Chinese rather than misread CP1252.

    CP1252 text decodes as GB18030 surprisingly often: an accented letter and the byte
    after it become one "ideograph". Followed by an ASCII letter (café -> caf+é+s...), it
    lands outside GB2312, where common Chinese lives (both bytes >= 0xA1); two accented
    letters in a row (Grüße) land inside it, but right after an ASCII letter, where
    Chinese text rarely puts an ideograph (CJK punctuation, rows below 0xB0, it does)."""
    chinese = rare = 0
    for i, ch in enumerate(text):
        if ord(ch) > 0x7F:
            b = ch.encode("gb18030")
            if not (len(b) == 2 and b[0] >= 0xA1 and b[1] >= 0xA1):
                rare += 1
            elif b[0] < 0xB0 or not (i and text[i - 1].isascii() and text[i - 1].isalpha()):
                chinese += 1
    return chinese > rare


def _decode(data: bytes, name: str) -> str:
    """Bytes -> text. BOMs first, then UTF-16 told by its NULs, UTF-8, GB18030, then the
    Windows code page (CP1252, CP1250 or CP1251) whose reading looks most like text."""
    not_text = InputError(f"{name} is not a text subtitle file: pass an .srt, .vtt or .ass file")
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                       (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                raise not_text from None
    if 0 in data:
        # ASCII-heavy UTF-16 without a BOM puts a NUL in every other byte; NULs anywhere
        # else mean a binary file.
        half = max(1, len(data) // 2)
        even, odd = data[0::2].count(0) / half, data[1::2].count(0) / half
        codec = "utf-16-le" if odd > 0.25 and even < 0.05 else "utf-16-be" if even > 0.25 and odd < 0.05 else None
        try:
            if codec:
                return data.decode(codec)
        except UnicodeDecodeError:
            pass
        raise not_text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
        if _looks_chinese(text):
            return text
    except UnicodeDecodeError:
        pass
    return _single_byte(data, name)


# The single-byte code pages subtitles come in, Western first (the most common).
CODE_PAGES = ("cp1252", "cp1250", "cp1251")


def _single_byte(data: bytes, name: str) -> str:
    """Windows code pages, scored instead of taking the first that decodes: each reading
    of a byte means a letter in one page and a symbol or nothing in another.

    Cyrillic (CP1251) is a reading where most letters are Cyrillic; a Western text read
    that way is mostly ASCII letters with a few stray ones. Between Western (CP1252) and
    Central European (CP1250), the reading that looks less wrong wins: fewer symbols inside
    words (Polish "był" reads "by³" in CP1252), fewer words and texts no one language writes
    (Czech "řeč" reads "øeè" in CP1252: Danish ø beside French è), and fewer of the other
    page's own letters (French "père" reads "pčre" in CP1250), and fewer letter pairs no
    Western language writes ("čovječe" reads "èovjeèe": French è before a vowel); a tie is
    Western."""
    readings = {}
    for codec in CODE_PAGES:
        try:
            readings[codec] = data.decode(codec)
        except UnicodeDecodeError:
            pass
    if "cp1251" in readings and _cyrillic_share(readings["cp1251"]) > 0.5:
        return readings["cp1251"]
    latin = {codec: text for codec, text in readings.items() if codec != "cp1251" and _accented_share(text) <= 0.5}
    if not latin:
        raise InputError(f"{name} is not UTF-8 and reads as neither CP1252, CP1250, CP1251 nor GB18030 text: "
                         "save it as UTF-8")
    return min(latin.items(), key=lambda item: (_misread(item[1], item[0]), CODE_PAGES.index(item[0])))[1]


# Letters each Latin page's languages use that the other page turns into something else.
_OWN_LETTERS = {"cp1252": set("àèìòùâêîôûãõñçåæøœëïÀÈÌÒÙÂÊÎÔÛÃÕÑÇÅÆØŒËÏ"),
                "cp1250": set("čďěňřťůąćęłńśźżőűăşţľĺŕČĎĚŇŘŤŮĄĆĘŁŃŚŹŻŐŰĂŞŢĽĹŔ")}


# The accented letters of the languages the two Latin pages serve: a word no one language
# writes is a misreading. Czech "řeč" read as CP1252 is "øeè": Danish ø and French è in one
# word; "tě" is "tì", an Italian grave in a word with Czech "ů" read as "ù" beside it.
_ALPHABETS = (
    "àâæçéèêëîïôœùûüÿ",  # French
    "áéíñóúü",  # Spanish
    "áâãàçéêíóôõú",  # Portuguese
    "àèéìíîòóù",  # Italian
    "äöüß",  # German
    "æøåéóô",  # Danish, Norwegian
    "åäöé",  # Swedish, Finnish
    "éëïèöüáó",  # Dutch
    "àèéíïòóúç",  # Catalan
    "áðéíóúýþæö",  # Icelandic
    "áčďéěíňóřšťúůýž",  # Czech
    "áäčďéíĺľňóôŕšťúýž",  # Slovak
    "ąćęłńóśźż",  # Polish
    "áéíóöőúüű",  # Hungarian
    "ăâîşţșț",  # Romanian
    "čćđšž",  # Croatian, Serbian, Bosnian, Slovene
)
_LETTER_SETS = tuple(frozenset(alphabet) for alphabet in _ALPHABETS)
_PAIR_SETS = tuple(a | b for a, b in itertools.combinations(_LETTER_SETS, 2))  # a text in two languages
_KNOWN = frozenset().union(*_LETTER_SETS)
_WORD = re.compile(r"[^\W\d_]+")


def _impossible_words(text: str) -> int:
    """Words whose accented letters no one language writes together."""
    count = 0
    for word in _WORD.findall(text.lower()):
        accented = {ch for ch in word if not ch.isascii()}
        if len(accented) > 1 and not any(accented <= letters for letters in _LETTER_SETS):
            count += 1
    return count


def _languages_needed(text: str) -> int:
    """How many of the languages above it takes to write every accented letter of ``text``
    (1 or 2, else 3): a subtitle file is in one language, two at most (a name, a quote); a
    misread Czech file needs Icelandic ý and Italian ì together."""
    letters = {ch for ch in text.lower() if ch.isalpha() and not ch.isascii()} & _KNOWN
    if not letters:
        return 0
    if any(letters <= one for one in _LETTER_SETS):
        return 1
    return 2 if any(letters <= two for two in _PAIR_SETS) else 3


def _misread(text: str, codec: str) -> int:
    """How wrong a Latin reading looks: signs stuck to letters, words no language writes, a
    text that takes more than one language to write, and letters that are not this page's own
    (nor shared by both pages)."""
    # Numbers and signs (³ ¹ ¾ ¥ ¤ ˇ) touching a letter; punctuation (¿ « ») is at home there.
    symbols = sum(1 for a, ch, b in zip(" " + text, text, text[1:] + " ")
                  if ord(ch) > 0x7F and unicodedata.category(ch) in ("No", "Sc", "So", "Sk")
                  and (a.isalpha() or b.isalpha()))
    own = _OWN_LETTERS[codec]
    foreign = sum(1 for ch in text if ord(ch) > 0x7F and ch.isalpha() and ch not in own and not _shared(ch))
    return (2 * symbols + 2 * _impossible_words(text) + 3 * max(0, _languages_needed(text) - 1) + foreign
            + 2 * len(_NO_WESTERN_PAIR.findall(text.lower())))


# Letter pairs no Western language writes, though a Central European text read as CP1252 does:
# a grave vowel before a vowel (French, Italian, Catalan and Portuguese graves come before a
# consonant or end a word; Croatian "čovječe" reads "èovjeèe") and a circumflex before k, j or w
# (Polish "Dziękuję" reads "Dziêkujê").
_NO_WESTERN_PAIR = re.compile(r"[èìòù][aeiouyàèìòùáéíóúâêîôû]|[âêîôû][kjw]")


def _shared(ch: str) -> bool:
    """Accented letters both Latin pages have at the same byte (á, é, í, ó, ú, ý, ä, ö, ü, š, ž...)."""
    return ch.encode("cp1252", "ignore").decode("cp1250", "ignore") == ch


def _accented_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    return sum(not ch.isascii() for ch in letters) / len(letters) if letters else 0.0


def _cyrillic_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    return sum("\u0400" <= ch <= "\u04ff" for ch in letters) / len(letters) if letters else 0.0


def _read_text(path: Path) -> str:
    name = str(path)
    if not path.exists():
        raise InputError(f"{name} does not exist: check the subtitle file's path")
    if not path.is_file():
        raise InputError(f"{name} is not a file: pass a subtitle file (.srt, .vtt or .ass)")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InputError(f"{name} is too large to be a subtitle file: pass an .srt, .vtt or .ass file")
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {name} ({e.strerror}): check its permissions") from None
    text = _decode(data, name).lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\f\v")
    if "\0" in text or controls > 0.01 * len(text):
        raise InputError(f"{name} is not a text subtitle file: pass an .srt, .vtt or .ass file")
    return text


# ---------------------------------------------------------------- parsing

def _detect_format(text: str, name: str) -> str:
    from pysubs2.formats import FORMAT_IDENTIFIER_TO_FORMAT_CLASS, SubripFormat, SubstationFormat

    if text.lstrip().startswith("WEBVTT"):
        return "vtt"
    ssa = SubstationFormat.guess_format(text)
    if ssa or re.search(r"^\s*\[Events\]", text, re.M | re.I):
        return ssa or "ass"
    if SubripFormat.guess_format(text):  # a line with two timestamps, and not TTML
        return "srt"
    if any(_VTT_TIMING.search(line) for line in text.splitlines()):
        return "vtt"  # WebVTT whose header is missing
    # "tmp" is left out: it matches almost any text with a colon in it.
    others = sorted({g for f in FORMAT_IDENTIFIER_TO_FORMAT_CLASS.values() if (g := f.guess_format(text))} - {"tmp"})
    if others:
        raise InputError(f"{name} is a {others[0].upper()} subtitle file, which dub does not read: "
                         f"convert it to SRT first (pysubs2 --to srt {shlex.quote(name)})")
    raise InputError(f"no subtitles found in {name}: is it an SRT, VTT or ASS file?")


def _tidy_blocks(text: str, fmt: str) -> str:
    """Drop what pysubs2's SRT/VTT reader would glue onto the previous cue's text: cue
    numbers and WebVTT cue identifiers (the line just above a timing line), and WebVTT
    NOTE, STYLE and REGION blocks."""
    blocks = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = block.split("\n")
        if fmt == "vtt" and re.match(r"(NOTE|STYLE|REGION)\b", lines[0]) and "-->" not in block:
            continue
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing == 1 or (timing and lines[timing - 1].strip().isdigit()):
            del lines[timing - 1]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _turns(raw: str, default_speaker: str | None) -> list[tuple[str | None, str]]:
    """One event's text -> [(speaker, plain text)], one per speaker turn. A turn starts at
    a dialogue dash or a speaker label ("MARY: ...", "<v Mary>"); other lines continue it."""
    turns: list[list] = []
    pending = None  # a label alone on its line ("JOHN:") names who says the next line
    for line in re.split(r"\\[Nn]", _OVERRIDE.sub("", raw)):
        voice = _VOICE.search(line)
        line = html.unescape(_TAG.sub("", line.replace(r"\h", " ")))
        line = " ".join(line.split())
        dash = _DASH.match(line)
        if dash:
            line = line[dash.end():]
        label = _LABEL.match(line)
        speaker = voice.group(1).strip() if voice else None
        if label and len(label["name"]) <= 25 and all(not w[0].islower() for w in label["name"].split()):
            speaker, line = label["name"], label["rest"]
        if not line:
            pending = speaker or pending
            continue
        speaker, pending = speaker or pending, None
        if dash or speaker or not turns:
            turns.append([speaker or default_speaker, line])
        else:
            turns[-1][1] += " " + line
    # A cue of only tags, blanks or emoji has nothing to say.
    return [(s, t) for s, t in turns if any(ch.isalnum() for ch in t)]


def _split_time(start: int, end: int, turns: list) -> list[tuple[int, int, str | None, str]]:
    """Share [start, end) between turns in proportion to their lengths, at least 1 ms each."""
    if end - start < len(turns):
        turns = [(turns[0][0], " ".join(t for _, t in turns))]
    total, done, bounds = sum(len(t) for _, t in turns), 0, [start]
    for k, (_, text) in enumerate(turns[:-1], 1):
        done += len(text)
        bounds.append(min(max(start + round((end - start) * done / total), bounds[-1] + 1), end - (len(turns) - k)))
    bounds.append(end)
    return [(bounds[i], bounds[i + 1], s, t) for i, (s, t) in enumerate(turns)]


def _fix_times(events: list[tuple[int, int, list]]) -> list[tuple[int, int, str | None, str]]:
    """Sort, give inverted cues a length, split turns, then clip or merge overlaps."""
    events.sort(key=lambda e: (e[0], e[1]))
    pieces = []
    for i, (start, end, turns) in enumerate(events):
        if end <= start:  # repaired, never dropped: the line is still there to be said
            later = [e[0] for e in events[i + 1:] if e[0] > start]
            room = later[0] - start if later else DEFAULT_REPAIRED_MS
            end = start + max(MIN_REPAIRED_MS, min(DEFAULT_REPAIRED_MS, room))
        pieces += _split_time(start, end, turns)
    pieces.sort(key=lambda p: (p[0], p[1]))
    out: list[tuple[int, int, str | None, str]] = []
    for piece in pieces:
        if out and piece[0] < out[-1][1]:
            start, end, speaker, text = out[-1]
            if piece[0] - start >= MIN_CLIPPED_MS:
                out[-1] = (start, piece[0], speaker, text)
            else:  # too short to keep apart: one slot, said by whoever starts it
                joined = text if text == piece[3] else f"{text} {piece[3]}"
                out[-1] = (start, max(end, piece[1]), speaker or piece[2], joined)
                continue
        out.append(piece)
    return out


def read_subtitles(path: str | Path) -> list[Cue]:
    """Read an SRT, WebVTT or ASS/SSA file into clean, sorted, non-overlapping cues."""
    import pysubs2

    path, name = Path(path), str(path)
    text = _read_text(path)
    if not text.strip():
        raise InputError(f"no subtitles found in {name}: is it an SRT, VTT or ASS file?")
    fmt = _detect_format(text, name)
    if fmt in ("srt", "vtt"):
        text = _tidy_blocks(text, fmt)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # keep_html_tags: we strip tags ourselves, after reading <v Name> voices from them.
            subs = pysubs2.SSAFile.from_string(text, format_=fmt, keep_html_tags=True)
    except Exception as e:  # noqa: BLE001 - pysubs2 raises many kinds on malformed input
        raise InputError(f"cannot parse {name} as {fmt.upper()} ({e}): check the file") from None
    events = []
    for ev in subs.events:
        if ev.is_text:  # skips ASS comments and vector drawings
            turns = _turns(ev.text, (ev.name or "").strip() or None)
            if turns:
                events.append((max(0, ev.start), max(0, ev.end), turns))
    if not events and any(ev.is_text and ev.text.strip() for ev in subs.events):
        raise InputError(f"the cues of {name} have nothing to say (only tags, symbols or emoji): "
                         "give subtitles with words in them")
    if not events:
        raise InputError(f"no subtitles found in {name}: is it an SRT, VTT or ASS file?")
    cues = [Cue(i, s / 1000, e / 1000, t, spk) for i, (s, e, spk, t) in enumerate(_fix_times(events), 1)]
    from tts_core.api import MAX_CHARACTERS

    for cue in cues:  # refused now, not after the stages before synthesis have run
        if len(cue.text) > MAX_CHARACTERS:
            raise InputError(f"cue {cue.index} of {name} is {len(cue.text):,} characters long, more than one line "
                             f"can say ({MAX_CHARACTERS:,}): split it into several cues")
    return cues


# ---------------------------------------------------------------- writing

def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def clock(seconds: float) -> str:
    """A time as subtitle files write it, for messages: 05:00:00.000."""
    return _stamp(seconds, ".")


def _line(cue: Cue) -> str:
    # One line, no "-->" (it would read as a timing line), speaker label restored.
    text = " ".join(cue.text.split()).replace("-->", "->")
    return f"{cue.speaker}: {text}" if cue.speaker else text


def write_srt(cues: list[Cue], path: str | Path) -> Path:
    """Write cues as UTF-8 SRT, numbered from 1; atomic, so never a half-written file."""
    blocks = [f"{i}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n{_line(c)}\n" for i, c in enumerate(cues, 1)]
    return write_text_atomic(path, "\n".join(blocks))


def write_vtt(cues: list[Cue], path: str | Path) -> Path:
    """Write cues as UTF-8 WebVTT (text escaped as the format requires); atomic."""
    blocks = ["WEBVTT\n"] + [
        f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n"
        + html.escape(_line(c), quote=False) + "\n"
        for c in cues
    ]
    return write_text_atomic(path, "\n".join(blocks))


def cues_to_segments(cues: list[Cue]) -> list[dict]:
    """Cues as the pipeline's segment dicts (see pipelines.asr)."""
    return [{"start": c.start, "end": c.end, "text": c.text, "speaker": c.speaker} for c in cues]
