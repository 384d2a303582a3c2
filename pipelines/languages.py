"""The one language table: ISO 639-1 codes, and what each part of a dub calls them.

Containers tag audio tracks with ISO 639-2/T, NLLB-200 names its languages by FLORES-200
codes, and an LLM is asked in plain English; every other table (Whisper's, a TTS backend's)
is the engine's own, asked of it.
"""

from __future__ import annotations

from typing import NamedTuple


class Language(NamedTuple):
    iso639_2: str | None  # the three-letter tag containers use
    name: str | None  # for LLM prompts
    flores: str | None  # NLLB-200's code


LANGUAGES: dict[str, Language] = {
    "af": Language("afr", "Afrikaans", "afr_Latn"),
    "am": Language("amh", "Amharic", "amh_Ethi"),
    "ar": Language("ara", "Arabic", "arb_Arab"),
    "az": Language("aze", "Azerbaijani", "azj_Latn"),
    "be": Language("bel", "Belarusian", "bel_Cyrl"),
    "bg": Language("bul", "Bulgarian", "bul_Cyrl"),
    "bn": Language("ben", "Bengali", "ben_Beng"),
    "bs": Language("bos", "Bosnian", "bos_Latn"),
    "ca": Language("cat", "Catalan", "cat_Latn"),
    "cs": Language("ces", "Czech", "ces_Latn"),
    "cy": Language("cym", "Welsh", "cym_Latn"),
    "da": Language("dan", "Danish", "dan_Latn"),
    "de": Language("deu", "German", "deu_Latn"),
    "el": Language("ell", "Greek", "ell_Grek"),
    "en": Language("eng", "English", "eng_Latn"),
    "es": Language("spa", "Spanish", "spa_Latn"),
    "et": Language("est", "Estonian", "est_Latn"),
    "eu": Language("eus", "Basque", "eus_Latn"),
    "fa": Language("fas", "Persian", "pes_Arab"),
    "fi": Language("fin", "Finnish", "fin_Latn"),
    "fr": Language("fra", "French", "fra_Latn"),
    "ga": Language("gle", "Irish", "gle_Latn"),
    "gl": Language("glg", "Galician", "glg_Latn"),
    "gu": Language("guj", "Gujarati", "guj_Gujr"),
    "haw": Language("haw", "Hawaiian", None),
    "he": Language("heb", "Hebrew", "heb_Hebr"),
    "hi": Language("hin", "Hindi", "hin_Deva"),
    "hr": Language("hrv", "Croatian", "hrv_Latn"),
    "hu": Language("hun", "Hungarian", "hun_Latn"),
    "hy": Language("hye", "Armenian", "hye_Armn"),
    "id": Language("ind", "Indonesian", "ind_Latn"),
    "is": Language("isl", "Icelandic", "isl_Latn"),
    "it": Language("ita", "Italian", "ita_Latn"),
    "ja": Language("jpn", "Japanese", "jpn_Jpan"),
    "ka": Language("kat", "Georgian", "kat_Geor"),
    "kk": Language("kaz", "Kazakh", "kaz_Cyrl"),
    "km": Language("khm", "Khmer", "khm_Khmr"),
    "kn": Language("kan", "Kannada", "kan_Knda"),
    "ko": Language("kor", "Korean", "kor_Hang"),
    "lt": Language("lit", "Lithuanian", "lit_Latn"),
    "lv": Language("lav", "Latvian", "lvs_Latn"),
    "mk": Language("mkd", "Macedonian", "mkd_Cyrl"),
    "ml": Language("mal", "Malayalam", "mal_Mlym"),
    "mn": Language("mon", "Mongolian", None),
    "mr": Language("mar", "Marathi", "mar_Deva"),
    "ms": Language("msa", "Malay", "zsm_Latn"),
    "mt": Language("mlt", "Maltese", None),
    "my": Language("mya", "Burmese", "mya_Mymr"),
    "ne": Language("nep", "Nepali", "npi_Deva"),
    "nl": Language("nld", "Dutch", "nld_Latn"),
    "no": Language("nor", "Norwegian", "nob_Latn"),
    "pa": Language("pan", "Punjabi", "pan_Guru"),
    "pl": Language("pol", "Polish", "pol_Latn"),
    "pt": Language("por", "Portuguese", "por_Latn"),
    "ro": Language("ron", "Romanian", "ron_Latn"),
    "ru": Language("rus", "Russian", "rus_Cyrl"),
    "sk": Language("slk", "Slovak", "slk_Latn"),
    "sl": Language("slv", "Slovenian", "slv_Latn"),
    "sq": Language("sqi", "Albanian", "als_Latn"),
    "sr": Language("srp", "Serbian", "srp_Cyrl"),
    "sv": Language("swe", "Swedish", "swe_Latn"),
    "sw": Language("swa", "Swahili", "swh_Latn"),
    "ta": Language("tam", "Tamil", "tam_Taml"),
    "te": Language("tel", "Telugu", "tel_Telu"),
    "th": Language("tha", "Thai", "tha_Thai"),
    "tl": Language("tgl", "Tagalog", "tgl_Latn"),
    "tr": Language("tur", "Turkish", "tur_Latn"),
    "uk": Language("ukr", "Ukrainian", "ukr_Cyrl"),
    "ur": Language("urd", "Urdu", "urd_Arab"),
    "uz": Language("uzb", "Uzbek", "uzn_Latn"),
    "vi": Language("vie", "Vietnamese", "vie_Latn"),
    "yo": Language("yor", "Yoruba", "yor_Latn"),
    "yue": Language("yue", "Cantonese", None),
    "zh": Language("zho", "Chinese (Simplified)", "zho_Hans"),
    "zu": Language("zul", "Zulu", "zul_Latn"),
}  # fmt: skip


def iso639_2(code: str | None) -> str:
    """The three-letter tag containers use; "und" (undetermined) when unknown."""
    entry = LANGUAGES.get((code or "").lower())
    return entry.iso639_2 if entry and entry.iso639_2 else "und"


def language_name(code: str) -> str:
    """The language's English name for a prompt (the code itself when unknown)."""
    entry = LANGUAGES.get(code)
    return entry.name if entry and entry.name else code


# ISO 639-1 -> NLLB-200 (FLORES-200) codes.
NLLB_CODES = {code: entry.flores for code, entry in LANGUAGES.items() if entry.flores}
