"""Interruption: a run killed in the middle of any stage, then rerun, gives the same output as
an uninterrupted run; Ctrl-C stops cleanly; two runs at once on one work dir do not corrupt it.

Every dub here is the real CLI in a subprocess on a 4 s clip cut from the sample, with
``--separator none``. A run is interrupted by polling (every few ms) for the stage's private
``WORKDIR/<stage>/.tmp-*`` folder (for mux: the temporary output beside OUT, see
``tts_core.files.atomic_path``) and signalling the run's process group the moment it appears.
An interruption counts only when it really landed mid-stage: after a SIGKILL the temporary
folder must still be there and no finished one (the stage never renamed it into place); after
a Ctrl-C no finished folder (or output). Otherwise the attempt is retried on a fresh work dir:
``--separator none`` separates 4 s in about 2 ms, so a look every 5 ms caught it only about
half the time; every 1 ms, nearly always.

To keep the file fast, a run interrupted in stage S starts on a work dir holding copies of
the reference run's finished stages before S, so it reaches S at once; the rerun then also
exercises those cache hits.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, SAMPLE, ffmpeg

# The stages the runner caches, in order (dubber.runner.Workspace.run); mux is not cached.
CACHED = ("extract", "separate", "transcribe", "diarize", "translate", "synthesize", "remix")
ARGS = ("--lang", "en", "--separator", "none")
POLL = 0.001  # seconds between looks for a stage's temporary folder (separating 4 s takes ~2 ms)
ATTEMPTS = 8  # tries to land inside a stage that lasts milliseconds
INTERRUPTED = "dub: interrupted; rerun the same command to resume"


# ---------------------------------------------------------------------------- helpers


def _terminal_signals() -> None:
    # A shell without job control starts background commands with Ctrl-C ignored, and a
    # child inherits that: give the CLI the terminal's default, as a user's shell does.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(clip: Path, out: Path, work: Path, report: Path | None = None, quiet: bool = True) -> subprocess.Popen:
    """The CLI in its own process group (so a signal reaches its ffmpeg children too, as a
    terminal's Ctrl-C does), stderr to a file beside the output."""
    cmd = [sys.executable, "-m", "dubber.cli", str(clip), *ARGS, "-o", str(out), "--work-dir", str(work)]
    if quiet:
        cmd.append("-q")
    if report is not None:
        cmd += ["--report", str(report)]
    err = open(out.with_name(out.name + ".stderr"), "wb")
    try:
        return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                preexec_fn=_terminal_signals)
    finally:
        err.close()


def stderr_of(out: Path) -> str:
    return out.with_name(out.name + ".stderr").read_text(errors="replace")


def finish(proc: subprocess.Popen) -> int:
    try:
        return proc.wait(timeout=600)
    except subprocess.TimeoutExpired:  # never expected: a safety net so a hang cannot block the suite
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def dub(clip: Path, out: Path, work: Path, report: Path | None = None) -> None:
    proc = start(clip, out, work, report)
    code = finish(proc)
    assert code == 0, f"exit {code}: {stderr_of(out)}"


def temporaries(work: Path, stage: str) -> list[Path]:
    try:
        return sorted(work / stage / e.name for e in os.scandir(work / stage) if e.name.startswith(".tmp-"))
    except FileNotFoundError:
        return []


def complete(work: Path, stage: str) -> list[Path]:
    folder = work / stage
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def temp_outputs(out: Path) -> list[Path]:
    """``atomic_path``'s temporary files for OUT: ``.OUT_NAME.XXXXXXXX.SUFFIX`` beside it."""
    return sorted(out.parent.glob(f".{out.name}.*"))


def signal_when(proc: subprocess.Popen, appeared, sig: int) -> bool:
    """Poll until ``appeared()``; then signal the run's process group. False if the run ended first."""
    while proc.poll() is None:
        if appeared():
            os.killpg(proc.pid, sig)
            finish(proc)
            return True
        time.sleep(POLL)
    return False


def fingerprint(path: Path) -> tuple[str, str]:
    """MD5 of the decoded audio (PCM) and of the copied video packets."""
    def md5(*args: str) -> str:
        proc = subprocess.run([shutil.which("ffmpeg"), "-v", "error", "-i", str(path), *args, "-f", "md5", "-"],
                              capture_output=True, text=True, check=True)
        return proc.stdout.strip()

    return md5("-map", "0:a:0"), md5("-map", "0:v:0", "-c", "copy")


def assert_sound(work: Path) -> None:
    """Every stage folder that looks complete is complete: a cache hit needs result.json."""
    for stage in CACHED:
        for folder in complete(work, stage):
            assert (folder / "result.json").is_file(), f"{folder} has no result.json but is named like a finished stage"
            json.loads((folder / "result.json").read_text())


