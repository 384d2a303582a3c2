"""A small client of an OpenAI-compatible chat endpoint (llama.cpp server, vLLM, Ollama,
LM Studio, OpenAI...): list its models, ask for one chat completion. It uses urllib, so
the llm translator needs no extra package; every failure is a BackendError naming the
flag that fixes it."""

from __future__ import annotations

import functools
import json
import os
import socket
import urllib.error
import urllib.request

from ..errors import BackendError

NO_URL = ("the llm translator needs an OpenAI-compatible endpoint: "
          "pass --llm-url URL (e.g. http://127.0.0.1:8080/v1)")


class ChatEndpoint:
    """The endpoint at ``url`` (its base, usually ending in /v1; a full .../chat/completions
    URL works too). ``model`` None asks for the first model it lists; ``api_key_env`` names
    the environment variable holding the API key."""

    def __init__(self, url: str | None, model: str | None = None, api_key_env: str | None = None,
                 timeout: float = 120.0):
        self.url = url
        self.wanted_model = model
        self.api_key_env = api_key_env
        self.timeout = timeout

    def endpoint(self, path: str) -> str:
        base = (self.url or "").rstrip("/")
        if base.endswith("/chat/completions"):
            base = base[: -len("/chat/completions")]
        return f"{base}/{path}"

    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        env = self.api_key_env
        if env:
            key = os.environ.get(env)
            if not key:
                raise BackendError(f"${env} is not set: export the LLM API key in it, or drop --llm-api-key-env")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def request(self, path: str, payload: dict | None = None) -> dict:
        """GET ``path`` (no payload) or POST ``payload`` to it; the answer's JSON."""
        if not self.url:
            raise BackendError(NO_URL)
        url = self.endpoint(path)
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, headers=self._headers(), method="GET" if data is None else "POST")
        timeout = self.timeout
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace").strip().replace("\n", " ")
            raise BackendError(f"the LLM at {url} answered HTTP {exc.code} {exc.reason}"
                               f"{': ' + detail if detail else ''}; check --llm-url, --llm-model and the API key") from exc
        except (TimeoutError, socket.timeout) as exc:
            raise BackendError(f"the LLM at {url} did not answer within {timeout:.0f}s: "
                               "raise the LLM timeout or use a smaller model") from exc
        except urllib.error.URLError as exc:
            # urllib wraps a timeout while connecting or sending in URLError (one while waiting is raised as is)
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise BackendError(f"the LLM at {url} did not answer within {timeout:.0f}s: "
                                   "raise the LLM timeout or use a smaller model") from exc
            raise BackendError(f"cannot reach the LLM at {url}: {exc.reason}; start the server or fix --llm-url") from exc
        except OSError as exc:
            raise BackendError(f"cannot reach the LLM at {url}: {exc}; start the server or fix --llm-url") from exc
        try:
            return json.loads(body)
        except ValueError as exc:
            raise BackendError(f"the LLM at {url} did not answer with JSON: is --llm-url an OpenAI-compatible "
                               "endpoint (usually ending in /v1)?") from exc

    @functools.cached_property
    def model(self) -> str:
        """The model asked for, else the first one the endpoint lists (asked once)."""
        if self.wanted_model:
            return self.wanted_model
        listed = self.request("models")
        models = [m.get("id") for m in listed.get("data", []) if isinstance(m, dict) and m.get("id")]
        if not models:
            raise BackendError(f"the LLM at {self.endpoint('models')} lists no model: pass --llm-model NAME")
        return models[0]

    def chat(self, system: str, user: str) -> str:
        """The answer's text to one system + user exchange, at temperature 0 (repeatable)."""
        answer = self.request("chat/completions", {
            "model": self.model, "temperature": 0,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        })
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"the LLM at {self.endpoint('chat/completions')} answered without "
                               "choices[0].message.content: is it an OpenAI-compatible chat endpoint?") from exc
        return content or ""
