"""The IndexTTS-2 backend end to end on a tiny random release written in the official
formats: cloning, emotion, exact lengths, errors, and the CLI (``dub tts``, ``dub srt``,
a whole ``dub`` of the bundled sample)."""

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from click.testing import CliRunner  # noqa: E402

from dubber.cli import main  # noqa: E402
from tts_core import TTS  # noqa: E402
from tts_core.errors import EmptyTextError, ModelFileError, UnsupportedRequestError  # noqa: E402

from .conftest import SAMPLE  # noqa: E402
from .indextts2_tiny import FRAMES_PER_CODE, MAX_CODES, build_tiny_release, voice_clip  # noqa: E402

RATE, HOP = 22050, 256
TEXT = "Hello world, how are you?"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    torch.set_num_threads(1)
    return build_tiny_release(tmp_path_factory.mktemp("indextts2"))


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    folder = tmp_path_factory.mktemp("voices")
    return voice_clip(folder / "a.wav", pitch=140.0), voice_clip(folder / "b.wav", seconds=3.0, pitch=220.0)


@pytest.fixture(scope="module")
def tts(release):
    return TTS.from_pretrained("indextts2", voice=str(release))


def test_a_folder_of_weights_is_found_by_its_path(release):
    engine = TTS.from_pretrained(str(release))
    assert engine.backend.name == "indextts2" and engine.sample_rate == RATE


def test_exact_length_to_the_sample_for_odd_targets(tts, voices):
    ref = voices[0]
    for seconds in (0.377, 0.9131, 1.234567, 2.5003, 3.0111):
        speech = tts.synthesize(TEXT, speaker_wav=ref, duration=seconds)
        assert len(speech.samples) == round(seconds * RATE)
        assert speech.samples.dtype == np.float32 and np.abs(speech.samples).max() > 1e-3
    # Semantic codes, 50 a second: the release's own int(codes * 1.72) mel frames.
    speech = tts.synthesize(TEXT, speaker_wav=ref, target_tokens=37)
    assert len(speech.samples) == int(37 * FRAMES_PER_CODE) * HOP
    # Free length is the GPT's own: every code it generated, 1.72 frames each.
    free = tts.synthesize(TEXT, speaker_wav=ref)
    codes = tts.backend.model.gpt.max_codes  # the tiny GPT never stops before its longest line
    assert codes >= MAX_CODES
    assert len(free.samples) == int(codes * FRAMES_PER_CODE) * HOP
    assert tts.natural_duration(TEXT, speaker_wav=ref) == pytest.approx(len(free.samples) / RATE)
    scaled = tts.synthesize(TEXT, speaker_wav=ref, duration_scale=1.5)
    assert len(scaled.samples) == round(free.natural_tokens * 1.5) * HOP


def test_the_same_seed_gives_the_same_audio(tts, voices):
    a = tts.synthesize(TEXT, speaker_wav=voices[0], duration=1.0, seed=3)
    b = tts.synthesize(TEXT, speaker_wav=voices[0], duration=1.0, seed=3)
    c = tts.synthesize(TEXT, speaker_wav=voices[0], duration=1.0, seed=4)
    assert np.array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)


def test_the_voice_follows_the_reference(tts, voices):
    a = tts.synthesize(TEXT, speaker_wav=voices[0], duration=1.0)
    b = tts.synthesize(TEXT, speaker_wav=voices[1], duration=1.0)
    assert not np.allclose(a.samples, b.samples, atol=1e-4)
    # Conditioning is computed once per speaker and reused.
    model = tts.backend.model
    assert model.speaker(voices[0]) is model.speaker(voices[0])


def test_emotion_from_a_vector_a_recording_and_text(tts, voices):
    ref, other = voices
    plain = tts.synthesize(TEXT, speaker_wav=ref, duration=1.0)
    angry = tts.synthesize(TEXT, speaker_wav=ref, duration=1.0, emotion=[0, 0.8, 0, 0, 0, 0, 0, 0.2])
    named = tts.synthesize(TEXT, speaker_wav=ref, duration=1.0, emotion="angry")
    heard = tts.synthesize(TEXT, speaker_wav=ref, duration=1.0, emotion_wav=other, emotion_alpha=0.7)
    auto = tts.synthesize(TEXT, speaker_wav=ref, duration=1.0, emotion="auto")  # the tiny Qwen3 reads the text
    for speech in (angry, named, heard, auto):
        assert len(speech.samples) == RATE
        assert not np.array_equal(speech.samples, plain.samples)
    assert not np.array_equal(angry.samples, heard.samples)
    model = tts.backend.model
    speaker = model.speaker(ref)
    half = model.emovec(speaker, emotion_wav=other, alpha=0.5)
    full, none = model.emovec(speaker, emotion_wav=other, alpha=1.0), model.emovec(speaker, emotion_wav=other, alpha=0)
    assert torch.allclose(half, (full + none) / 2, atol=1e-5)  # alpha blends the two emotions linearly


