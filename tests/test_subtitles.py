"""pipelines.subtitles: decoding, cleaning, speakers, time repair, errors, round trips."""

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.errors import InputError
from pipelines.subtitles import Cue, cues_to_segments, read_subtitles, write_srt, write_vtt


def srt(*cues: tuple[str, str, str]) -> str:
    """SRT text from (start, end, text) triples."""
    return "".join(f"{i}\n{a} --> {b}\n{t}\n\n" for i, (a, b, t) in enumerate(cues, 1))


TWO = srt(("00:00:01,000", "00:00:02,500", "Un café, s'il vous plaît."),
          ("00:00:03,000", "00:00:04,000", "Ça va très bien, merci."))


def put(tmp_path, data, name="subs.srt"):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def texts(path):
    return [c.text for c in read_subtitles(path)]


def error(path) -> str:
    with pytest.raises(InputError) as info:
        read_subtitles(path)
    message = str(info.value)
    assert "\n" not in message and info.value.exit_code == 2
    return message


# ---------------------------------------------------------------- decoding

@pytest.mark.parametrize("encoding, bom", [
    ("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
    ("utf-16-le", b""), ("utf-16-be", b""), ("cp1252", b""),
])
def test_encodings(tmp_path, encoding, bom):
    cues = read_subtitles(put(tmp_path, bom + TWO.encode(encoding)))
    assert [c.text for c in cues] == ["Un café, s'il vous plaît.", "Ça va très bien, merci."]
    assert (cues[0].start, cues[0].end) == (1.0, 2.5)


def test_cp1252_with_mid_word_accents(tmp_path):
    # Every accent here sits inside a word, so the bytes also decode as GB18030.
    for line in ["Très élégant, Françoise", "Grüße, süß", "Ça va"]:
        text = srt(("00:00:01,000", "00:00:02,000", line))
        assert texts(put(tmp_path, text.encode("cp1252"))) == [line]


def test_gb18030_chinese(tmp_path):
    text = srt(("00:00:01,000", "00:00:02,000", "你好，世界。"), ("00:00:03,000", "00:00:04,000", "我们走吧！"))
    assert texts(put(tmp_path, text.encode("gb18030"))) == ["你好，世界。", "我们走吧！"]
    text = srt(("00:00:01,000", "00:00:02,000", "我用iPhone拍的，OK吗？"))
    assert texts(put(tmp_path, text.encode("gb18030"))) == ["我用iPhone拍的，OK吗？"]


def test_code_pages_are_scored_not_taken_in_order(tmp_path):
    """Serbian in CP1251 has a byte (0x90, "ђ") CP1252 cannot decode: it was refused as not
    text. Polish in CP1250 decodes as CP1252 too, with symbols inside its words."""
    serbian = srt(("00:00:01,000", "00:00:02,000", "Добар дан, Ђорђе."), ("00:00:03,000", "00:00:04,000", "Љубица је овде."))
    assert texts(put(tmp_path, serbian.encode("cp1251"))) == ["Добар дан, Ђорђе.", "Љубица је овде."]
    polish = srt(("00:00:01,000", "00:00:02,000", "Był sobie pies, który łapał ptaki."))
    assert texts(put(tmp_path, polish.encode("cp1250"))) == ["Był sobie pies, który łapał ptaki."]
    czech = srt(("00:00:01,000", "00:00:02,000", "Příliš žluťoučký kůň úpěl ďábelské ódy."))
    assert texts(put(tmp_path, czech.encode("cp1250"))) == ["Příliš žluťoučký kůň úpěl ďábelské ódy."]
    french = srt(("00:00:01,000", "00:00:02,000", "Le père Noël, ça c'est très bien. Où est la forêt?"))
    assert texts(put(tmp_path, french.encode("cp1252"))) == ["Le père Noël, ça c'est très bien. Où est la forêt?"]


@pytest.mark.parametrize("line, codec", [
    # Central European text whose every byte is a Western letter too ("řeč" reads "øeè",
    # "tě" "tì", "őr" "õr"): the reading no one language writes loses.
    ("Přečtěte si řeč, prosím.", "cp1250"), ("Mám tě rád a půjdu domů.", "cp1250"),
    ("Dobrý den, jak se máte? Děkuji.", "cp1250"), ("Dobrý deň, ďakujem pekne.", "cp1250"),
    ("Ő egy öreg őr, aki ül.", "cp1250"), ("Árvíztűrő tükörfúrógép.", "cp1250"),
    # a line of few letters, each a Western one when misread: told by the letters beside them
    ("Čovječe!", "cp1250"), ("Dziękuję.", "cp1250"), ("Hvala, čovječe.", "cp1250"),
    # and Western text stays Western, a foreign name in it included
    ("Perché è già così tardi?", "cp1252"), ("Blåbærsyltetøj på brødet.", "cp1252"),
    ("São Paulo, coração, não é?", "cp1252"), ("Þú ert í Reykjavík, ég veit.", "cp1252"),
    ("La niña está en el jardín, mon père.", "cp1252"), ("Señor Dashwood, café, naïve.", "cp1252"),
    ("Où êtes-vous? Près de la fenêtre.", "cp1252"), ("Você também, três mês.", "cp1252"),
    ("Più caffè, però così.", "cp1252"), ("Mon cœur, ça été à Noël.", "cp1252"),
])
def test_a_code_page_reading_has_to_be_one_language(tmp_path, line, codec):
    assert texts(put(tmp_path, srt(("00:00:01,000", "00:00:02,000", line)).encode(codec))) == [line]


def test_cp1251_cyrillic(tmp_path):
    # Read as CP1252 these bytes are all accents ("Ïðèâåò"): spoken, that is gibberish.
    text = srt(("00:00:01,000", "00:00:02,000", "Привет, как дела?"), ("00:00:03,000", "00:00:04,000", "Всё хорошо."))
    assert texts(put(tmp_path, text.encode("cp1251"))) == ["Привет, как дела?", "Всё хорошо."]


def test_text_in_no_known_encoding_asks_for_utf8(tmp_path):
    text = srt(("00:00:01,000", "00:00:02,000", "µµµ µµ µµµµ"))  # letters in neither CP1252 text nor CP1251's
    assert "save it as UTF-8" in error(put(tmp_path, text.encode("cp1252")))


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_crlf_and_lone_cr(tmp_path, newline):
    text = srt(("00:00:01,000", "00:00:02,000", "Line one\nline two"), ("00:00:03,000", "00:00:04,000", "Next"))
    assert texts(put(tmp_path, text.replace("\n", newline))) == ["Line one line two", "Next"]


# ---------------------------------------------------------------- cleaning

def test_tags_entities_and_whitespace(tmp_path):
    text = srt(
        ("00:00:01,000", "00:00:02,000", '<i>Hello</i>   <b>there</b>,\n<font color="#ff0000">friend</font>'),
        ("00:00:03,000", "00:00:04,000", r"{\an8}Up {\i1}here{\i0}\Nand\nthere"),
        ("00:00:05,000", "00:00:06,000", "Tom &amp; Jerry &lt;3 caf&eacute;"),
    )
    assert texts(put(tmp_path, text)) == ["Hello there, friend", "Up here and there", "Tom & Jerry <3 café"]


def test_tags_only_and_emoji_only_cues_are_dropped(tmp_path):
    text = srt(
        ("00:00:01,000", "00:00:02,000", "<i></i> {\\an8}"),
        ("00:00:03,000", "00:00:04,000", "😀 🎵 ♪♪"),
        ("00:00:05,000", "00:00:06,000", "Said aloud"),
    )
    cues = read_subtitles(put(tmp_path, text))
    assert [(c.index, c.text, c.start) for c in cues] == [(1, "Said aloud", 5.0)]


def test_only_unsayable_cues_is_an_error(tmp_path):
    text = srt(("00:00:01,000", "00:00:02,000", "<i></i>"), ("00:00:03,000", "00:00:04,000", "🎵"))
    assert "nothing to say" in error(put(tmp_path, text))


# ---------------------------------------------------------------- speakers

def test_speaker_labels(tmp_path):
    text = srt(
        ("00:00:01,000", "00:00:02,000", "JOHN: Get out!"),
        ("00:00:03,000", "00:00:04,000", "Mary Jane Watson: Fine."),
        ("00:00:05,000", "00:00:06,000", "We meet at 10:30: be there."),
        ("00:00:07,000", "00:00:08,000", "and then he said: go"),
        ("00:00:09,000", "00:00:10,000", "李雷：你好"),
    )
    cues = read_subtitles(put(tmp_path, text))
    assert [(c.speaker, c.text) for c in cues] == [
        ("JOHN", "Get out!"), ("Mary Jane Watson", "Fine."), (None, "We meet at 10:30: be there."),
        (None, "and then he said: go"), ("李雷", "你好"),
    ]


def test_dialogue_dashes_split_by_length(tmp_path):
    text = srt(("00:00:10,000", "00:00:14,000", "- Hi.\n- JOHN: Hello there, you."))
    first, second = read_subtitles(put(tmp_path, text))
    assert (first.text, first.speaker, second.text, second.speaker) == ("Hi.", None, "Hello there, you.", "JOHN")
    assert first.start == 10.0 and second.end == 14.0 and first.end == second.start
    assert first.end == pytest.approx(10.0 + 4.0 * 3 / 20, abs=0.001)  # 3 of 20 characters


def test_labelled_lines_are_turns(tmp_path):
    text = srt(("00:00:01,000", "00:00:03,000", "JOHN: Hi.\nMARY: Hello."),
               ("00:00:05,000", "00:00:06,000", "<i>BOB:</i>\nSpeaking on the next line"))
    cues = read_subtitles(put(tmp_path, text))
    assert [(c.speaker, c.text) for c in cues] == [("JOHN", "Hi."), ("MARY", "Hello."), ("BOB", "Speaking on the next line")]


def test_multiline_single_speaker_is_one_cue(tmp_path):
    text = srt(("00:00:01,000", "00:00:03,000", "-Where are you\ngoing so late?"))
    assert texts(put(tmp_path, text)) == ["Where are you going so late?"]


# ---------------------------------------------------------------- times

def test_inverted_times_are_repaired(tmp_path):
    text = srt(
        ("00:00:01,000", "00:00:01,000", "Zero length"),     # room: next at 5 s -> +0.5 s
        ("00:00:05,000", "00:00:04,000", "Backwards"),       # next at 5.3 s -> +0.3 s
        ("00:00:05,300", "00:00:06,000", "Next"),
        ("00:00:08,000", "00:00:07,000", "Last, inverted"),  # nothing after -> +0.5 s
    )
    cues = read_subtitles(put(tmp_path, text))
    assert [(c.text, c.start, c.end) for c in cues] == [
        ("Zero length", 1.0, 1.5), ("Backwards", 5.0, 5.3), ("Next", 5.3, 6.0), ("Last, inverted", 8.0, 8.5),
    ]


def test_repair_keeps_at_least_200_ms(tmp_path):
    text = srt(("00:00:01,000", "00:00:00,500", "Oops"), ("00:00:01,100", "00:00:02,000", "Close"))
    cues = read_subtitles(put(tmp_path, text))
    # 0.2 s would overlap the next cue by 0.1 s, and clipping would leave 0.1 s: merged.
    assert [(c.text, c.start, c.end) for c in cues] == [("Oops Close", 1.0, 2.0)]


def test_overlaps_are_clipped_or_merged(tmp_path):
    text = srt(
        ("00:00:03,000", "00:00:06,000", "Clipped"),         # next starts 1 s in: clipped to 4 s
        ("00:00:04,000", "00:00:05,000", "Starts inside"),   # next starts 0.2 s in: merged
        ("00:00:04,200", "00:00:05,500", "Too close"),
        ("00:00:01,000", "00:00:02,000", "Out of order"),
    )
    cues = read_subtitles(put(tmp_path, text))
    assert [(c.index, c.text, c.start, c.end) for c in cues] == [
        (1, "Out of order", 1.0, 2.0), (2, "Clipped", 3.0, 4.0), (3, "Starts inside Too close", 4.0, 5.5),
    ]


def test_hours_long_timestamps(tmp_path):
    text = srt(("10:23:45,120", "10:23:47,005", "Late at night"))
    (cue,) = read_subtitles(put(tmp_path, text))
    assert (cue.start, cue.end) == (10 * 3600 + 23 * 60 + 45.12, 10 * 3600 + 23 * 60 + 47.005)


# ---------------------------------------------------------------- ASS and VTT

ASS = r"""[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:03.50,Default,Alice,0,0,0,,{\an8}{\i1}Hello{\i0},\Nhow are you?
Comment: 0,0:00:02.00,0:00:03.00,Default,,0,0,0,,not said
Dialogue: 0,0:00:04.00,0:00:05.00,Default,,0,0,0,,{\p1}m 0 0 l 100 0 100 100{\p0}
Dialogue: 0,0:00:06.00,0:00:07.00,Default,,0,0,0,,BOB: Fine\hthanks.
"""


def test_ass_name_field_and_override_tags(tmp_path):
    cues = read_subtitles(put(tmp_path, ASS, "subs.ass"))
    assert [(c.speaker, c.text, c.start, c.end) for c in cues] == [
        ("Alice", "Hello, how are you?", 1.0, 3.5), ("BOB", "Fine thanks.", 6.0, 7.0),
    ]


VTT = """WEBVTT - a header
Kind: captions

STYLE
::cue { color: yellow }

NOTE a comment
that spans lines

intro
00:01.000 --> 00:02.500 align:start position:10%
<v Roger Bingham>We are in New York City</v>

2
00:00:03.000 --> 00:00:04.000 line:0
<c.loud>Second</c> <00:00:03.500>cue &amp; more
"""


def test_vtt_header_settings_identifiers_notes_voices(tmp_path):
    cues = read_subtitles(put(tmp_path, VTT, "subs.vtt"))
    assert [(c.speaker, c.text, c.start, c.end) for c in cues] == [
        ("Roger Bingham", "We are in New York City", 1.0, 2.5), (None, "Second cue & more", 3.0, 4.0),
    ]


def test_format_comes_from_content_not_extension(tmp_path):
    assert texts(put(tmp_path, VTT, "subs.srt"))[1] == "Second cue & more"
    assert texts(put(tmp_path, TWO, "subs.txt"))[0] == "Un café, s'il vous plaît."


# ---------------------------------------------------------------- errors

def test_missing_file_and_directory(tmp_path):
    assert "does not exist" in error(tmp_path / "nope.srt")
    assert "is not a file" in error(tmp_path)


@pytest.mark.parametrize("data", [b"", b"   \n\r\n  ", "just some words\nno times".encode()])
def test_empty_or_cueless_file(tmp_path, data):
    path = put(tmp_path, data)
    assert error(path) == f"no subtitles found in {path}: is it an SRT, VTT or ASS file?"


@pytest.mark.parametrize("data", [
    bytes(range(256)) * 4,
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
    b"1\n00:00:01,000 --> 00:00:02,000\nHi\x00there\n",  # one stray NUL: not UTF-16
])
def test_binary_garbage(tmp_path, data):
    path = put(tmp_path, data)
    assert error(path).startswith(f"{path} is not a text subtitle file")


@pytest.mark.parametrize("kind, text", [
    ("MICRODVD", "{0}{25}Hello\n{30}{60}World\n"),
    ("TTML", '<tt xmlns="http://www.w3.org/ns/ttml"><body><p begin="00:00:01.000" end="00:00:02.000">Hi</p></body></tt>'),
])
def test_unknown_format(tmp_path, kind, text):
    path = put(tmp_path, text, "subs.sub")
    assert error(path) == (f"{path} is a {kind} subtitle file, which dub does not read: "
                           f"convert it to SRT first (pysubs2 --to srt {path})")


# ---------------------------------------------------------------- writing

CUES = [
    Cue(1, 1.0, 2.5, "Hello & <welcome>", "JOHN"),
    Cue(2, 3.25, 4.0, "No speaker here"),
    Cue(3, 10 * 3600 + 1.5, 10 * 3600 + 3.0, "你好，世界。", "李雷"),
]


@pytest.mark.parametrize("writer, name", [(write_srt, "out.srt"), (write_vtt, "out.vtt")])
def test_round_trip(tmp_path, writer, name):
    path = writer(CUES, tmp_path / name)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # the temp file was renamed away
    back = read_subtitles(path)
    if writer is write_srt:  # SRT carries no escaping: what looks like a tag is read as one
        assert back[0].text == "Hello &"
        back[0] = Cue(1, back[0].start, back[0].end, CUES[0].text, back[0].speaker)
    assert back == CUES


def test_written_text(tmp_path):
    write_srt(CUES[:2], tmp_path / "out.srt")
    assert (tmp_path / "out.srt").read_text(encoding="utf-8") == (
        "1\n00:00:01,000 --> 00:00:02,500\nJOHN: Hello & <welcome>\n\n2\n00:00:03,250 --> 00:00:04,000\nNo speaker here\n"
    )
    write_vtt(CUES[:1], tmp_path / "out.vtt")
    assert (tmp_path / "out.vtt").read_text(encoding="utf-8") == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nJOHN: Hello &amp; &lt;welcome&gt;\n"
    )


