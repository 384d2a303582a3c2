"""IndexTTS-2 text front end: the normaliser against readings of the release's own
normaliser (grammar-based TN, run once on these sentences), and the BPE tokenizer on a tiny
sentencepiece model trained here."""

import pytest

spm = pytest.importorskip("sentencepiece")

from tts_core.backends.indextts2 import text as T  # noqa: E402
from tts_core.errors import EmptyTextError, ModelFileError  # noqa: E402

# (input, what the release feeds its BPE: normalised, CJK spaced, upper-cased)
RELEASE_READINGS = [
    ("I have 3 apples and 12 oranges.", "I HAVE THREE APPLES AND TWELVE ORANGES."),
    ("The meeting is at 8:30 AM tomorrow.", "THE MEETING IS AT EIGHT THIRTY AM TOMORROW."),
    ("She was born on January 5, 2001.", "SHE WAS BORN ON THE FIFTH OF JANUARY , TWO THOUSAND ONE."),
    ("It costs $12.50 at the store.", "IT COSTS TWELVE POINT FIVE DOLLARS AT THE STORE."),
    ("Mr. Smith and Dr. Jones arrived at 10 p.m.", "MISTER SMITH AND DOCTOR JONES ARRIVED AT TEN PM"),
    ("This is the 21st century, not the 19th.", "THIS IS THE TWENTY FIRST CENTURY, NOT THE NINETEENTH."),
    ("The temperature dropped to -5 degrees.", "THE TEMPERATURE DROPPED TO NEGATIVE FIVE DEGREES."),
    ("About 45% of people agreed.", "ABOUT FORTY FIVE PERCENT OF PEOPLE AGREED."),
    ("He ran 10 km in 42 minutes.", "HE RAN TEN KILOMETERS IN FORTY TWO MINUTES."),
    ("Call me at 555-123-4567.", "CALL ME AT FIVE FIVE FIVE, ONE TWO THREE, FOUR FIVE SIX SEVEN."),
    ("What's going on? I don't know!", "WHAT IS GOING ON? I DON'T KNOW!"),
    ("Wait... are you serious?", "WAIT… ARE YOU SERIOUS?"),
    ("Pi is roughly 3.14159.", "PI IS ROUGHLY THREE POINT ONE FOUR ONE FIVE NINE."),
    ("Chapter 3: The Return", "CHAPTER THREE, THE RETURN"),
    ("Visit www.example.com for details.", "VISIT WWW DOT EXAMPLE DOT COM FOR DETAILS."),
    ("They scored 3-2 in the final.", "THEY SCORED THREE TO TWO IN THE FINAL."),
    ("The U.S. and the U.K. signed the deal.", "THE US AND THE UK SIGNED THE DEAL."),
    ("Only 1/4 of the cake is left.", "ONLY ONE QUARTER OF THE CAKE IS LEFT."),
    ("On 2024-05-06 we moved.", "ON THE SIXTH OF MAY TWENTY TWENTY FOUR WE MOVED."),
    ("The train leaves at 14:05.", "THE TRAIN LEAVES AT FOURTEEN O FIVE."),
    ("OK, let's go—now!", "OK, LET'S GO-NOW!"),
    ('She said "hello" and left.', "SHE SAID 'HELLO' AND LEFT."),
    ("There were 1000000 people.", "THERE WERE ONE MILLION PEOPLE."),
    ("Version 2.0 is out.", "VERSION TWO POINT OH IS OUT."),
    ("GPT-5 and F5-TTS are models.", "GPT-FIVE AND F FIVE-TTS ARE MODELS."),
    ("That is 123456 dogs.", "THAT IS ONE HUNDRED TWENTY THREE THOUSAND FOUR HUNDRED AND FIFTY SIX DOGS."),
    ("I have 1905 coins.", "I HAVE NINETEEN OH FIVE COINS."),
    ("It costs $1.", "IT COSTS ONE DOLLAR."),
    ("It is 10:30:15.", "IT IS TEN HOURS THIRTY MINUTES AND FIFTEEN SECONDS."),
    ("In the '80s.", "IN THE EIGHTIES."),
    ("Mix 3 1/4 cups.", "MIX THREE AND ONE QUARTER CUPS."),
    ("I paid €1,200 for the bike.", "I PAID ONE THOUSAND TWO HUNDRED EUROS FOR THE BIKE."),
    ("On 03/15/2021 we signed.", "ON THE FIFTEENTH OF MARCH TWENTY TWENTY ONE WE SIGNED."),
    ("The code is 0042.", "THE CODE IS OH OH FORTY TWO."),
    ("It's 98.6 °F.", "IT IS NINETY EIGHT POINT SIX DEGREES FAHRENHEIT."),
    (
        "欢迎大家来体验indextts2，并给予我们意见与反馈，谢谢大家。",
        "欢 迎 大 家 来 体 验 INDEXTTS 二 , 并 给 予 我 们 意 见 与 反 馈 , 谢 谢 大 家 .",
    ),
    ("现在是北京时间2025年01月11日 20:00", "现 在 是 北 京 时 间 二 零 二 五 年 零 一 月 十 一 日 二 十 点"),
    ("这是1024元的手机，你要吗？", "这 是 一 千 零 二 十 四 元 的 手 机 , 你 要 吗 ?"),
    ("他这条裤子是2012年买的，花了200块钱", "他 这 条 裤 子 是 二 零 一 二 年 买 的 , 花 了 两 百 块 钱"),
    ("电话：135-4567-8900", "电 话 , 一 三 五 四 五 六 七 八 九 零 零"),
    ("我今天跑了10公里，速度是10km/h", "我 今 天 跑 了 十 公 里 , 速 度 是 每 小 时 十 公 里"),
    ("增长了50%，非常好！", "增 长 了 百 分 之 五 十 , 非 常 好 !"),
    ("这酒...里...有毒...", "这 酒 … 里 … 有 毒 …"),
    ("“我爱你”的英语是“I love you”", "' 我 爱 你 ' 的 英 语 是 'I LOVE YOU'"),
    ("今天气温是-3度。", "今 天 气 温 是 负 三 度 ."),
    ("我有2222个苹果", "我 有 两 千 二 百 二 十 二 个 苹 果"),
    ("我有1001个苹果", "我 有 一 千 零 一 个 苹 果"),
    ("时间是20:05:10", "时 间 是 二 十 点 零 五 分 十 秒"),
    ("价格是¥12.5", "价 格 是 十 二 点 五 元"),
    ("电话是13800138000", "电 话 是 幺 三 八 零 零 幺 三 八 零 零 零"),
    ("比分是3:2", "比 分 是 三 比 二"),
    ("1/3的人", "三 分 之 一 的 人"),
    ("2024-05-06发布", "二 零 二 四 年 五 月 六 日 发 布"),
    ("这是A4纸", "这 是 A4 纸"),  # "a4" is tone-numbered pinyin: kept
    ("3 + 4 = 7", "三 加 四 等 于 七"),  # no Latin letter: read as Chinese
    ("晚上7:30见面吧。", "晚 上 七 点 三 十 分 见 面 吧 ."),
]