def test_errors_say_what_is_wrong(tts, voices, release, tmp_path):
    with pytest.raises(EmptyTextError):
        tts.synthesize("   ", speaker_wav=voices[0], duration=1.0)
    short = voice_clip(tmp_path / "short.wav", seconds=0.6)
    with pytest.raises(UnsupportedRequestError, match="at least 1 s"):
        tts.synthesize(TEXT, speaker_wav=short, duration=1.0)
    with pytest.raises(UnsupportedRequestError, match="clones a voice"):
        tts.synthesize(TEXT, duration=1.0)
    with pytest.raises(UnsupportedRequestError, match="does not exist"):
        tts.synthesize(TEXT, speaker_wav=tmp_path / "nobody.wav", duration=1.0)
    with pytest.raises(UnsupportedRequestError, match="not 'de'.*--tts espeak"):
        TTS.from_pretrained("indextts2", voice=str(release), lang="de")
    broken = tmp_path / "broken"
    shutil.copytree(release, broken)
    (broken / "gpt.pth").unlink()
    shutil.rmtree(broken / "hf_cache" / "bigvgan")
    with pytest.raises(ModelFileError, match=r"gpt\.pth.*bigvgan_v2_22khz_80band_256x"):
        TTS.from_pretrained("indextts2", voice=str(broken))
    (broken / "config.yaml").write_bytes(b"\xff\xfe not yaml: [")
    with pytest.raises(ModelFileError, match="config.yaml"):
        TTS.from_pretrained("indextts2", voice=str(broken))


def test_dub_tts_and_srt_from_the_cli(release, voices, tmp_path):
    out = tmp_path / "line.wav"
    result = CliRunner().invoke(main, ["tts", TEXT, "--tts", "indextts2", "--tts-model", str(release), "--voice",
                                       str(voices[0]), "--emotion", "angry", "--duration", "1.37", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "note: indextts2 on a CPU is slow" in result.output  # said before the wait
    import soundfile as sf

    audio, rate = sf.read(out)
    assert rate == RATE and len(audio) == round(1.37 * RATE)

    result = CliRunner().invoke(main, ["tts", TEXT, "--tts", "indextts2", "--tts-model", str(release), "-o",
                                       str(tmp_path / "x.wav")])
    assert result.exit_code == 2 and "clones a voice" in result.output

    subs = tmp_path / "subs.srt"
    subs.write_text("1\n00:00:00,500 --> 00:00:01,700\nHello world.\n\n2\n00:00:02,000 --> 00:00:03,250\n"
                    "How are you?\n", encoding="utf-8")
    report = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["srt", str(subs), "--tts", "indextts2", "--tts-model", str(release), "--tts-fast",
                                       "--voice", str(voices[1]), "-o", str(tmp_path / "dialogue.wav"), "--report",
                                       str(report), "--work-dir", str(tmp_path / "work"), "-q"])
    assert result.exit_code == 0, result.output
    lines = json.loads(report.read_text())["segments"]
    assert len(lines) == 2
    for seg in lines:  # exact to a sample of the track
        assert abs(seg["audio_duration"] - (seg["end"] - seg["start"])) < 1 / 48_000 + 1e-9


@pytest.mark.slow
def test_a_whole_dub_of_the_sample_clones_each_speaker(release, tmp_path):
    out, report = tmp_path / "out.mp4", tmp_path / "report.json"
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "--tts", "indextts2", "--tts-model", str(release),
                                       "-o", str(out), "--report", str(report), "--work-dir", str(tmp_path / "work"),
                                       "-q"])
    assert result.exit_code == 0, result.output
    segments = json.loads(report.read_text())["segments"]
    assert len(segments) >= 5
    for seg in segments:
        assert seg["reference"]  # the speaker's own clip from the video is the voice
        assert abs(seg["audio_duration"] - (seg["end"] - seg["start"])) < 1 / 48_000 + 1e-9
