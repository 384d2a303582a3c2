"""tts_core.download.fetch against a real HTTP server on 127.0.0.1: whole files only, resumed
after a cut, checked against pinned and published checksums, typed errors when offline."""

import hashlib
import random
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tts_core.download import DownloadError, OfflineError, Remote, fetch, free_space_ok, human_size, offline
from tts_core.errors import ModelFileError

FILES = {"model.bin": random.Random(7).randbytes(300_000), "small.json": b'{"voice": "test"}'}
SHA = {name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()}
WRONG = "0" * 64


@dataclass
class Switches:
    """What the handler does, set by each test; ``requests`` is what it was asked."""
    etag: str | None = None          # published as X-Linked-Etag by /files/, and by /moved/'s redirect
    ignore_range: bool = False       # answer 200 with the whole file
    range_from_zero: bool = False    # answer a Range with 206 bytes 0- (not where asked)
    cut_after: int | None = None     # once: announce the whole length, send this many bytes, close
    stall_after: int | None = None   # once: send this many bytes, then nothing until released
    missing: bool = False            # answer 404
    release: threading.Event = field(default_factory=threading.Event)
    requests: list = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        s: Switches = self.server.switches
        s.requests.append((self.path, dict(self.headers)))
        name = self.path.rsplit("/", 1)[-1]
        if s.missing or name not in FILES:
            self.send_error(404)
            return
        if self.path.startswith("/moved/"):  # as Hugging Face does: the sha256 on the redirect only
            self.send_response(302)
            self.send_header("Location", f"/cdn/{name}")  # which publishes no sha256
            if s.etag:
                self.send_header("X-Linked-Etag", f'"{s.etag}"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = FILES[name]
        start, wanted = 0, re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if wanted and not s.ignore_range:
            start = 0 if s.range_from_zero else int(wanted[1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:]
        self.send_response(206 if wanted and not s.ignore_range else 200)
        if wanted and not s.ignore_range:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        if s.etag and self.path.startswith("/files/"):
            self.send_header("X-Linked-Etag", f'"{s.etag}"')
        self.end_headers()
        if s.cut_after is not None:
            self.wfile.write(body[:s.cut_after])
            s.cut_after = None  # the connection closes when the handler returns
            return
        if s.stall_after is not None:
            self.wfile.write(body[:s.stall_after])
            self.wfile.flush()
            s.stall_after = None
            s.release.wait(5)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.switches = Switches()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.switches.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def _online(monkeypatch):
    """The machine's own offline switches and proxies must not decide these tests."""
    for name in ("DUB_OFFLINE", "HF_HUB_OFFLINE", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def url(httpd, name="model.bin", folder="files"):
    return f"http://127.0.0.1:{httpd.server_address[1]}/{folder}/{name}"


def ranges(httpd):
    return [headers.get("Range") for _, headers in httpd.switches.requests]


def test_a_complete_download_is_the_file_and_nothing_else(server, tmp_path):
    target = tmp_path / "models" / "model.bin"  # the folder is made
    seen = []
    assert fetch(Remote(url(server)), target, progress=lambda done, total: seen.append((done, total))) == target
    assert target.read_bytes() == FILES["model.bin"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.bin"]  # no .partial left
    assert seen[0] == (0, 300_000) and seen[-1] == (300_000, 300_000)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    (_, headers), = server.switches.requests
    assert headers["User-Agent"] == "dub/0.1.0" and "Range" not in headers


def test_an_interrupted_download_is_kept_and_resumed(server, tmp_path):
    target = tmp_path / "model.bin"
    partial = tmp_path / "model.bin.partial"
    server.switches.cut_after = 100_000
    with pytest.raises(DownloadError) as err:
        fetch(Remote(url(server)), target)
    message = str(err.value)
    assert "\n" not in message and "stopped at 100 kB of 300 kB" in message and "again" in message
    assert not target.exists() and partial.read_bytes() == FILES["model.bin"][:100_000]

    seen = []
    fetch(Remote(url(server), sha256=SHA["model.bin"]), target, progress=lambda *a: seen.append(a))
    assert ranges(server) == [None, "bytes=100000-"]
    assert seen[0] == (100_000, 300_000) and seen[-1] == (300_000, 300_000)
    assert target.read_bytes() == FILES["model.bin"] and not partial.exists()


def test_a_connection_that_stalls_is_a_stop_to_resume(server, tmp_path):
    target = tmp_path / "model.bin"
    server.switches.stall_after = 50_000
    with pytest.raises(DownloadError, match="stopped at 50 kB of 300 kB"):
        fetch(Remote(url(server)), target, timeout=0.3)
    assert (tmp_path / "model.bin.partial").stat().st_size == 50_000 and not target.exists()
    server.switches.release.set()
    fetch(Remote(url(server)), target)
    assert target.read_bytes() == FILES["model.bin"] and ranges(server)[-1] == "bytes=50000-"


def test_a_server_that_ignores_the_range_sends_the_whole_file_again(server, tmp_path):
    target = tmp_path / "model.bin"
    (tmp_path / "model.bin.partial").write_bytes(b"x" * 1000)  # wrong bytes: must not stay in front
    server.switches.ignore_range = True
    fetch(Remote(url(server)), target)
    assert ranges(server) == ["bytes=1000-"]
    assert target.read_bytes() == FILES["model.bin"] and list(tmp_path.iterdir()) == [target]


def test_a_range_answered_from_elsewhere_starts_over(server, tmp_path):
    target = tmp_path / "model.bin"
    (tmp_path / "model.bin.partial").write_bytes(FILES["model.bin"][:1000])
    server.switches.range_from_zero = True
    fetch(Remote(url(server)), target)
    assert ranges(server) == ["bytes=1000-", None]  # one more request, for the whole file
    assert target.read_bytes() == FILES["model.bin"] and list(tmp_path.iterdir()) == [target]


def test_a_whole_partial_file_is_checked_and_kept(server, tmp_path):
    """The process that wrote it stopped before the rename: the server answers 416."""
    target = tmp_path / "model.bin"
    (tmp_path / "model.bin.partial").write_bytes(FILES["model.bin"])
    fetch(Remote(url(server), sha256=SHA["model.bin"]), target)
    assert ranges(server) == ["bytes=300000-"]
    assert target.read_bytes() == FILES["model.bin"] and list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("how", ["published", "pinned", "published on the redirect"])
def test_a_checksum_mismatch_keeps_nothing(server, tmp_path, how):
    target = tmp_path / "model.bin"
    if how == "pinned":
        server.switches.etag = SHA["model.bin"]  # the pin wins over what the server says
        remote = Remote(url(server), sha256=WRONG)
    else:
        server.switches.etag = WRONG
        remote = Remote(url(server, folder="moved" if "redirect" in how else "files"))
    with pytest.raises(DownloadError) as err:
        fetch(remote, target)
    assert str(err.value) == (f"checksum mismatch for model.bin: expected 000000000000…, "
                              f"got {SHA['model.bin'][:12]}…; nothing was kept, try again")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("how", ["pinned", "published", "published on the redirect", "pinned in capitals"])
def test_a_right_checksum_passes(server, tmp_path, how):
    target = tmp_path / "model.bin"
    if how.startswith("pinned"):
        pin = SHA["model.bin"].upper() if "capitals" in how else SHA["model.bin"]
        remote = Remote(url(server), sha256=pin)
    else:
        server.switches.etag = SHA["model.bin"]
        remote = Remote(url(server, folder="moved" if "redirect" in how else "files"))
    assert fetch(remote, target).read_bytes() == FILES["model.bin"]
    assert list(tmp_path.iterdir()) == [target]


def test_without_a_checksum_the_size_is_checked(server, tmp_path):
    target = tmp_path / "small.json"
    with pytest.raises(DownloadError, match="size mismatch for small.json: expected 999 bytes, got 17"):
        fetch(Remote(url(server, "small.json"), size=999), target)
    assert list(tmp_path.iterdir()) == []
    assert fetch(Remote(url(server, "small.json"), size=17), target).read_bytes() == FILES["small.json"]


def test_a_server_that_is_down_is_offline(tmp_path):
    with socket.socket() as s:  # a port that was just free: nothing listens on it now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OfflineError) as err:
        fetch(Remote(f"http://127.0.0.1:{port}/files/model.bin"), tmp_path / "models" / "model.bin")
    assert "\n" not in str(err.value) and str(err.value).startswith("cannot reach 127.0.0.1: ")
    assert isinstance(err.value, DownloadError) and isinstance(err.value, ModelFileError)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("variable, value", [("DUB_OFFLINE", "1"), ("HF_HUB_OFFLINE", "True"), ("DUB_OFFLINE", "yes")])
def test_offline_mode_asks_no_server(server, tmp_path, monkeypatch, variable, value):
    assert not offline()
    monkeypatch.setenv(variable, value)
    assert offline()
    with pytest.raises(OfflineError, match=f"offline mode is on \\({variable}\\)"):
        fetch(Remote(url(server)), tmp_path / "model.bin")
    assert server.switches.requests == [] and list(tmp_path.iterdir()) == []
    monkeypatch.setenv(variable, "0")
    assert not offline()


def test_a_missing_file_names_the_status_and_url(server, tmp_path):
    server.switches.missing = True
    with pytest.raises(DownloadError) as err:
        fetch(Remote(url(server)), tmp_path / "model.bin")
    assert not isinstance(err.value, OfflineError)
    assert str(err.value) == f"cannot download {url(server)}: HTTP 404 Not Found"
    assert list(tmp_path.iterdir()) == []


def test_an_existing_target_is_returned_without_a_request(server, tmp_path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"already here")
    assert fetch(Remote(url(server), sha256=SHA["model.bin"]), target) == target
    assert target.read_bytes() == b"already here" and server.switches.requests == []


def test_free_space_is_checked(tmp_path):
    with pytest.raises(DownloadError, match=r"^not enough free space in .*: need [0-9.]+ TB, .* free$"):
        free_space_ok(tmp_path / "not" / "made" / "yet", 10**18)
    free_space_ok(tmp_path / "not" / "made" / "yet", 1)
    assert list(tmp_path.iterdir()) == []


def test_human_size():
    assert [human_size(n) for n in (None, 999, 523_000, 999_600, 88_123_456, 1_500_000_000)] == \
        ["?", "999 B", "523 kB", "1.0 MB", "88.1 MB", "1.5 GB"]


def test_a_malformed_pin_is_refused():
    with pytest.raises(ValueError):
        Remote("https://example.org/x", sha256="ab12")
