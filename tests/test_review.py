"""``dub review``: the page's API on a real server over a real dub of the bundled sample,
every action and every bad input; and the page itself in a real browser (Debian's
chromium, driven by selenium)."""

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dubber.cli import main
from dubber.project import project_path
from dubber.review.server import Server, create_app
from dubber.review.session import Review, ReviewError
from pipelines.media import decode_audio, read_wav

from .conftest import SAMPLE

RATE = 48_000
TOKEN = "test-token"


@pytest.fixture(scope="module")
def dubbed(tmp_path_factory):
    """The sample dubbed once; each test reviews a copy of its output and project file."""
    folder = tmp_path_factory.mktemp("dubbed")
    out = folder / "out.mp4"
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "-o", str(out), "--work-dir", str(folder / "work"),
                                       "--report", str(folder / "report.json"), "-q"])
    assert result.exit_code == 0, result.output
    return out


def copy_dub(dubbed: Path, folder: Path) -> Path:
    """The dub's output and project file in ``folder`` (the work folder is shared)."""
    out = folder / "out.mp4"
    shutil.copyfile(dubbed, out)
    project = json.loads(project_path(dubbed).read_text())
    project["report"]["output"] = project["report"]["options"]["output"] = str(out)
    project["report"]["options"]["report"] = str(folder / "report.json")
    project_path(out).write_text(json.dumps(project))
    for sub in dubbed.parent.glob("out.*.[sv][rt]t"):
        shutil.copyfile(sub, folder / sub.name)
    return out


@pytest.fixture
def served(dubbed, tmp_path):
    out = copy_dub(dubbed, tmp_path)
    review = Review(out)
    server = Server(create_app(review, TOKEN))
    port = server.start()
    yield review, f"http://127.0.0.1:{port}", out
    server.stop()


