"""Speed: wall time, CPU time, peak memory and per-stage seconds of whole dubs, and how they grow.

    python -m bench.speed [--json PATH] [--minutes 1,5,10] [--skip-programmes]

Every dub is the real CLI (``dub INPUT --lang L -o OUT --report R.json --work-dir W -q``) run as a
child process with a fresh, empty work folder and a cache holding only what counts as installed:
the model files derived under the cache root and each voice's embedding speaking the probe
sentence (neither depends on a video; the Spanish ones are derived before the programmes, as
``bench.common.derive_probes``), never a voice match an earlier dub made for its speakers. Of each child, from ``os.wait4`` in a small process that
starts it: wall seconds; CPU seconds (user + system of the child and of the processes it waited
for, such as ffmpeg); RTF (wall / media length); peak memory (the child's maximum resident set, or
its largest waited-for child's if that is larger; never under the starter's own ~12 MB; MB = 2^20
bytes); and, of a dub, the report's lines and seconds per stage.

1. The bundled sample (samples/sample_es.mp4, Spanish, dubbed into English): ``dub --help`` in a
   fresh process; a cold dub; the same command again on the same work folder (the cached rerun);
   and the Whisper floor: a fresh process that loads the bundled base model as the project does
   (``pipelines.whisper_model.load("base", "cpu")``) and transcribes the clip's audio with the
   project's ASR options (beam 5, word timestamps, VAD filter, language detected), timed from
   process start to exit.
2. Programmes of --minutes each (default 1, 5, 10), built like bench.fit's conversation: two
   real voices taking turns (the LibriVox reader of pocketsphinx-testdata and the Asterisk prompt
   voice, turns cut by bench.diarize, 0.9-1.4 s apart) over asterisk-moh-opsound music 12 dB under
   the speech, looped to the length: each pass over a voice's turns is in a new order and from the
   second on played 2 % slower or faster than any pass before (pitch with it), since lines are
   cached by text, slot length and voice and a repeat must not come back as the same line. Each
   is an MP4 with a still colour picture (AAC 48 kHz stereo), dubbed into Spanish with Kokoro (as
   bench.fit dubs its conversation). Per programme the figures above and wall seconds per
   programme minute; linearity is the spread of that across lengths (max / min - 1).

Targets: sample wall <= 0.5 x clip length and <= 3 x the Whisper floor; programme RTF <= 0.5;
peak memory <= 1.5 GB; time per minute flat within 15 %; cached rerun <= 2 s; ``dub --help``
<= 1 s. Each figure is one measurement on this machine as it is (other load on its cores counts:
the load average at start is printed). The programmes need the recordings ``make bench`` installs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench import recordings
from bench.common import derive_probes, installed_only, table
from bench.diarize import RATE, asterisk_turns, conversation, librivox_turns, sources_available
from pipelines.media import decode_audio, probe, resample, tool, write_wav

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "sample_es.mp4"
_SCRIPT = Path(sys.executable).with_name("dub")
DUB = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "dubber.cli"]
PAUSES = (0.9, 1.4)  # bench.fit's conversation: each turn a line of its own
STEP = 0.02  # speed change between passes over the same turns
GB = 1024  # MB
TARGETS = {"sample_clip": 0.5, "sample_floor": 3.0, "rtf": 0.5, "peak_gb": 1.5, "spread": 0.15, "cached_s": 2.0,
           "help_s": 1.0}

# Runs argv[2:], writes its figures to argv[1] and exits with its code. Linux carries a process's
# peak resident set across exec from the process that started it, so the children are started
# from this small process, not from the benchmark (which holds the recordings in memory).
MEASURE = """
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - start
child.returncode = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as f:
    json.dump({"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024}, f)
sys.exit(child.returncode)
"""

# The Whisper floor: a bare transcription in a fresh process, loaded and run as pipelines.asr does.
FLOOR = """
import json, sys, time
start = time.perf_counter()
from pipelines import whisper_model
from pipelines.media import decode_audio
model = whisper_model.load("base", "cpu")
audio = decode_audio(sys.argv[1], 16_000, 1)
loaded = time.perf_counter()
segments, info = model.transcribe(audio, task="transcribe", beam_size=5, word_timestamps=True, vad_filter=True,
                                  condition_on_previous_text=False)
words = sum(len(s.words or []) for s in segments)
print(json.dumps({"load_s": loaded - start, "transcribe_s": time.perf_counter() - loaded, "words": words,
                  "language": info.language}))
"""


def run(cmd: list[str], what: str, env: dict | None = None) -> dict:
    """Run ``cmd`` as a child of MEASURE: its wall and CPU seconds, peak memory (MB) and output."""
    with tempfile.TemporaryDirectory(prefix="dub-bench-run-") as tmp:
        figures, out, err = Path(tmp) / "figures.json", Path(tmp) / "stdout", Path(tmp) / "stderr"
        with out.open("wb") as o, err.open("wb") as e:
            code = subprocess.run([sys.executable, "-c", MEASURE, str(figures), *cmd], stdout=o, stderr=e,
                                  cwd=ROOT, env=env).returncode
        if code != 0:
            sys.exit(f"{what} failed (exit {code}): {err.read_text(errors='replace').strip()[-2000:]}")
        return {**json.loads(figures.read_text()), "stdout": out.read_text(errors="replace")}


def dub(source: Path, lang: str, folder: Path, extra: tuple[str, ...] = ()) -> dict:
    """A cold dub of ``source`` with a fresh work folder in ``folder``, and its report's stages."""
    work, output, report = folder / "work", folder / f"{source.stem}_{lang}.mp4", folder / "report.json"
    work.mkdir(parents=True)
    cmd = DUB + [str(source), "--lang", lang, "-o", str(output), "--report", str(report), "--work-dir", str(work),
                 "-q", *extra]
    env = installed_only(folder)
    figures = run(cmd, f"the dub of {source.name}", env)
    result = json.loads(report.read_text())
    return {**figures, "cmd": cmd, "cache": env["DUB_CACHE_DIR"], "stages": result["stages"],
            "lines": len(result["segments"])}


def looped(turns: list[np.ndarray], count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` turns from ``turns``: each pass in a new order, pass k > 0 played at speed
    1 -/+ STEP * ceil(k / 2) (0.98, 1.02, 0.96, ...), so no turn comes back at a length it had."""
    out: list[np.ndarray] = []
    for k in range(math.ceil(count / len(turns))):
        factor = 1 + STEP * math.ceil(k / 2) * (-1) ** k
        for i in rng.permutation(len(turns)):
            out.append(turns[i] if k == 0 else resample(turns[i], RATE, round(RATE / factor)))
    return out[:count]


def programme(minutes: float, libri: list[np.ndarray], aster: list[np.ndarray], folder: Path) -> Path:
    """Two voices taking turns over music for exactly ``minutes``, as an MP4 with a still picture."""
    rng = np.random.default_rng(round(minutes * 60))
    seconds = minutes * 60
    per_turn = np.mean([len(t) for t in libri]) / RATE + np.mean([len(t) for t in aster]) / RATE + sum(PAUSES)
    count = math.ceil(1.05 * seconds / per_turn) + 1  # turns per voice, a little over the length
    speech, turns = conversation({"librivox": looped(libri, count, rng), "asterisk": looped(aster, count, rng)},
                                 seed=round(seconds), pauses=PAUSES)
    whole = [t for t in turns if t["end"] <= seconds - 0.3]  # no turn cut at the end
    speech = speech[: int(whole[-1]["end"] * RATE)]
    speech = np.pad(speech, (0, int(seconds * RATE) - len(speech)))
    music = np.resize(decode_audio(sorted(recordings.MUSIC.glob("*.wav"))[0], RATE), len(speech))
    gain = np.sqrt(np.mean(speech**2) / np.mean(music**2)) * 10 ** (-12 / 20)
    wav = write_wav(folder / "programme.wav", speech + gain * music, RATE)
    out = folder / f"programme_{minutes:g}min.mp4"
    subprocess.run([tool("ffmpeg"), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=0x203040:s=320x180:r=25", "-i", str(wav), "-map", "0:v", "-map", "1:a", "-t",
                    f"{seconds:.3f}", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-b:a", "128k", "-ar", "48000", "-ac", "2", str(out)], check=True)
    wav.unlink()
    return out


def spread(per_minute: list[float]) -> float | None:
    """max / min - 1 of the seconds per programme minute; None with fewer than two lengths."""
    return max(per_minute) / min(per_minute) - 1 if len(per_minute) > 1 else None


def marginal(programmes: list[dict]) -> list[tuple[str, str, float]]:
    """(from, to, wall seconds each added programme minute cost) between consecutive lengths:
    the growth itself, without the start-up every dub pays once (which the time per minute
    of a short programme carries)."""
    ordered = sorted(programmes, key=lambda p: p["media_s"])
    return [(a["name"], b["name"], (b["wall_s"] - a["wall_s"]) / ((b["media_s"] - a["media_s"]) / 60))
            for a, b in zip(ordered, ordered[1:]) if b["media_s"] > a["media_s"]]


def verdicts(m: dict) -> list[list]:
    """[figure, measured, target, PASS/FAIL] per target that was measured."""
    t, s, clip, floor = TARGETS, m["sample"], m["sample"]["media_s"], m["floor"]["wall_s"]
    rows = [["sample wall / clip length", f"{s['wall_s']:.1f} s = {s['wall_s'] / clip:.2f} x {clip:.1f} s",
             f"<= {t['sample_clip']} x ({t['sample_clip'] * clip:.1f} s)", s["wall_s"] <= t["sample_clip"] * clip],
            ["sample wall / Whisper floor", f"{s['wall_s']:.1f} s = {s['wall_s'] / floor:.2f} x {floor:.1f} s",
             f"<= {t['sample_floor']:g} x ({t['sample_floor'] * floor:.1f} s)", s["wall_s"] <= t["sample_floor"] * floor],
            ["cached rerun wall", f"{m['cached']['wall_s']:.2f} s", f"<= {t['cached_s']:g} s",
             m["cached"]["wall_s"] <= t["cached_s"]],
            ["dub --help wall", f"{m['help']['wall_s']:.2f} s", f"<= {t['help_s']:g} s", m["help"]["wall_s"] <= t["help_s"]]]
    progs = m["programmes"]
    if progs:
        worst = max(p["rtf"] for p in progs)
        rows.append(["programme RTF (worst)", ", ".join(f"{p['name']} {p['rtf']:.2f}" for p in progs),
                     f"<= {t['rtf']}", worst <= t["rtf"]])
        if m["spread"] is None:
            rows.append(["time per minute spread", "one length only", f"<= {t['spread']:.0%}", None])
        else:
            rows.append(["time per minute spread", ", ".join(f"{p['name']} {p['s_per_min']:.1f} s" for p in progs)
                         + f": {m['spread']:.1%}", f"<= {t['spread']:.0%}", m["spread"] <= t["spread"]])
    dubs = [("sample", m["sample"]), ("sample cached", m["cached"])] + [(p["name"], p) for p in progs]
    name, peak = max(dubs, key=lambda d: d[1]["peak_mb"])
    rows.append(["peak memory of any dub", f"{peak['peak_mb'] / GB:.2f} GB ({name})", f"<= {t['peak_gb']} GB",
                 peak["peak_mb"] <= t["peak_gb"] * GB])
    return [[f, v, tg, "not measured" if ok is None else "PASS" if ok else "FAIL"] for f, v, tg, ok in rows]


def render(m: dict) -> str:
    """The tables: one row per child, seconds per stage per dub, then the verdicts."""
    def row(name: str, r: dict, media: float | None) -> list:
        per_min = f"{r['wall_s'] / (media / 60):.1f}" if media and name.startswith("programme") else "-"
        return [name, f"{media:.1f}" if media else "-", r.get("lines", "-"), r["wall_s"], r["cpu_s"], r["cpu_s"] / r["wall_s"],
                r["wall_s"] / media if media else "-", f"{r['peak_mb']:.0f}", per_min]

    clip, f = m["sample"]["media_s"], m["floor"]
    runs = [row("dub --help", m["help"], None), row("sample, cold dub", m["sample"], clip),
            row("sample, cached rerun", m["cached"], clip), row("Whisper floor (sample)", f, clip)]
    runs += [row(f"programme {p['name']}, cold dub", p, p["media_s"]) for p in m["programmes"]]
    load = " / ".join(f"{x:.2f}" for x in m["load_average"])
    lines = [f"{m['cpus']} CPUs, load average {load} at start, {m['date']}", "",
             table(["run", "media s", "lines", "wall s", "CPU s", "CPU / wall", "RTF", "peak MB", "wall s / minute"], runs), "",
             f"Whisper floor {f['wall_s']:.1f} s (start, imports and model load {f['load_s']:.1f} s, transcription "
             f"{f['transcribe_s']:.1f} s, {f['words']} words, language {f['language']}); the sample's dub "
             f"{m['sample']['wall_s']:.1f} s = {m['sample']['wall_s'] / f['wall_s']:.2f} x the floor."]
    dubs = [("sample", m["sample"]), ("sample cached", m["cached"])] + [(p["name"], p) for p in m["programmes"]]
    stages = list(dict.fromkeys(s for _, d in dubs for s in d["stages"]))

    def cell(d: dict, stage: str) -> str:
        s = d["stages"].get(stage)
        if s is None:
            return "-"
        return f"{s:.1f} ({s / (d['media_s'] / 60):.1f}/min)" if "s_per_min" in d else f"{s:.2f}"

    lines += ["", "Seconds per stage (from the reports; programmes also per programme minute):", "",
              table(["stage"] + [n for n, _ in dubs], [[s] + [cell(d, s) for _, d in dubs] for s in stages]),
              "", table(["target", "measured", "goal", "result"], m["verdicts"])]
    steps = marginal(m["programmes"])
    if steps:
        lines += ["", "Each added programme minute (info, start-up excluded): " + ", ".join(
            f"{a} -> {b} {s:.1f} s" for a, b, s in steps) + "."]
    return "\n".join(lines)


def minutes_list(text: str) -> list[float]:
    try:
        lengths = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        lengths = []
    if not lengths or any(x <= 0 for x in lengths):
        raise argparse.ArgumentTypeError(f"{text!r}: positive minutes, comma-separated, e.g. 1,5,10")
    return lengths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--minutes", type=minutes_list, default="1,5,10",
                        help="programme lengths in minutes [default: 1,5,10]")
    parser.add_argument("--skip-programmes", action="store_true", help="measure the sample only")
    args = parser.parse_args(argv)
    lengths = [] if args.skip_programmes else args.minutes
    if lengths:
        missing = sources_available() or (None if any(recordings.MUSIC.glob("*.wav")) else
                                          f"music missing ({recordings.MUSIC}: asterisk-moh-opsound-wav)")
        if missing:
            sys.exit(f"the programmes need the recordings make bench installs ({missing}): run make bench "
                     "(or pass --skip-programmes)")
        libri, aster = librivox_turns(), asterisk_turns(10_000)

    m: dict = {"cpus": os.cpu_count(), "load_average": os.getloadavg(),
               "date": datetime.datetime.now().isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory(prefix="dub-bench-speed-") as tmp:
        tmp = Path(tmp)
        print("sample: dub --help, cold dub, cached rerun, Whisper floor ...", file=sys.stderr, flush=True)
        m["help"] = run(DUB + ["--help"], "dub --help")
        m["sample"] = {**dub(SAMPLE, "en", tmp / "sample"), "media_s": probe(SAMPLE).duration}
        m["cached"] = run(m["sample"]["cmd"], "the sample's cached rerun",
                          {**os.environ, "DUB_CACHE_DIR": m["sample"]["cache"]})
        rerun = json.loads((tmp / "sample" / "report.json").read_text())
        m["cached"].update(stages=rerun["stages"], lines=len(rerun["segments"]))
        m["floor"] = run([sys.executable, "-c", FLOOR, str(SAMPLE)], "the Whisper floor")
        m["floor"].update(json.loads(m["floor"]["stdout"]))
        m["programmes"] = []
        if lengths:  # installed before timing, like the model files: see installed_only
            m["probes_derived"] = derive_probes("es")
        for minutes in lengths:
            print(f"programme of {minutes:g} min: building, dubbing into Spanish ...", file=sys.stderr, flush=True)
            folder = tmp / f"programme-{minutes:g}"
            folder.mkdir()
            source = programme(minutes, libri, aster, folder)
            p = {"name": f"{minutes:g} min", **dub(source, "es", folder, ("--tts", "kokoro")),
                 "media_s": probe(source).duration}
            p["rtf"] = p["wall_s"] / p["media_s"]
            p["s_per_min"] = p["wall_s"] / (p["media_s"] / 60)
            m["programmes"].append(p)
            shutil.rmtree(folder)
    m["spread"] = spread([p["s_per_min"] for p in m["programmes"]])
    m["verdicts"] = verdicts(m)
    print(render(m))
    if args.json:
        for r in (m["help"], m["sample"], m["cached"], m["floor"], *m["programmes"]):
            r.pop("stdout", None)
            r.pop("cmd", None)
        args.json.write_text(json.dumps(m, indent=2) + "\n")


if __name__ == "__main__":
    main()
