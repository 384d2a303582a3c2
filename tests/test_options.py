"""A flag and a manifest column are one option: both become a dub's options the same way."""

import inspect

from click.testing import CliRunner

from dubber.batch import read_manifest
from dubber.cli import main
from dubber.options import OPTION_COLUMNS, choose_voice, dub_options


def test_every_manifest_column_is_an_option_of_a_dub():
    assert set(OPTION_COLUMNS) <= set(inspect.signature(dub_options).parameters)


def test_the_flags_and_a_manifest_row_make_the_same_options(tmp_path, monkeypatch):
    import dubber.dub

    seen = []
    monkeypatch.setattr(dubber.dub, "dub_video", lambda options, progress=None: seen.append(options) or {"segments": []})
    source, reference, output = tmp_path / "a.mp4", tmp_path / "actor.wav", tmp_path / "a.es.mp4"
    flags = {"tts": "kokoro", "voice": str(reference), "separator": "none", "loudness": "-16", "duck-db": "3",
             "emotion-alpha": "0.5", "translator-model": "m2m", "source-lang": "en"}
    args = [str(source), "--lang", "es", "-o", str(output), "--no-line-emotion", "--keep-original", "-q"]
    result = CliRunner().invoke(main, args + [x for k, v in flags.items() for x in (f"--{k}", v)])
    assert result.exit_code == 0, result.output

    columns = {k.replace("-", "_"): v for k, v in flags.items()} | {"line_emotion": "no", "keep_original": "yes"}
    (tmp_path / "jobs.csv").write_text(f"input,lang,output,{','.join(columns)}\n"
                                       f"a.mp4,es,a.es.mp4,{','.join(columns.values())}\n")
    [job] = read_manifest(tmp_path / "jobs.csv")
    assert job.dub_options() == seen[0]
    assert seen[0].speaker_wav == reference and seen[0].voice is None and seen[0].mix.loudness == -16


def test_voice_is_a_name_or_a_recording():
    recording = choose_voice("en", None, "me.wav", None)
    assert (recording.tts, recording.voice, recording.speaker_wav) == ("kokoro", None, "me.wav")
    named = choose_voice("en", None, "en_US-lessac-medium", None)
    assert (named.tts, named.voice, named.speaker_wav) == ("piper", "en_US-lessac-medium", None)
    weights = choose_voice("en", "indextts2", "me.wav", "./IndexTTS-2/")  # the model folder is the backend's voice
    assert (weights.tts, weights.voice, weights.speaker_wav) == ("indextts2", "./IndexTTS-2/", "me.wav")
