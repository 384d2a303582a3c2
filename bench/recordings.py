"""Where the real recordings the tests and benchmarks use live (Debian packages, read in place).

``make test`` and ``make bench`` install them as root (``scripts/setup --test-data``):
pocketsphinx-testdata (LibriVox readings with transcripts, public domain), the Asterisk
prompt voices asterisk-core-sounds-en-wav / -es-wav and the music asterisk-moh-opsound-wav
(CC-BY-SA-3.0, Allison Smith and the opsound artists).
"""

from __future__ import annotations

from pathlib import Path

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
MUSIC = Path("/usr/share/asterisk/moh")
_SOUNDS = Path("/usr/share/asterisk/sounds")


def asterisk_prompts(lang: str) -> Path:
    """The prompt folder for ``lang`` ("en", "es"). The -wav packages install it as
    ``en_US_f_Allison`` / ``es_MX_f_Allison``; ``sounds/en`` is an alternatives link that
    only the full Asterisk sound packages create. Returns the plain name when neither exists,
    so a caller's "missing" message names the usual place."""
    plain = _SOUNDS / lang
    if plain.is_dir():
        return plain
    for candidate in sorted(_SOUNDS.glob(f"{lang}_*")):
        if candidate.is_dir():
            return candidate
    return plain
