"""English readings of IndexTTS-2's text front end (``text.py``): digits and symbols
written out as words.

The release reads English with a grammar-based TN, which is not a dependency here; these
rules give the same text on ordinary sentences: numbers, years, ordinals, decimals, money,
percent, times, dates, common units and abbreviations, telephone numbers, fractions and
ranges, e-mail addresses and web addresses. ``EN_RULES`` run in order, dates first.
"""

from __future__ import annotations

import re

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


def alternation(words) -> str:
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
    (re.compile(rf"(?<![\w.])({NUM}) ?({alternation(UNITS)})(?![\w/])"), _unit),
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