def test_cues_to_segments():
    assert cues_to_segments(CUES[:2]) == [
        {"start": 1.0, "end": 2.5, "text": "Hello & <welcome>", "speaker": "JOHN"},
        {"start": 3.25, "end": 4.0, "text": "No speaker here", "speaker": None},
    ]


# ---------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=st.binary(max_size=600) | st.builds(lambda b: TWO.encode()[: len(b)] + b, st.binary(max_size=80)))
def test_random_bytes_raise_only_input_error(tmp_path, data):
    try:
        cues = read_subtitles(put(tmp_path, data))
    except InputError:
        return
    for a, b in zip(cues, cues[1:]):
        assert a.end <= b.start
    assert all(c.end > c.start for c in cues)


# Words a reader returns unchanged: no markup (<>{}\&), no colon (speaker labels), no
# leading dash (dialogue turns).
WORD = st.text(alphabet=string.ascii_letters + string.digits + "éçüßñ你好世界'.,!?", min_size=1, max_size=8).filter(
    lambda w: any(ch.isalnum() for ch in w))
TEXT = st.lists(WORD, min_size=1, max_size=6).map(" ".join)
SPEAKER = st.none() | st.sampled_from(["JOHN", "Mary", "Dr Who", "李雷"])


@st.composite
def clean_cues(draw):
    """Sorted cues, each at least 0.3 s long, gaps >= 0, times in whole milliseconds."""
    cues, t = [], draw(st.integers(0, 50 * 3600 * 1000))
    for i in range(draw(st.integers(1, 12))):
        t += draw(st.integers(0, 5000))
        length = draw(st.integers(300, 8000))
        cues.append(Cue(i + 1, t / 1000, (t + length) / 1000, draw(TEXT), draw(SPEAKER)))
        t += length
    return cues


@FUZZ
@given(cues=clean_cues(), vtt=st.booleans())
def test_written_cues_read_back_the_same(tmp_path, cues, vtt):
    path = (write_vtt if vtt else write_srt)(cues, tmp_path / ("out.vtt" if vtt else "out.srt"))
    assert read_subtitles(path) == cues


@FUZZ
@given(spans=st.lists(st.tuples(st.integers(0, 600_000), st.integers(-5000, 10_000), TEXT), min_size=1, max_size=15))
def test_messy_times_come_back_sorted_and_disjoint(tmp_path, spans):
    cues = [Cue(i, s / 1000, max(0, s + d) / 1000, text) for i, (s, d, text) in enumerate(spans, 1)]
    back = read_subtitles(write_srt(cues, tmp_path / "out.srt"))
    assert [c.index for c in back] == list(range(1, len(back) + 1))
    assert all(c.end > c.start for c in back)
    assert all(a.end <= b.start for a, b in zip(back, back[1:]))
    # Nothing is dropped: merging only joins texts (identical neighbours said once).
    said = " ".join(c.text for c in back).split()
    assert set(said) == {w for _, _, text in spans for w in text.split()}