@pytest.mark.parametrize("text, expected", RELEASE_READINGS)
def test_readings_match_the_release(text, expected):
    assert " ".join(T.space_cjk(T.normalize(text)).split()) == expected


def test_numbers():
    assert T.cardinal(0) == "zero"
    assert T.cardinal(3001) == "three thousand and one"
    assert T.cardinal(2_000_019) == "two million and nineteen"
    assert T.cardinal(-40) == "negative forty"
    assert [T.year(y) for y in (1999, 2000, 2008, 1500, 2010)] == [
        "nineteen ninety nine",
        "two thousand",
        "two thousand eight",
        "fifteen hundred",
        "twenty ten",
    ]
    assert [T.ordinal(n) for n in (1, 2, 3, 12, 20, 101)] == [
        "first",
        "second",
        "third",
        "twelfth",
        "twentieth",
        "one hundred and first",
    ]
    assert T.decimal("0.05") == "zero point oh five"
    assert [T.zh_cardinal(n) for n in (10, 15, 110, 200, 1001, 20000, 100_000_000, 10_005)] == [
        "十",
        "十五",
        "一百一十",
        "两百",
        "一千零一",
        "两万",
        "一亿",
        "一万零五",
    ]


def test_language_choice():
    assert T.is_chinese("你好 world") and T.is_chinese("123") and T.is_chinese("ni3 hao3")
    assert not T.is_chinese("Hello 123")
    assert T.normalize("123") == "一百二十三"  # the release reads a line without letters as Chinese
    assert T.normalize("123", language="en") == "one hundred and twenty three"
    assert T.normalize("你好2", language="en") == "你好二"  # CJK text stays Chinese
    assert T.normalize("jue2 ding4", language="zh") == "JVE2 ding4"  # pinyin kept, ü spelled v