def call(base, path, body=None, token=TOKEN, method=None):
    """(status, JSON or bytes) of one request."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(base + path, data=data, method=method or ("POST" if data is not None else "GET"))
    if token:
        request.add_header("X-Dub-Token", token)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            raw, status, kind = response.read(), response.status, response.headers.get("content-type", "")
    except urllib.error.HTTPError as error:
        raw, status, kind = error.read(), error.code, error.headers.get("content-type", "")
    return status, (json.loads(raw) if "json" in kind else raw)


def slot_exact(line):
    assert line["audio_duration"] == pytest.approx(line["end"] - line["start"], abs=1.5 / RATE)


def test_every_request_needs_the_token(served):
    _, base, _ = served
    for path in ("/", "/api/dub", "/media/dub", "/static/app.js", "/media/line/0"):
        assert call(base, path, token=None)[0] == 403
        assert call(base, path, token="wrong")[0] == 403
    status, page = call(base, f"/?token={TOKEN}", token=None)
    assert status == 200 and f"static/app.js?token={TOKEN}".encode() in page  # its assets carry the token
    assert call(base, f"/static/app.js?token={TOKEN}", token=None)[0] == 200


def test_state_media_and_refusals(served):
    review, base, out = served
    status, state = call(base, "/api/dub")
    assert status == 200 and len(state["lines"]) == 7 and state["output"] == str(out)
    assert all(line["audio"] and not line["edited"] for line in state["lines"])
    assert call(base, "/media/dub")[1] == out.read_bytes()
    assert call(base, "/media/original")[1] == SAMPLE.read_bytes()
    assert call(base, "/media/line/2")[1] == Path(state["lines"][2]["audio"]).read_bytes()
    peaks = call(base, "/api/waveform")[1]
    assert len(peaks["peaks"]) == 2000 and max(peaks["peaks"]) > 0.05

    lines = state["lines"]
    refusals = [
        ("/media/..%2F..%2Fetc%2Fpasswd", None, 404, ""),
        ("/media/report", None, 404, "no media 'report'"),
        ("/media/line/99", None, 404, "no line 99"),
        ("/api/lines/abc", {"text": "x"}, 404, "no line 'abc'"),
        ("/api/lines/99", {"text": "x"}, 404, "there is no line 99"),
        ("/api/lines/1", {"text": "  "}, 400, "the text is empty"),
        ("/api/lines/1", {"speaker": "S9"}, 400, "unknown speaker 'S9'"),
        ("/api/lines/1", {"start": -1.0}, 400, "not inside the video"),
        ("/api/lines/1", {"end": 99.0}, 400, "not inside the video"),
        ("/api/lines/1", {"start": lines[0]["end"] - 0.1}, 400, "over line 0"),
        ("/api/lines/1", {"end": lines[2]["start"] + 0.1}, 400, "over line 2"),
        ("/api/lines/1", {"start": "soon"}, 400, "must be a number"),
        ("/api/lines/1", {"colour": "red"}, 400, "unknown field 'colour'"),
        ("/api/lines/1", b"{not json", 400, "not JSON"),
        ("/api/lines/1/undo", {}, 400, "no earlier take"),
        ("/api/render", {"output": "../elsewhere.mp4"}, 400, "no folders"),
        ("/api/render", {"output": "new.mkv"}, 400, "a .mp4 file"),
    ]
    for path, body, code, reason in refusals:
        status, answer = call(base, path, body)
        assert status == code, (path, answer)
        assert reason in (answer["error"] if isinstance(answer, dict) else ""), (path, answer)
    assert call(base, "/api/dub")[1]["lines"] == lines  # nothing changed
    assert not review.project.edits


def test_edit_regenerate_undo(served):
    review, base, out = served
    before = call(base, "/api/dub")[1]["lines"][3]
    status, edited = call(base, "/api/lines/3", {"text": "Wait for me here."})
    assert status == 200 and edited["pending"] and edited["edited"] and edited["audio"] == before["audio"]
    status, answer = call(base, "/api/render", {})
    assert status == 202
    while call(base, "/api/dub")[1]["render"]["running"]:
        time.sleep(0.2)
    assert "edited but not regenerated" in call(base, "/api/dub")[1]["render"]["error"]

    status, take = call(base, "/api/lines/3/regenerate", {})
    assert status == 200 and take["text"] == "Wait for me here." and not take["pending"] and take["takes"] == 1
    assert take["audio"] != before["audio"] and take["speech_rate"] != before["speech_rate"]
    slot_exact(take)
    assert (take["start"], take["end"]) == (before["start"], before["end"])  # its slot, not re-planned
    audio, rate = read_wav(take["audio"])
    assert rate == RATE and np.abs(audio).max() > 0.05

    # Nothing speakable: refused, and the take stays.
    call(base, "/api/lines/3", {"text": "..."})
    status, answer = call(base, "/api/lines/3/regenerate", {})
    assert status == 400 and "could not be regenerated" in answer["error"]
    assert call(base, "/api/dub")[1]["lines"][3]["audio"] == take["audio"]

    # Moved within its neighbours, then regenerated: exact in the new slot.
    gap_end = call(base, "/api/dub")[1]["lines"][4]["start"]
    call(base, "/api/lines/3", {"text": "Wait for me here.", "end": round(min(gap_end, before["end"] + 0.3), 3)})
    moved = call(base, "/api/lines/3/regenerate", {})[1]
    assert moved["end"] > before["end"] and moved["takes"] == 2
    slot_exact(moved)

    assert call(base, "/api/lines/3/undo", {})[1]["audio"] == take["audio"]
    back = call(base, "/api/lines/3/undo", {})[1]
    assert back["audio"] == before["audio"] and back["text"] == before["text"] and not back["edited"]
    assert 3 not in Review(out).project.edits  # the project file says so too


def test_render_changes_only_the_regenerated_line(served, tmp_path):
    review, base, out = served
    old_audio = decode_audio(out, RATE, 1)
    old_mix = review.project.report["mix"]
    call(base, "/api/lines/0", {"text": "We will call you back tomorrow."})
    take = call(base, "/api/lines/0/regenerate", {})[1]
    assert call(base, "/api/render", {})[0] == 202
    assert call(base, "/api/render", {})[0] == 409  # one at a time
    while (state := call(base, "/api/dub")[1])["render"]["running"]:
        time.sleep(0.2)
    assert state["render"]["error"] is None and state["render"]["output"] == str(out)

    new_audio = decode_audio(out, RATE, 1)
    assert len(new_audio) == len(old_audio)
    a, b = int(take["start"] * RATE), int(take["end"] * RATE)
    # Inside the slot, the new line; outside it (past the background's 0.3 s release and
    # the codec's frames), the same mix: the gains of the first dub are held.
    assert np.abs(new_audio[a:b] - old_audio[a:b]).max() > 0.1
    outside = np.ones(len(old_audio), bool)
    outside[a - RATE // 20: b + int(0.6 * RATE)] = False
    assert np.abs(new_audio - old_audio)[outside].max() < 0.01
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["segments"][0]["text"] == "We will call you back tomorrow." and report["mix"]["voice_gain"] == \
        pytest.approx(old_mix["voice_gain"])
    assert "We will call you back tomorrow." in (tmp_path / "out.en.srt").read_text()
    slot_exact(report["segments"][0])

    # A rerun of the dub keeps the edited text instead of translating the line again.
    options = review.options
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "-o", str(out), "--work-dir",
                                       str(options.work_root), "-q"])
    assert result.exit_code == 0, result.output
    assert Review(out).lines()[0]["text"] == "We will call you back tomorrow."


def test_a_failed_render_leaves_the_output(served, tmp_path):
    review, base, out = served
    before = out.read_bytes()
    gone = Path(review.take(1)["audio"])
    saved = gone.read_bytes()
    gone.unlink()  # a take removed from the cache under the review's feet
    try:
        with pytest.raises(Exception):
            review.render()
        assert out.read_bytes() == before and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
        assert review.render_state["error"] and not review.render_state["running"]
    finally:
        gone.write_bytes(saved)


def test_review_command_errors(tmp_path, dubbed):
    missing = CliRunner().invoke(main, ["review", str(tmp_path / "none.mp4"), "--no-browser"])
    assert missing.exit_code == 2 and "dub the video first" in missing.output
    bad = tmp_path / "bad.dub.json"
    bad.write_text("{]")
    result = CliRunner().invoke(main, ["review", str(bad), "--no-browser"])
    assert result.exit_code == 2 and "not a dub project file" in result.output
    report = tmp_path / "r.json"
    report.write_text("[1, 2]")
    result = CliRunner().invoke(main, ["review", str(report), "--no-browser"])
    assert result.exit_code == 2 and "not a dub report" in result.output
    # The report of a dub opens its project.
    assert Review(dubbed.parent / "report.json").output == dubbed


CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="chromium and chromium-driver are installed by "
                                                      "scripts/setup --test-data (as root)")
def test_the_page_in_a_real_browser(served, tmp_path):
    """Open the page, edit a line, regenerate it, play it, render; a screenshot is kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    review, base, out = served
    old_audio = decode_audio(out, RATE, 1)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                 "--autoplay-policy=no-user-gesture-required", "--mute-audio"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(DRIVER), options=options)
    wait = WebDriverWait(browser, 120)
    try:
        browser.get(f"{base}/?token={TOKEN}")
        wait.until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "yes")
        rows = browser.find_elements(By.CSS_SELECTOR, "#lines tbody tr")
        assert len(rows) == 7 and "dub review" in browser.title
        # The video has loaded the dub (its duration is the programme's).
        wait.until(lambda b: b.execute_script("return document.querySelector('#video').readyState") >= 1)
        assert browser.execute_script("return document.querySelector('#video').duration") == pytest.approx(
            review.project.report["duration"], abs=0.1)

        row = rows[5]
        box = row.find_element(By.TAG_NAME, "textarea")
        box.send_keys(Keys.CONTROL, "a")  # as a person replaces the text: select it all, type
        box.send_keys("Everything is ready for tonight.")
        row.find_element(By.CSS_SELECTOR, "button.regenerate").click()
        wait.until(lambda b: "regenerated" in b.find_element(By.ID, "message").text)
        line = call(base, "/api/dub")[1]["lines"][5]
        assert line["text"] == "Everything is ready for tonight." and line["takes"] == 1
        slot_exact(line)
        rate = browser.find_element(By.CSS_SELECTOR, '#lines tr[data-index="5"] td.rate').text
        assert rate == f"{line['speech_rate']:.2f}"  # the page shows the new rate
        # The take plays in the page (the page played it on regenerating; play it again).
        played = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "const a = new Audio(`media/line/5?token=${new URLSearchParams(location.search).get('token')}`);"
            "a.onplaying = () => done(a.duration); a.onerror = () => done(-1); a.play().catch(() => done(-2));")
        assert played == pytest.approx(line["end"] - line["start"], abs=0.01)

        browser.find_element(By.ID, "render").click()
        wait.until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-rendered") == str(out))
        # The screenshot is kept for a person to look at: DUB_TEST_ARTIFACTS names where.
        artifacts = Path(os.environ.get("DUB_TEST_ARTIFACTS") or tmp_path)
        artifacts.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(artifacts / "review.png"))
        assert (artifacts / "review.png").stat().st_size > 10_000
    finally:
        browser.quit()

    new_audio = decode_audio(out, RATE, 1)
    a, b = int(line["start"] * RATE), int(line["end"] * RATE)
    assert np.abs(new_audio[a:b] - old_audio[a:b]).max() > 0.1
    outside = np.ones(len(old_audio), bool)
    outside[a - RATE // 20: b + int(0.6 * RATE)] = False
    assert np.abs(new_audio - old_audio)[outside].max() < 0.01
    assert "Everything is ready for tonight." in (tmp_path / "out.en.srt").read_text()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["segments"][5]["text"] == "Everything is ready for tonight."
    slot_exact(report["segments"][5])


def test_emotion_of_a_line_from_your_own_subtitles(tmp_path):
    """A dub from your own subtitles, spoken by Kokoro (emotion as prosody): one line made
    angry and regenerated; the piper dub above refuses emotions."""
    subs = tmp_path / "mine.srt"
    subs.write_text("1\n00:00:01,000 --> 00:00:03,000\nJOHN: Get out of here, now.\n\n"
                    "2\n00:00:04,000 --> 00:00:06,000\nMARY: I will stay right here.\n")
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(main, [str(SAMPLE), "--lang", "en", "--srt", str(subs), "--tts", "kokoro",
                                       "--separator", "none", "-o", str(out), "--work-dir", str(tmp_path / "w"), "-q"])
    assert result.exit_code == 0, result.output
    review = Review(out)
    assert review.emotions()[:2] == ["happy", "angry"] and set(review.speakers()) == {"JOHN", "MARY"}
    with pytest.raises(ReviewError, match="unknown emotion 'furious'"):
        review.edit(0, emotion="furious")
    before = review.take(0)
    assert review.edit(0, emotion="angry")["pending"]
    angry = review.regenerate(0)
    assert angry["emotion"] == "angry" and angry["audio"] != before["audio"] and angry["takes"] == 1
    slot_exact(angry)
    calm, _ = read_wav(before["audio"])
    loud, _ = read_wav(angry["audio"])
    assert len(calm) == len(loud) and np.abs(calm - loud).max() > 0.05
    review.render()
    assert "Get out of here, now." in (tmp_path / "out.en.srt").read_text()  # speaker names kept: subtitles in
    assert "JOHN" in (tmp_path / "out.en.srt").read_text()


def test_a_backend_without_emotions_refuses_one(served):
    _, base, _ = served
    status, answer = call(base, "/api/lines/1", {"emotion": "angry"})
    assert status == 400 and "has no emotion control" in answer["error"]
