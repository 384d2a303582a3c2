"""tts_core.melspec computes the frames resemblyzer computes with librosa, and the speaker
embeddings built on them are resemblyzer's own."""

import os
import warnings

import numpy as np
import pytest

from tts_core.melspec import mel_frames

LIBRIVOX_WAV = "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav"

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # webrtcvad's pkg_resources notice
    resemblyzer = pytest.importorskip("resemblyzer")


def speech() -> np.ndarray:
    if not os.path.isfile(LIBRIVOX_WAV):
        pytest.skip("pocketsphinx-testdata is not installed")
    from pipelines.media import decode_audio

    return decode_audio(LIBRIVOX_WAV, 16_000, 1)


def test_frames_match_resemblyzers(recwarn):
    from resemblyzer.audio import wav_to_mel_spectrogram

    noise = (np.random.default_rng(0).standard_normal(24_123) * 0.1).astype(np.float32)
    for wav in (speech(), noise, noise[:399], noise[:100]):
        ours, theirs = mel_frames(wav), wav_to_mel_spectrogram(wav)
        assert ours.shape == theirs.shape == (1 + len(wav) // 160, 40) and ours.dtype == np.float32
        assert np.abs(ours - theirs).max() <= 1e-6 * np.abs(theirs).max()


def test_utterance_embedding_is_resemblyzers():
    from tts_core.voice import _resemblyzer, utterance_embedding

    _, encoder = _resemblyzer()
    wav = resemblyzer.preprocess_wav(speech(), source_sr=16_000)
    ours, theirs = utterance_embedding(encoder, wav), encoder.embed_utterance(wav)
    assert np.abs(ours - theirs).max() < 1e-5 and abs(np.linalg.norm(ours) - 1) < 1e-5
