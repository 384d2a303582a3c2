"""Chinese readings of IndexTTS-2's text front end (``text.py``): digits and symbols
written out in characters.

The release reads Chinese with a grammar-based TN, which is not a dependency here; these
rules give the same text on ordinary sentences: numbers (with 两), years, dates, times,
percent, money, units, fractions and phone numbers. Tone-numbered pinyin ("xuan4") is kept
out of the rules and spelled as the BPE knows it.
"""

from __future__ import annotations

import re

from .text_en import alternation

# Tone-numbered pinyin ("xuan4"); it also makes a line Chinese (``text.is_chinese``).
PINYIN = re.compile(
    r"(?<![a-z])((?:[bpmfdtnlgkhjqxzcsryw]|[zcs]h)?(?:[aeiouüv]|[ae]i|u[aio]|ao|ou|i[aue]|[uüv]e|[uvü]ang?|uai"
    r"|[aeiuv]n|[aeio]ng|ia[no]|i[ao]ng)|ng|er)([1-5])",
    re.IGNORECASE,
)

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
    (re.compile(rf"({ZH_NUM})\s?({alternation(ZH_UNITS_MAP)})(?![A-Za-z/])"), _zh_unit),
    (re.compile(r"(?<=\d)\s*([+×÷=])\s*(?=[\d-])"), lambda m: ZH_OPERATORS[m[1]]),
    (re.compile(r"(?<![\d.])2(?=[" + "".join(sorted(QUANTIFIERS)) + "])"), lambda m: "两"),
    (re.compile(ZH_NUM), lambda m: zh_number(m[0])),
]  # fmt: skip
FULL_WIDTH = (
    {chr(c): chr(c - 0xFEE0) for c in range(0xFF10, 0xFF1A)}
    | {chr(c): chr(c - 0xFEE0) for c in list(range(0xFF21, 0xFF3B)) + list(range(0xFF41, 0xFF5B))}
    | {"％": "%", "＋": "+", "－": "-", "／": "/", "．": ".", "　": " "}
)


def placeholder(index: int, mark: str = "\ue001") -> str:
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
        key = placeholder(len(pinyin))
        pinyin[key] = _correct_pinyin(m[0])
        return key

    text = PINYIN.sub(keep, text)
    for pattern, reading in ZH_RULES:
        text = pattern.sub(reading, text)
    for key, value in pinyin.items():
        text = text.replace(key, value)
    return text