def test_annotations_pass_through():
    assert T.normalize("读<行|xing2>2次") == "读<行|xing2>两次"


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
    """A tiny BPE model with the release's special ids (bos 0, eos 1, unk 2)."""
    folder = tmp_path_factory.mktemp("bpe")
    sentences = [s for _, s in RELEASE_READINGS] * 3 + ["HELLO WORLD. HOW ARE YOU? FINE, THANKS!"] * 3
    (folder / "train.txt").write_text("\n".join(sentences), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(folder / "train.txt"),
        model_prefix=str(folder / "bpe"),
        vocab_size=400,
        model_type="bpe",
        character_coverage=1.0,
        bos_id=0,
        eos_id=1,
        unk_id=2,
        pad_id=-1,
        minloglevel=2,
    )
    return T.TextTokenizer(folder / "bpe.model")


def test_tokenizer_encodes_the_normalised_upper_case_text(bpe):
    ids = bpe.encode("I have 3 apples.")
    assert ids == bpe.sp.encode("I HAVE THREE APPLES.")
    assert bpe.decode(ids) == "I HAVE THREE APPLES."
    assert bpe.encode("") == []
    assert bpe.encode(" a") == bpe.sp.encode(" a")  # a lone character skips normalisation, as in the release
    assert T.tokenize(bpe, "增长了50%") == bpe.sp.encode("增 长 了 百 分 之 五 十")
    with pytest.raises(EmptyTextError):
        T.tokenize(bpe, "")


def test_tokenizer_reports_unknown_characters(bpe):
    ids = bpe.encode("Hello 龘 world")  # a character the BPE never saw
    assert bpe.unk_id == 2 and ids.count(2) == 1
    assert bpe.unknown_characters("Hello 龘 world") == ["龘"]
    assert bpe.unknown_characters("Hello world") == []


def test_long_lines_split_at_sentence_ends(bpe):
    text = " ".join(["Hello world, how are you? Fine, thanks!"] * 12)
    ids = bpe.encode(text)
    segments = bpe.split_segments(ids, max_tokens=20)
    assert len(segments) > 1
    assert [i for s in segments for i in s] == ids
    assert all(len(s) <= 20 for s in segments)
    ends = {bpe.sp.piece_to_id(p) for p in T.TextTokenizer.SENTENCE_END}
    assert all(s[-1] in ends for s in segments[:-1])
    # one sentence longer than the limit is cut at commas, then anywhere
    run_on = bpe.encode("fine, " * 30)
    assert all(len(s) <= 7 for s in bpe.split_segments(run_on, max_tokens=7))
    assert bpe.split_segments(ids[:5]) == [ids[:5]]


def test_missing_bpe_model(tmp_path):
    with pytest.raises(ModelFileError, match="bpe.model"):
        T.TextTokenizer(tmp_path / "bpe.model")