def partly_filled(ref_work: Path, work: Path, stage: str) -> Path:
    """A work dir holding the reference's finished stages before ``stage`` (and, past
    synthesis, its line cache, so synthesis is quick: the synthesize and remix folders
    themselves record absolute paths into their own work dir, so they are not copied)."""
    work.mkdir(parents=True)
    upto = CACHED.index(stage) if stage in CACHED else len(CACHED)
    for name in CACHED[:min(upto, CACHED.index("synthesize"))]:
        shutil.copytree(ref_work / name, work / name)
    if upto > CACHED.index("synthesize"):
        shutil.copytree(ref_work / "lines", work / "lines")
    return work


def reported_cached(report: Path) -> dict[str, bool]:
    return json.loads(report.read_text())["cached"]


# ---------------------------------------------------------------------------- reference


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    """Two uninterrupted runs, each in its own fresh work dir, at the same time."""
    folder = tmp_path_factory.mktemp("interrupt")
    clip = folder / "clip.mp4"
    ffmpeg("-i", str(SAMPLE), "-t", "4", "-c", "copy", str(clip))
    runs = []
    for name in ("a", "b"):
        out, work, report = folder / f"{name}.mp4", folder / f"work-{name}", folder / f"{name}.json"
        runs.append((start(clip, out, work, report), out, work, report))
    for proc, out, _, _ in runs:
        assert finish(proc) == 0, stderr_of(out)
    (_, out_a, work_a, report_a), (_, out_b, _, _) = runs
    return {"folder": folder, "clip": clip, "out": out_a, "other": out_b, "work": work_a, "report": report_a,
            "print": fingerprint(out_a)}


@pytest.mark.slow
def test_uninterrupted_runs_are_bit_identical(ref):
    assert fingerprint(ref["other"]) == ref["print"]
    assert ref["other"].read_bytes() == ref["out"].read_bytes()
    assert all(v is False for v in reported_cached(ref["report"]).values())
    assert json.loads(ref["report"].read_text())["segments"], "the clip must contain speech"


# ---------------------------------------------------------------------------- SIGKILL mid-stage


def kill_mid_stage(ref, tmp_path: Path, stage: str, out: Path) -> Path:
    """SIGKILL a run the moment ``stage`` has begun; return its work dir (the kill landed mid-stage)."""
    before = out.read_bytes() if out.exists() else None
    for attempt in range(ATTEMPTS):
        work = partly_filled(ref["work"], tmp_path / f"work-{attempt}", stage)
        proc = start(ref["clip"], out, work)
        appeared = (lambda: bool(temp_outputs(out))) if stage == "mux" else (lambda: bool(temporaries(work, stage)))
        if not signal_when(proc, appeared, signal.SIGKILL):  # the stage came and went between two looks
            assert proc.returncode == 0, stderr_of(out)
            retry = True
        else:
            # What a crash leaves: never an output (or the previous one, untouched) ...
            assert out.read_bytes() == before if before is not None else not out.exists()
            # ... and never a stage folder that looks finished but is not.
            assert_sound(work)
            if stage == "mux":
                retry = not temp_outputs(out)
            else:
                retry = not temporaries(work, stage) or bool(complete(work, stage))
            if not retry:
                return work
        shutil.rmtree(work)  # the kill came too late: the stage had finished
        for leftover in temp_outputs(out):
            leftover.unlink()
        if before is not None:
            out.write_bytes(before)
        else:
            out.unlink(missing_ok=True)
    pytest.fail(f"no kill landed inside {stage} in {ATTEMPTS} attempts")


@pytest.mark.slow
@pytest.mark.parametrize("stage", [*CACHED, "mux"])
def test_sigkill_mid_stage_then_rerun(ref, tmp_path, stage):
    out, report = tmp_path / "out.mp4", tmp_path / "report.json"
    if stage == "mux":  # a good output from before is kept until the new one is whole
        shutil.copyfile(ref["clip"], out)
    work = kill_mid_stage(ref, tmp_path, stage, out)
    left = temporaries(work, stage)

    dub(ref["clip"], out, work, report)
    assert fingerprint(out) == ref["print"]
    cached = reported_cached(report)
    if stage in CACHED:
        k = CACHED.index(stage)
        # The half-done stage was redone, not taken from its temporary folder; what had finished was reused.
        assert cached[stage] is False
        assert all(cached[s] for s in CACHED[:k] if s != "synthesize"), cached
        assert len(complete(work, stage)) == 1
    assert_sound(work)
    # The killed run's temporary folder did not get in the way (and is still there: nothing removes it).
    assert all(p.exists() for p in left)


# ---------------------------------------------------------------------------- Ctrl-C mid-stage


