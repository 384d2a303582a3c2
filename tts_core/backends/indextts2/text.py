"""Text front end of IndexTTS-2: normalisation, then the release's BPE (sentencepiece, 12,000 pieces).

The release normalises text with grammar-based TN (English and Chinese) before its BPE. Those
grammars are not a dependency here; this module writes the readings out as rules that give
the same text on ordinary sentences: numbers, years, ordinals, decimals, money, percent,
times, dates, common units and abbreviations, telephone numbers, fractions and ranges in
English; numbers (with 两), years, dates, times, percent, money, units, fractions and
phone numbers in Chinese. Then, as the release does, CJK characters are spaced apart,
everything is upper-cased (the BPE was trained upper-case) and punctuation is mapped onto the
few marks the BPE knows.

A line is read as Chinese when it has a CJK character, no Latin letter, or tone-numbered
pinyin ("xuan4"), as the release decides; ``language="en"`` keeps a line without CJK English.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import EmptyTextError, ModelFileError, UnsupportedRequestError

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
PINYIN = re.compile(
    r"(?<![a-z])((?:[bpmfdtnlgkhjqxzcsryw]|[zcs]h)?(?:[aeiouüv]|[ae]i|u[aio]|ao|ou|i[aue]|[uüv]e|[uvü]ang?|uai"
    r"|[aeiuv]n|[aeio]ng|ia[no]|i[ao]ng)|ng|er)([1-5])",
    re.IGNORECASE,
)
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


# ---------------------------------------------------------------------------------------
# English readings

ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SCALES = ["", "thousand", "million", "billion", "trillion", "quadrillion"]
ORDINAL_WORDS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
    "twelve": "twelfth",
}  # fmt: skip
MONTHS = "january february march april may june july august september october november december".split()
MONTH_ABBR = {m[:3]: m for m in MONTHS} | {"sept": "september"}
MONTH_NAME = r"(?:January|February|March|April|June|July|August|September|October|November|December|" \
             r"(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?)"  # fmt: skip
CURRENCIES = {"$": ("dollar", "dollars"), "£": ("pound", "pounds"), "€": ("euro", "euros"), "¥": ("yen", "yen"),
              "₩": ("won", "won")}  # fmt: skip
# unit -> (singular, plural)
UNITS = {
    "km/h": ("kilometer per hour", "kilometers per hour"), "mph": ("mile per hour", "miles per hour"),
    "°C": ("degree Celsius", "degrees Celsius"), "°c": ("degree Celsius", "degrees Celsius"),
    "℃": ("degree Celsius", "degrees Celsius"), "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°f": ("degree Fahrenheit", "degrees Fahrenheit"), "℉": ("degree Fahrenheit", "degrees Fahrenheit"),
    "km": ("kilometer", "kilometers"), "cm": ("centimeter", "centimeters"), "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"), "ml": ("milliliter", "milliliters"), "ft": ("foot", "feet"),
    "lbs": ("pound", "pounds"), "lb": ("pound", "pounds"), "oz": ("ounce", "ounces"), "mi": ("mile", "miles"),
    "yd": ("yard", "yards"), "min": ("minute", "minutes"), "kb": ("kilobyte", "kilobytes"),
    "KB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"), "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"), "gb": ("gigabyte", "gigabytes"), "tb": ("terabyte", "terabytes"),
    "Hz": ("hertz", "hertz"), "hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"),
    "MHz": ("megahertz", "megahertz"), "GHz": ("gigahertz", "gigahertz"), "kW": ("kilowatt", "kilowatts"),
    "kw": ("kilowatt", "kilowatts"), "kWh": ("kilowatt hour", "kilowatt hours"), "rpm": ("revolution per minute",
    "revolutions per minute"),
}  # fmt: skip
# Abbreviations read out (a few of the release's whitelist, the unambiguous ones).
ABBREVIATIONS = {
    "Mr.": "Mister", "Mr": "Mister", "Mrs.": "Misses", "Mrs": "Misses", "Ms.": "Miss", "Ms": "Miss",
    "Dr.": "doctor", "Jr.": "junior", "Co.": "company", "Mt.": "Mount", "Ph.D.": "PHD", "Rev.": "Reverend",
    "Gov.": "governor", "Apt.": "Apartment", "Hon.": "Honorable", "Bldg.": "Building", "Maj.": "Major",
    "World War II.": "World War two", "World War II": "World War two", "World War I.": "World War one",
    "World War I": "World War one",
}  # fmt: skip
SYMBOLS = {"&": "and", "@": "at", "+": "plus", "=": "equals", "%": "percent", "#": "number"}


def _under_thousand(n: int, with_and: bool) -> str:
    words = []
    if n >= 100:
        words += [ONES[n // 100], "hundred"]
        n %= 100
        if n and with_and:
            words.append("and")
    if n >= 20:
        words.append(TENS[n // 10])
        if n % 10:
            words.append(ONES[n % 10])
    elif n or not words:
        words.append(ONES[n])
    return " ".join(words)


def cardinal(n: int) -> str:
    """360 -> "three hundred and sixty"; "and" only inside the last three digits."""
    if n < 0:
        return "negative " + cardinal(-n)
    if n < 1000:
        return _under_thousand(n, with_and=True)
    groups = []
    while n:
        groups.append(n % 1000)
        n //= 1000
    if len(groups) > len(SCALES):
        return " ".join(ONES[int(d)] for d in str(n))
    words = []
    for i in range(len(groups) - 1, 0, -1):
        if groups[i]:
            words += [_under_thousand(groups[i], with_and=False), SCALES[i]]
    last = groups[0]
    if last:
        words.append(("and " if last < 100 else "") + _under_thousand(last, with_and=True))
    return " ".join(words)


def year(n: int) -> str:
    """1999 -> "nineteen ninety nine", 2001 -> "two thousand one", 1905 -> "nineteen oh five"."""
    hi, lo = divmod(n, 100)
    if n % 1000 == 0:
        return cardinal(n)
    if n % 1000 < 10:
        return f"{ONES[n // 1000]} thousand {ONES[n % 10]}"
    if lo == 0:
        return f"{_under_thousand(hi, False)} hundred"
    if lo < 10:
        return f"{_under_thousand(hi, False)} oh {ONES[lo]}"
    return f"{_under_thousand(hi, False)} {_under_thousand(lo, False)}"


def number(digits: str) -> str:
    """An integer as written: 1000..2999 without separators are read as years, as the release does."""
    n = int(digits.replace(",", ""))
    if len(digits) == 4 and 1000 <= n <= 2999:
        return year(n)
    return cardinal(n)


def ordinal(n: int) -> str:
    words = cardinal(n).split()
    last = words[-1]
    if last in ORDINAL_WORDS:
        words[-1] = ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def decimal(text: str) -> str:
    """3.05 -> "three point oh five"."""
    whole, _, frac = text.replace(",", "").partition(".")
    head = cardinal(int(whole)) + " " if whole else ""
    return head + "point " + " ".join("oh" if d == "0" else ONES[int(d)] for d in frac)


def amount(text: str) -> str:
    return decimal(text) if "." in text else number(text)


def _plural(word: str) -> str:
    """The plural of the last word of a reading (seventy -> seventies, for decades)."""
    head, _, last = word.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return f"{head} {last}".strip()


def _money(m: re.Match) -> str:
    symbol, value, scale = m.group(1), m.group(2).replace(",", ""), m.group(3)
    single, plural = CURRENCIES[symbol]
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    words = amount(value) if "." in value else cardinal(int(value))
    if scale:
        return f"{words} {scale} {plural}"
    return f"{words} {single if value == '1' else plural}"


def _time(m: re.Match) -> str:
    hour, minute, second, suffix = int(m.group(1)), m.group(2), m.group(3), m.group(4)
    if second is not None:
        return f"{cardinal(hour)} hours {cardinal(int(minute))} minutes and {cardinal(int(second))} seconds"
    words = cardinal(hour)
    if minute != "00":
        words += " " + (f"o {ONES[int(minute)]}" if minute[0] == "0" else cardinal(int(minute)))
    elif not suffix:
        words += " o'clock"
    if suffix:
        words += " " + suffix.replace(".", "").upper()
    return words


def _fraction(num: int, den: int) -> str:
    if den == 2:
        name = "half" if num == 1 else "halves"
    elif den == 4:
        name = "quarter" if num == 1 else "quarters"
    else:
        name = ordinal(den) if num == 1 else _plural(ordinal(den))
    return f"{cardinal(num)} {name}"


def _date(day: int, month: str, year_digits: str | None, comma: str = "") -> str:
    words = f"the {ordinal(day)} of {month}"
    if year_digits:
        words += f"{comma} {number(year_digits)}"
    return words


def _month(name: str) -> str:
    name = name.rstrip(".").lower()
    return MONTH_ABBR.get(name, name)


def _phone_digits(digits: str) -> str:
    return " ".join(ONES[int(d)] for d in digits)


def _alternation(words) -> str:
    """A regex alternative of ``words``, longest first so "km/h" wins over "km"."""
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _mixed_fraction(m: re.Match) -> str:
    """5 1/2 -> five and a half; 3 1/4 -> three and one quarter."""
    whole, num, den = int(m[1]), int(m[2]), int(m[3])
    part = "a half" if (num, den) == (1, 2) else _fraction(num, den)
    return f"{cardinal(whole)} and {part}"


def _decade(m: re.Match) -> str:
    """80s -> eighties, 1980s -> nineteen eighties."""
    return _plural(number(m[1]) if len(m[1]) == 4 else cardinal(int(m[1])))


def _unit(m: re.Match) -> str:
    single, plural = UNITS[m[2]]
    return f"{amount(m[1])} {single if m[1] == '1' else plural}"


NUM = r"\d+(?:,\d{3})*(?:\.\d+)?"
EN_RULES: list[tuple[re.Pattern, object]] = [
    # dates first: they hold numbers the other rules would read alone
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"),
     lambda m: _date(int(m[3]), MONTHS[int(m[2]) - 1], m[1]) if 1 <= int(m[2]) <= 12 else m[0]),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b"),
     lambda m: _date(int(m[2]), MONTHS[int(m[1]) - 1], m[3]) if 1 <= int(m[1]) <= 12 else m[0]),
    (re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b"),
     lambda m: _date(int(m[1]), MONTHS[int(m[2]) - 1], m[3]) if 1 <= int(m[2]) <= 12 else m[0]),
    (re.compile(rf"\b({MONTH_NAME}) (\d{{1,2}})(?:st|nd|rd|th)?(?:(,) (\d{{4}}))?\b"),
     lambda m: _date(int(m[2]), _month(m[1]), m[4], " ," if m[3] else "")),
    (re.compile(rf"\b({MONTH_NAME}|May) (\d{{4}})\b"), lambda m: f"{_month(m[1])} {number(m[2])}"),
    # times, with a.m./p.m. (whose dots are taken with them)
    (re.compile(r"\b(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*(a\.m\.|p\.m\.|am|pm|AM|PM|a\.m|p\.m)(?![\w]))?"), _time),
    (re.compile(r"\b(\d{1,2})\s*(a\.m\.|p\.m\.|am|pm|AM|PM|a\.m|p\.m)(?![\w])"),
     lambda m: f"{cardinal(int(m[1]))} {m[2].replace('.', '').upper()}"),
    (re.compile(r"\b(\d+):(\d)\b"), lambda m: f"{cardinal(int(m[1]))} to {cardinal(int(m[2]))}"),
    # telephone numbers
    (re.compile(r"\b1-(\d{3})-(\d{3})-(\d{4})\b"),
     lambda m: f"one, {cardinal(int(m[1])) if m[1].endswith('00') else _phone_digits(m[1])}, "
               f"{_phone_digits(m[2])}, {_phone_digits(m[3])}"),
    (re.compile(r"(?<![\w-])\(?(\d{3})\)?[ -]?(\d{3})-(\d{4})\b"),
     lambda m: f"{_phone_digits(m[1])}, {_phone_digits(m[2])}, {_phone_digits(m[3])}"),
    # money, percent, units
    (re.compile(rf"([$£€¥₩])\s?({NUM})(?:\s(thousand|million|billion|trillion))?\b"), _money),
    (re.compile(rf"({NUM})\s?%"), lambda m: f"{amount(m[1])} percent"),
    (re.compile(rf"(?<![\w.])({NUM}) ?({_alternation(UNITS)})(?![\w/])"), _unit),
    # fractions (mixed first), ranges, ordinals, decades
    (re.compile(r"\b(\d+) (\d+)/(\d+)\b"), _mixed_fraction),
    (re.compile(r"(?<![\w/])(\d+)/(\d+)(?![\w/])"), lambda m: _fraction(int(m[1]), int(m[2]))),
    (re.compile(r"(?<![\w.-])(\d+)-(\d+)(?![\w-]|\.\d)"),
     lambda m: f"{cardinal(int(m[1]))} to {cardinal(int(m[2]))}"),
    (re.compile(r"\b(\d+)(?:st|nd|rd|th)\b"), lambda m: ordinal(int(m[1]))),
    (re.compile(r"(?:\B'|\b)(\d?\d?[1-9]0)s\b"), _decade),
    # what is left: signed numbers, decimals, integers
    (re.compile(r"(?<![\w-])-(\d)"), lambda m: f"negative {m[1]}"),
    (re.compile(r"(?<![\d.])0+(?=[1-9])"), lambda m: "oh " * len(m[0])),  # 0042: oh oh forty two
    (re.compile(r"(?<!\d)(\d+(?:,\d{3})+|\d*\.\d+|\d+)"), lambda m: amount(m[1])),
]  # fmt: skip


def _abbreviations(text: str) -> str:
    for short, long in ABBREVIATIONS.items():
        text = re.sub(rf"(?<![\w.]){re.escape(short)}(?=\s|$)", long, text)
    # U.S. -> US
    return re.sub(r"\b([A-Z])\.((?:[A-Z]\.)+|(?:[A-Z]\.)*[A-Z]\b)", lambda m: m[0].replace(".", ""), text)


def _urls(text: str) -> str:
    def spell(m: re.Match) -> str:
        parts = re.split(r"([./:])", m[0].rstrip("."))
        names = {".": "dot", "/": "slash", ":": "colon"}
        words = [names.get(p, p.upper() if p.lower() in ("www", "http", "https") else p) for p in parts if p]
        return " ".join(words)

    return re.sub(r"\b(?:https?://|www\.)[\w./-]+|\b[\w-]+\.(?:com|org|net|edu|gov|io)\b", spell, text)


def normalize_english(text: str) -> str:
    text = re.sub(r"\b([\w.]+)@([\w-]+(?:\.[\w-]+)+)\b",
                  lambda m: f"{m[1]} at {m[2].replace('.', ' dot ')}", text)  # fmt: skip
    text = _urls(_abbreviations(text))
    text = re.sub(r"(?<=\d) ?[x×] ?(?=\d)", " times ", text)
    text = re.sub(r"([#+~])(?=\d)", lambda m: {"#": "number ", "+": "plus ", "~": "tilde "}[m[1]], text)
    text = re.sub(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])(?!(?:st|nd|rd|th|s|am|pm|a\.m|p\.m)\b)", " ", text)
    for pattern, reading in EN_RULES:
        text = pattern.sub(reading, text)
    text = re.sub(r"(?<=\s)([&@+=#])(?=\s|\d|$)|^([&@+=#])", lambda m: SYMBOLS[m[0]], text)
    text = re.sub(r"(?<=\w)\s?([&])\s?(?=\w)", " and ", text)
    return re.sub(r" {2,}", " ", text)


# ---------------------------------------------------------------------------------------
# Chinese readings

ZH_DIGITS = "零一二三四五六七八九"
# Measure words after which 2 is read 两.
QUANTIFIERS = set("个位只天次件本条张年人岁名把辆台部间双对种项份口头匹片家所周颗根枝支轮层")
ZH_UNITS_MAP = {
    "km/h": ("每小时", "公里"), "kg": ("", "千克"), "km": ("", "公里"), "cm": ("", "厘米"), "mm": ("", "毫米"),
    "mg": ("", "毫克"), "ml": ("", "毫升"), "℃": ("", "摄氏度"), "°C": ("", "摄氏度"), "kb": ("", "千字节"),
    "GB": ("", "GB"), "m": ("", "米"), "g": ("", "克"),
}  # fmt: skip


def _zh_four(n: int, leading: bool) -> str:
    """0 < n < 10000, as the digits of one 万 group; ``leading`` when nothing precedes it."""
    out, zero = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // value % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero or (not out and not leading and value < 1000):
            out += "零"
        zero = False
        out += ("" if (unit == "十" and d == 1 and not out and leading) else ZH_DIGITS[d]) + unit
    return out


def zh_cardinal(n: int) -> str:
    """465 -> 四百六十五, 200 -> 两百, 10 -> 十, 1001 -> 一千零一, 20000 -> 两万."""
    if n == 0:
        return "零"
    groups = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    out = ""
    for i in range(len(groups) - 1, -1, -1):
        g = groups[i]
        if g:
            out += _zh_four(g, leading=not out) + ("", "万", "亿", "万亿")[i]
        elif out and any(groups[:i]) and not out.endswith("零"):
            out += "零"
    # the release says 两 for a leading 2 of 百, 千, 万, 亿
    return re.sub(r"^二(?=[百千万亿])", "两", out)


def zh_digits(digits: str, phone: bool = False) -> str:
    return "".join(("幺" if phone and d == "1" else ZH_DIGITS[int(d)]) for d in digits)


def zh_number(text: str) -> str:
    """An integer or decimal; a leading zero means the digits are read one by one (007)."""
    whole, dot, frac = text.partition(".")
    if len(whole) > 1 and whole[0] == "0":
        head = zh_digits(whole)
    else:
        head = zh_cardinal(int(whole))
    return head + ("点" + zh_digits(frac) if dot else "")


ZH_OPERATORS = {"+": "加", "×": "乘", "÷": "除以", "=": "等于"}


def _zh_time(m: re.Match) -> str:
    words = zh_number(str(int(m[1]))) + "点"
    if m[2] != "00":
        words += zh_number(m[2]) + "分"
    if m[3]:
        words += zh_number(m[3]) + "秒"
    return words


def _zh_date(m: re.Match) -> str:
    return f"{zh_digits(m[1])}年{zh_cardinal(int(m[2]))}月{zh_cardinal(int(m[3]))}日"


def _zh_unit(m: re.Match) -> str:
    before, after = ZH_UNITS_MAP[m[2]]
    return before + zh_number(m[1]) + after


ZH_NUM = r"\d+(?:\.\d+)?"
ZH_RULES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?!\d)"), _zh_date),
    (re.compile(r"(\d{2,4})(?=年)"), lambda m: zh_digits(m[1])),
    (re.compile(r"(?<!\d)(\d{1,2}):(\d{2})(?::(\d{2}))?(?!\d)"), _zh_time),
    (re.compile(r"(?<!\d)(\d+):(\d+)(?!\d)"), lambda m: f"{zh_number(m[1])}比{zh_number(m[2])}"),
    (re.compile(r"(?<!\d)1\d{10}(?!\d)"), lambda m: zh_digits(m[0], phone=True)),
    (re.compile(r"(?<![\d-])\d+(?:-\d+){2,}(?![\d-])"), lambda m: zh_digits(m[0].replace("-", ""))),
    (re.compile(rf"[¥￥]({ZH_NUM})"), lambda m: zh_number(m[1]) + "元"),
    (re.compile(rf"\$({ZH_NUM})"), lambda m: zh_number(m[1]) + "美元"),
    (re.compile(rf"(?<![\d.])-({ZH_NUM})"), lambda m: "负" + m[1]),
    (re.compile(rf"({ZH_NUM})%"), lambda m: "百分之" + zh_number(m[1])),
    (re.compile(r"(?<!\d)(\d+)/(\d+)(?!\d)"), lambda m: f"{zh_number(m[2])}分之{zh_number(m[1])}"),
    (re.compile(rf"({ZH_NUM})\s?({_alternation(ZH_UNITS_MAP)})(?![A-Za-z/])"), _zh_unit),
    (re.compile(r"(?<=\d)\s*([+×÷=])\s*(?=[\d-])"), lambda m: ZH_OPERATORS[m[1]]),
    (re.compile(r"(?<![\d.])2(?=[" + "".join(sorted(QUANTIFIERS)) + "])"), lambda m: "两"),
    (re.compile(ZH_NUM), lambda m: zh_number(m[0])),
]  # fmt: skip
FULL_WIDTH = (
    {chr(c): chr(c - 0xFEE0) for c in range(0xFF10, 0xFF1A)}
    | {chr(c): chr(c - 0xFEE0) for c in list(range(0xFF21, 0xFF3B)) + list(range(0xFF41, 0xFF5B))}
    | {"％": "%", "＋": "+", "－": "-", "／": "/", "．": ".", "　": " "}
)


def _placeholder(index: int, mark: str = "\ue001") -> str:
    """A stand-in for text the rules must leave alone: private-use characters, no digits."""
    return mark + chr(0xE100 + index) + mark


def _correct_pinyin(pinyin: str) -> str:
    """ju4 -> JV4: after j, q, x the written u is ü, spelled v in the BPE."""
    if pinyin[0] not in "jqxJQX":
        return pinyin
    return re.sub(r"([jqx])[uü](n|e|an)*(\d)", r"\g<1>v\g<2>\g<3>", pinyin, flags=re.IGNORECASE).upper()


def normalize_chinese(text: str) -> str:
    text = "".join(FULL_WIDTH.get(c, c) for c in text)
    pinyin = {}

    def keep(m: re.Match) -> str:
        key = _placeholder(len(pinyin))
        pinyin[key] = _correct_pinyin(m[0])
        return key

    text = PINYIN.sub(keep, text)
    for pattern, reading in ZH_RULES:
        text = pattern.sub(reading, text)
    for key, value in pinyin.items():
        text = text.replace(key, value)
    return text


# ---------------------------------------------------------------------------------------


def _map_punctuation(text: str, table: dict[str, str]) -> str:
    pattern = re.compile("|".join(re.escape(k) for k in table))
    return pattern.sub(lambda m: table[m[0]], text)


def normalize(text: str, language: str | None = None) -> str:
    """Spoken form of ``text``, before spacing and upper-casing. ``language`` "en" or "zh"
    forces the reading of a line without CJK; None decides as the release does."""
    annotations = {}

    def protect(m: re.Match) -> str:
        key = _placeholder(len(annotations), "\ue003")
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
