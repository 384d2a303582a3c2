"""``dub batch``: manifests, one failing job among good ones, resuming, globs, workers, Ray.

The dubs use a 4 s clip cut from the sample with ``--separator none`` and share one stage
cache, so after the first job most stages are cache hits.
"""

import json
import time

import pytest
from click.testing import CliRunner

from dubber.batch import ManifestError, glob_jobs, read_manifest
from dubber.cli import main

from .conftest import SAMPLE, ffmpeg


def run(*args):
    return CliRunner().invoke(main, ["batch", *map(str, args)])


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A folder with a 4 s clip, a second name for the same clip, and a corrupt file; and a shared work dir."""
    folder = tmp_path_factory.mktemp("batch")
    clip = folder / "clip.mp4"
    ffmpeg("-i", str(SAMPLE), "-t", "4", "-c", "copy", str(clip))
    (folder / "bad.mp4").write_bytes(SAMPLE.read_bytes()[:3000])
    return folder


def summary(output: str) -> list[tuple[str, str, str]]:
    """(file, lang, status) rows of the summary table."""
    rows = []
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("file ") and "status" in line)
    for line in lines[start + 2:]:
        parts = line.split()
        if len(parts) >= 3 and parts[2] in ("done", "skipped", "failed"):
            rows.append((parts[0], parts[1], parts[2]))
    return rows


# ---------------------------------------------------------------- manifest errors (no dubbing)


@pytest.mark.parametrize("name, text, expected", [
    ("m.csv", "input,lang,speed\na.mp4,en,2\n", "line 1: unknown column 'speed'"),
    ("m.csv", "input,lang\na.mp4,en\nb.mp4,\n", "line 3: no lang"),
    ("m.csv", "lang,output\nen,x.mp4\n", "line 2: no input"),
    ("m.csv", "input,lang\na.mp4,en,extra\n", "line 2: more values than the header"),
    ("m.csv", "input,lang,loudness\na.mp4,en,loud\n", "line 2: bad loudness"),
    ("m.csv", "input,lang,output\na.mp4,en,same.mp4\nb.mp4,en,same.mp4\n", "line 3: output"),
    ("m.csv", "", "is empty"),
    ("m.jsonl", '{"input": "a.mp4", "lang": "en"}\n{"input": "b.mp4", "lang": en}\n', "line 2: not valid JSON"),
    ("m.jsonl", '{"input": "a.mp4", "lang": "en", "colour": "red"}\n', "line 1: unknown column 'colour'"),
    ("m.yaml", "- input: a.mp4\n  lang: en\n- input: b.mp4\n  lang: [en\n", "not valid YAML"),
    ("m.yaml", "- input: a.mp4\n  lang: en\n- input: b.mp4\n", "line 3: no lang"),
    ("m.json", '[{"input": "a.mp4", "lang": "en"}, {"input": "b.mp4"}]', "item 2: no lang"),
    ("m.txt", "input,lang\n", "is not a manifest"),
])
def test_manifest_errors_are_one_line(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    result = run(path)
    assert result.exit_code == 2, result.output
    assert expected in result.output and result.output.strip().count("\n") == 0, result.output
    assert "Traceback" not in result.output


def test_missing_manifest_and_empty_glob(tmp_path):
    result = run(tmp_path / "nope.csv")
    assert result.exit_code == 2 and "manifest not found" in result.output
    result = run(tmp_path / "*.mp4", "--lang", "en")
    assert result.exit_code == 2 and "no files match" in result.output


def test_manifest_forms(tmp_path):
    (tmp_path / "m.csv").write_text("input,lang,output,tts\n# a comment\nsub/a.mp4,en;pt,out/a.{lang}.mp4,kokoro\n"
                                    "b.mp4,en,,\na.mp4,es,,\n")
    jobs = read_manifest(tmp_path / "m.csv", defaults={"separator": "none"})
    # The languages of one input stay together; relative paths are from the manifest's folder.
    assert [(j.input.split("/")[-1], j.lang) for j in jobs] == [("a.mp4", "en"), ("a.mp4", "pt"), ("b.mp4", "en"),
                                                                 ("a.mp4", "es")]
    assert jobs[1].output == str(tmp_path / "out" / "a.pt.mp4") and jobs[1].options["tts"] == "kokoro"
    assert jobs[2].output == str(tmp_path / "b.en.mp4") and jobs[2].report == str(tmp_path / "b.en.mp4.report.json")
    assert jobs[2].options == {"separator": "none"} and "line 4" in jobs[2].where
    (tmp_path / "m.yaml").write_text("jobs:\n  - input: a.mp4\n    lang: [en, pt]\n    output: o.mp4\n"
                                     "    loudness: -16\n")
    jobs = read_manifest(tmp_path / "m.yaml", report_dir=tmp_path / "r")
    assert [j.output for j in jobs] == [str(tmp_path / "o.en.mp4"), str(tmp_path / "o.pt.mp4")]
    assert jobs[0].options["loudness"] == -16.0 and jobs[0].report == str(tmp_path / "r" / "o.en.mp4.report.json")
    with pytest.raises(ManifestError, match="no jobs"):
        (tmp_path / "e.csv").write_text("input,lang\n")
        read_manifest(tmp_path / "e.csv")


def test_glob_skips_earlier_outputs(tmp_path):
    for name in ("a.mp4", "a.en.mp4", "b.mp4", "notes.en.mp4"):
        (tmp_path / name).write_bytes(b"x")
    jobs = glob_jobs(str(tmp_path / "*.mp4"), "en,pt", out_dir=tmp_path / "out")
    assert sorted((j.input.split("/")[-1], j.lang) for j in jobs) == [
        ("a.mp4", "en"), ("a.mp4", "pt"), ("b.mp4", "en"), ("b.mp4", "pt"), ("notes.en.mp4", "en"),
        ("notes.en.mp4", "pt")]
    assert str(tmp_path / "out" / "a.pt.mp4") in [j.output for j in jobs]


def test_ctrl_c_stops_the_batch_with_a_summary_and_a_hint(tmp_path, monkeypatch):
    import dubber.batch as batch
    import dubber.batch.workers as workers

    def fake(job, until=None, prior=None):
        if job.input.endswith("b.mp4"):
            raise KeyboardInterrupt
        return batch.JobResult(job.input, job.lang, job.output, "done", 1.0).to_dict()

    monkeypatch.setattr(workers, "run_job", fake)
    (tmp_path / "m.csv").write_text("input,lang\na.mp4,en\nb.mp4,en\nc.mp4,en\n")
    result = run(tmp_path / "m.csv", "-q")
    assert result.exit_code == 130
    assert "1 jobs: 1 done" in result.output and "rerun the same command to resume" in result.output


def test_ray_missing_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    (tmp_path / "m.csv").write_text("input,lang\na.mp4,en\n")
    result = run(tmp_path / "m.csv", "--ray")
    assert result.exit_code == 2 and "pip install 'dub[ray]'" in result.output


# ---------------------------------------------------------------- dubbing


@pytest.mark.slow
def test_failed_job_does_not_stop_the_others_and_rerun_skips(media, tmp_path):
    manifest = tmp_path / "jobs.csv"
    manifest.write_text(f"input,lang,output,loudness\n{media / 'clip.mp4'},en,out/a.en.mp4,\n"
                        f"{media / 'bad.mp4'},en,out/bad.en.mp4,\n{media / 'clip.mp4'},en,out/b.en.mp4,-20\n")
    args = [manifest, "--separator", "none", "--work-dir", media / "work"]
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert sorted(summary(result.output)) == [("bad.mp4", "en", "failed"), ("clip.mp4", "en", "done"),
                                              ("clip.mp4", "en", "done")]
    assert "2 done, 0 skipped, 1 failed" in result.output and "cannot read" in result.output
    for name in ("a", "b"):
        assert (tmp_path / "out" / f"{name}.en.mp4").stat().st_size > 1000
        report = json.loads((tmp_path / "out" / f"{name}.en.mp4.report.json").read_text())
        assert report["batch"]["status"] == "done" and report["stages"]
    failed = json.loads((tmp_path / "out" / "bad.en.mp4.report.json").read_text())
    assert failed["batch"]["status"] == "failed" and not (tmp_path / "out" / "bad.en.mp4").exists()

    started = time.perf_counter()
    again = run(*args)
    assert again.exit_code == 1, again.output
    assert "0 done, 2 skipped, 1 failed" in again.output
    assert time.perf_counter() - started < 30  # only the corrupt file is tried again

    # A changed option redoes that job only (from the stage cache).
    manifest.write_text(manifest.read_text().replace(",-20\n", ",-18\n"))
    third = run(*args)
    assert "1 done, 1 skipped, 1 failed" in third.output, third.output


@pytest.mark.slow
def test_glob_with_two_workers(media, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("one.mp4", "two.mp4"):
        (folder / name).write_bytes((media / "clip.mp4").read_bytes())
    result = run(folder / "*.mp4", "--lang", "en", "-o", tmp_path / "dubbed", "--jobs", "2", "--separator", "none",
                 "--work-dir", media / "work")
    assert result.exit_code == 0, result.output
    assert "2 workers" in result.output and "2 done" in result.output
    reports = [json.loads((tmp_path / "dubbed" / f"{n}.en.mp4.report.json").read_text()) for n in ("one", "two")]
    assert all((tmp_path / "dubbed" / f"{n}.en.mp4").is_file() for n in ("one", "two"))
    assert all(r["batch"]["status"] == "done" for r in reports)


@pytest.mark.slow
def test_ray_local(media, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'dub[ray]')")
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(json.dumps({"input": str(media / "clip.mp4"), "lang": "en", "output": "ray.en.mp4",
                                    "separator": "none"}) + "\n")
    try:
        result = run(manifest, "--ray", "--jobs", "1", "--work-dir", media / "work")
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert result.exit_code == 0, result.output
    assert "Ray (local)" in result.output and "1 done" in result.output
    assert (tmp_path / "ray.en.mp4").is_file()
    assert not ray.is_initialized()  # the batch shut down the instance it started


# ---------------------------------------------------------------- stage-major scheduling


def test_stage_order_runs_each_stage_over_all_jobs_and_drops_failures(tmp_path, monkeypatch):
    import dubber.batch as batch
    import dubber.batch.workers as workers
    from dubber.dub import STAGES

    calls = []

    def fake(job, until=None, prior=None):
        calls.append((job.input, until))
        if job.input == "b.mp4" and until == "transcribe":
            return batch.JobResult(job.input, job.lang, job.output, "failed", 1.0, "no speech").to_dict()
        status = "done" if until in (None, "mux") else "staged"
        seconds = (prior or {}).get("seconds", 0.0) + 1.0
        return batch.JobResult(job.input, job.lang, job.output, status, seconds).to_dict()

    monkeypatch.setattr(workers, "run_job", fake)
    jobs = [batch.Job(name, "en", f"{name}.en.mp4", f"{name}.json") for name in ("a.mp4", "b.mp4")]
    stages_seen = []
    results = batch.run_batch(jobs, on_stage=lambda stage, n: stages_seen.append((stage, n)))
    upto = STAGES.index("transcribe")
    assert calls == [(name, stage) for stage in STAGES[:upto + 1] for name in ("a.mp4", "b.mp4")] + [
        ("a.mp4", stage) for stage in STAGES[upto + 1:]]
    assert stages_seen == [(s, 2) for s in STAGES[:upto + 1]] + [(s, 1) for s in STAGES[upto + 1:]]
    assert [(r["input"], r["status"]) for r in results] == [("a.mp4", "done"), ("b.mp4", "failed")]
    assert results[0]["seconds"] == len(STAGES)  # the phases' seconds add up

    calls.clear()
    batch.run_batch(jobs, order="file")
    assert calls == [("a.mp4", None), ("b.mp4", None)]


def test_merge_stages_keeps_the_time_of_the_phase_that_did_the_work():
    from dubber.batch import merge_stages

    first = {"stages": {"extract": 2.0}, "cached": {"extract": False}}
    times, cached = merge_stages(first, {"extract": 0.01, "separate": 5.0}, {"extract": True, "separate": False})
    assert times == {"extract": 2.0, "separate": 5.0} and cached == {"extract": False, "separate": False}


@pytest.mark.slow
@pytest.mark.parametrize("order, whisper_resident", [("stage", False), ("file", True)])
def test_models_resident_when_the_tts_loads(media, tmp_path, monkeypatch, order, whisper_resident):
    """Stage order: Whisper is gone from memory whenever the TTS model loads; file order keeps
    it loaded (the second file's TTS load finds it resident)."""
    from dubber import resident
    from pipelines import synthesize

    seen = []
    real = synthesize.load_tts

    def watched(*args):
        seen.append(resident.resident())
        return real(*args)

    monkeypatch.setattr(synthesize, "load_tts", watched)
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("one.mp4", "two.mp4"):
        (folder / name).write_bytes((media / "clip.mp4").read_bytes())
    work = tmp_path / "work"  # a fresh cache: every stage really runs and loads its model
    result = run(folder / "*.mp4", "--lang", "en", "-o", tmp_path / "out", "--separator", "none", "--order", order,
                 "--work-dir", work)
    assert result.exit_code == 0, result.output
    assert seen, "the TTS model was never loaded"
    holds_whisper = ["pipelines.whisper_model:load" in loaded for loaded in seen]
    assert any(holds_whisper) == whisper_resident, seen
    if order == "stage":
        assert "stage transcribe over 2 jobs" in result.output and "stage synthesize over 2 jobs" in result.output
        report = json.loads((tmp_path / "out" / "one.en.mp4.report.json").read_text())
        assert set(report["stages"]) >= {"extract", "separate", "transcribe", "translate", "synthesize", "remix", "mux"}
        assert report["cached"]["transcribe"] is False  # the time of the phase that did the work, not a cache hit


def test_manifest_columns_reach_the_dub_options():
    """The IndexTTS-2 columns become the same options as their command-line flags."""
    import dubber.batch as batch
    from dubber.options import as_bool, as_number

    job = batch.Job(input="a.mp4", lang="en", output="a.en.mp4", report="r.json",
                    options={"tts": "indextts2", "tts_model": "/models/IndexTTS-2", "tts_fast": as_bool("yes"),
                             "emotion": "angry", "line_emotion": as_bool("false"),
                             "emotion_alpha": as_number("0.5")})
    options = job.dub_options()
    assert (options.tts, options.voice, options.tts_fast) == ("indextts2", "/models/IndexTTS-2", True)
    assert (options.emotion, options.line_emotion, options.emotion_alpha) == ("angry", False, 0.5)
    assert {"tts_model", "tts_fast", "emotion", "line_emotion", "emotion_alpha"} <= set(batch.COLUMNS)


def test_memory_freed_in_a_thread_goes_back_to_the_system():
    """resident.give_back (run before every stage): what a stage freed, here 300 MB of small
    arrays in a thread's malloc arena as Whisper's thread leaves them, leaves the resident size.
    In a fresh interpreter: this one's resident size depends on what earlier tests loaded
    (a dub here imports torch, after which a trim gets back less of such a churn)."""
    import subprocess
    import sys
    import textwrap

    from dubber import resident

    if not sys.platform.startswith("linux") or resident._libc() is None:
        pytest.skip("malloc_trim is glibc's")
    code = textwrap.dedent("""
        import threading
        import numpy as np
        from dubber import resident

        def rss_mb():
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))

        def churn():
            held = [np.ones(100_000 // 8) for _ in range(3000)]
            del held

        thread = threading.Thread(target=churn)
        thread.start()
        thread.join()
        before = rss_mb()
        resident.give_back()
        print(before, rss_mb())
    """)
    before, after = map(int, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                            check=True).stdout.split())
    assert after < before - 60


def test_every_model_a_batch_releases_is_held_by_a_cache_it_can_empty():
    """resident.LOADERS names each loader by module and function: one that is not (or is no
    longer) an lru_cache would silently never be released between a batch's stages."""
    import importlib

    from dubber import resident

    for loader in resident.LOADERS:
        module, name = loader.split(":")
        assert hasattr(getattr(importlib.import_module(module), name), "cache_clear"), loader