@pytest.mark.slow
@pytest.mark.parametrize("stage", [*CACHED, "mux"])
def test_ctrl_c_mid_stage(ref, tmp_path, stage):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) the moment a stage begins:
    exit 130, the one-line hint, every temporary removed. The rerun is checked where it differs
    in kind (a stage in native code, one with a per-line cache, one in an ffmpeg child); after a
    SIGKILL every stage is rerun above."""
    out, report = tmp_path / "out.mp4", tmp_path / "report.json"
    for attempt in range(ATTEMPTS):
        work = partly_filled(ref["work"], tmp_path / f"work-{attempt}", stage)
        proc = start(ref["clip"], out, work, quiet=False)
        appeared = (lambda: bool(temp_outputs(out))) if stage == "mux" else (lambda: bool(temporaries(work, stage)))
        if not signal_when(proc, appeared, signal.SIGINT):  # the stage came and went between two looks
            assert proc.returncode == 0, stderr_of(out)
        elif proc.returncode != 0 and not (out.exists() if stage == "mux" else complete(work, stage)):
            break  # the interruption landed before the stage finished
        shutil.rmtree(work)
        out.unlink(missing_ok=True)
    else:
        pytest.fail(f"no Ctrl-C landed inside {stage} in {ATTEMPTS} attempts")
    err = stderr_of(out)
    assert proc.returncode == 130, err
    # Besides the progress lines ("✓ extract  cached"), one line: the hint.
    said = [line for line in err.splitlines() if line.strip() and not line.startswith("✓ ")]
    assert said == [INTERRUPTED], err
    # Cleaned up on the way out: no temporary folder, no temporary file, no output.
    assert not [p for s in CACHED for p in temporaries(work, s)]
    assert not temp_outputs(out) and not out.exists()
    assert not list(work.glob("lines/.*")), "temporary line files left behind"
    assert_sound(work)

    if stage in ("transcribe", "synthesize", "mux"):
        dub(ref["clip"], out, work, report)
        assert fingerprint(out) == ref["print"]
        if stage in CACHED:
            assert reported_cached(report)[stage] is False


# ---------------------------------------------------------------------------- two runs at once


@pytest.mark.slow
def test_two_runs_at_once_share_one_work_dir(ref, tmp_path):
    work = tmp_path / "work"
    outs = [tmp_path / "one.mp4", tmp_path / "two.mp4"]
    procs = [start(ref["clip"], out, work, out.with_suffix(".json")) for out in outs]
    for proc, out in zip(procs, outs):
        assert finish(proc) == 0, stderr_of(out)
    for out in outs:
        assert fingerprint(out) == ref["print"]
    both = [s for s in CACHED if not any(reported_cached(out.with_suffix(".json"))[s] for out in outs)]
    assert both, "the two runs never computed a stage at the same time: the race was not exercised"
    for stage in CACHED:
        folders = complete(work, stage)
        assert len(folders) == 1 and (folders[0] / "result.json").is_file(), (stage, folders)
        assert not temporaries(work, stage), stage
    assert not list((work / "lines").glob(".*")), "temporary line files left behind"
    assert not [p for out in outs for p in temp_outputs(out)]

    third, report = tmp_path / "three.mp4", tmp_path / "three.json"
    dub(ref["clip"], third, work, report)
    assert reported_cached(report) == {s: True for s in CACHED}
    assert fingerprint(third) == ref["print"]


# ---------------------------------------------------------------------------- leftovers


def plant_leftovers(ref_work: Path, work: Path, age_days: float, tag: str) -> list[Path]:
    """A killed run's temporary folders beside every stage, named with the reference run's digest
    (the same here up to translate; later keys hold paths inside the work dir), holding a
    half-written file and a bogus result.json (a crash between writing it and the rename),
    with an mtime ``age_days`` ago."""
    planted = []
    for stage in CACHED:
        (done,) = complete(ref_work, stage)
        tmp = work / stage / f".tmp-{done.name}-{tag}"
        tmp.mkdir(parents=True)
        (tmp / "half.wav").write_bytes(b"RIFF")
        (tmp / "result.json").write_text('{"bogus": tru')
        stamp = time.time() - age_days * 86400
        for p in (tmp / "half.wav", tmp / "result.json", tmp):
            os.utime(p, (stamp, stamp))
        planted.append(tmp)
    return planted


@pytest.mark.slow
def test_leftover_tmp_folders_do_not_break_a_rerun(ref, tmp_path):
    """Killed runs' folders, one fresh and one two days old beside every stage: the rerun ignores
    both, gives A, leaves the fresh ones alone (they may belong to a run still going) and
    removes the old ones."""
    out, report, work = tmp_path / "out.mp4", tmp_path / "report.json", tmp_path / "work"
    fresh = plant_leftovers(ref["work"], work, age_days=0, tag="0000fresh")
    stale = plant_leftovers(ref["work"], work, age_days=2, tag="00000old")
    dub(ref["clip"], out, work, report)
    assert fingerprint(out) == ref["print"]
    assert all(v is False for v in reported_cached(report).values())
    assert_sound(work)
    assert all(p.is_dir() for p in fresh)
    assert not any(p.exists() for p in stale)  # a day old: removed when the stage runs again


# ---------------------------------------------------------------------------- the runner alone (fast)


def test_ctrl_c_right_after_the_stage_folder_is_made_leaves_nothing(tmp_path, monkeypatch):
    """A Ctrl-C that lands just after the temporary folder is made, before the work begins,
    still removes it (seen once in ``test_ctrl_c_mid_stage[translate]``)."""
    from dubber.runner import Workspace

    mkdir = Path.mkdir

    def mkdir_then_interrupt(self, *args, **kwargs):
        mkdir(self, *args, **kwargs)
        if self.name.startswith(".tmp-"):
            raise KeyboardInterrupt

    monkeypatch.setattr(Path, "mkdir", mkdir_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        Workspace(tmp_path).run("stage", "1", {}, lambda folder: {})
    assert list((tmp_path / "stage").iterdir()) == []


def test_ctrl_c_right_after_the_temporary_file_is_made_leaves_nothing(tmp_path, monkeypatch):
    from tts_core.files import atomic_path

    def chmod_interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "chmod", chmod_interrupted)
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "out" / "a.mp4"):
            pass
    assert list((tmp_path / "out").iterdir()) == []


def test_a_run_that_loses_the_race_goes_on_with_the_winners_record(tmp_path):
    """Two runs compute a stage at once; the second to finish finds the first's folder in place
    and must continue with what that folder records (its files are the ones it will read), not
    with its own result, which a stage that is not bit-exact could make differ."""
    from dubber.runner import Workspace

    def theirs(folder):
        (folder / "x.txt").write_text("theirs")
        return {"said": "theirs"}

    def ours(folder):
        (folder / "x.txt").write_text("ours")
        Workspace(tmp_path).run("stage", "1", {"k": 1}, theirs)  # meanwhile another run finishes the stage
        return {"said": "ours"}

    final, result = Workspace(tmp_path).run("stage", "1", {"k": 1}, ours)
    assert result == {"said": "theirs"} == json.loads((final / "result.json").read_text())
    assert (final / "x.txt").read_text() == "theirs"
    assert [p.name for p in (tmp_path / "stage").iterdir()] == [final.name]


def test_a_finished_folder_with_an_unreadable_record_is_redone(tmp_path):
    """After a machine crash a renamed folder may hold an empty result.json: the stage runs
    again instead of failing every rerun."""
    from dubber.runner import Workspace

    ws = Workspace(tmp_path)
    final, _ = ws.run("stage", "1", {}, lambda folder: {"n": 1})
    (final / "result.json").write_text("")
    again, result = Workspace(tmp_path).run("stage", "1", {}, lambda folder: {"n": 2})
    assert again == final and result == {"n": 2}
    assert json.loads((final / "result.json").read_text()) == {"n": 2}


def test_stale_temporary_folders_are_removed_when_the_stage_runs(tmp_path):
    from dubber.runner import STALE_SECONDS, Workspace

    old, young = tmp_path / "stage" / ".tmp-aaaa-old", tmp_path / "stage" / ".tmp-aaaa-young"
    for folder in (old, young):
        folder.mkdir(parents=True)
    stamp = time.time() - STALE_SECONDS - 60
    os.utime(old, (stamp, stamp))
    Workspace(tmp_path).run("stage", "1", {}, lambda folder: {})
    assert not old.exists() and young.is_dir()


def test_ctrl_c_inside_a_constructor_prints_only_the_hint(tmp_path):
    """Ctrl-C can land inside any constructor: ``wave.open`` interrupted before it set its
    file leaves an object whose ``__del__`` fails when the traceback is freed. That noise
    ("Exception ignored in ...") must not follow the one-line hint (it did, in CI)."""
    script = """
import sys, dubber.dub
from dubber.cli import main

class HalfBuilt:
    def __init__(self):
        raise KeyboardInterrupt  # before any attribute is set, as a signal can
    def __del__(self):
        self.file.close()

def dub_video(*args, **kwargs):
    HalfBuilt()

dubber.dub.dub_video = dub_video
sys.argv = ["dub", sys.argv[1], "--lang", "en", "-o", sys.argv[2], "-q"]
main()
"""
    proc = subprocess.run([sys.executable, "-c", script, str(SAMPLE), str(tmp_path / "out.mp4")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip() == INTERRUPTED, proc.stderr
