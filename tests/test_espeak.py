"""The espeak-ng fallback: any language, lengths exact by rate control."""

import numpy as np
import pytest

from tts_core import TTS, UnsupportedRequestError


@pytest.mark.parametrize("lang,text", [("en", "The quick brown fox jumps over the lazy dog."),
                                       ("de", "Guten Morgen, wie geht es Ihnen heute?"),
                                       ("zh", "你好，今天天气很好。")])
def test_rate_control_fits_the_slot(lang, text):
    tts = TTS.from_pretrained("espeak", lang=lang)
    natural = tts.natural_duration(text)
    for scale in (0.7, 1.4):
        duration = round(natural * scale, 3)
        speech = tts.synthesize(text, duration=duration)
        assert len(speech.samples) == round(duration * speech.sample_rate)
        lead = np.argmax(np.abs(speech.samples) > 1e-3) / speech.sample_rate
        assert lead < 0.12 * duration  # the rate did the work, not padding


def test_capabilities_are_honest():
    tts = TTS.from_pretrained("espeak", lang="es")
    assert not tts.backend.supports_target_tokens and "es" in tts.backend.languages
    with pytest.raises(UnsupportedRequestError):
        tts.synthesize("Hola.", target_tokens=40)
    with pytest.raises(UnsupportedRequestError):
        TTS.from_pretrained("espeak", lang="xx")


def test_speech_fills_its_slot():
    from tts_core.silence import edge_silence

    tts = TTS.from_pretrained("espeak", lang="es")
    natural = tts.natural_duration("Muchas gracias por su paciencia.")
    for scale in (0.8, 1.0, 1.25):
        speech = tts.synthesize("Muchas gracias por su paciencia.", duration=round(natural * scale, 3))
        lead, tail = edge_silence(speech.samples, speech.sample_rate)
        assert lead <= 0.030 and tail <= 0.060, (scale, lead, tail)
