"""The review page's web server: Starlette (a small, maintained ASGI toolkit; the page needs
a few JSON routes and files with HTTP ranges so the video can seek, nothing FastAPI adds)
served by uvicorn on 127.0.0.1.

Every request carries the token printed with the address (``?token=`` or the
``X-Dub-Token`` header), so no other page in the browser can drive it; the only files it
serves are this dub's (the output, its source and the lines' takes), chosen by name or
line number, never by a path from the request.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import threading
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pipelines.errors import DubError, UserError

from .session import NotFound, Review, ReviewError

STATIC = Path(__file__).parent / "static"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def new_token() -> str:
    return secrets.token_urlsafe(18)


class _TokenCheck(BaseHTTPMiddleware):
    def __init__(self, app, token: str):
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next):
        given = request.query_params.get("token") or request.headers.get("x-dub-token") or ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return JSONResponse({"error": "this page needs the address dub review printed (with its token)"},
                                status_code=403)
        return await call_next(request)


def _error(exc: Exception) -> JSONResponse:
    if isinstance(exc, ReviewError):
        status = exc.status
    elif isinstance(exc, UserError):
        status = 400
    else:
        status = 500
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return JSONResponse({"error": text}, status_code=status)


async def _json(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise ReviewError("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise ReviewError("the request body is not a JSON object")
    return body


def _index(request: Request) -> int:
    try:
        return int(request.path_params["index"])
    except ValueError:
        raise NotFound(f"there is no line {request.path_params['index']!r}") from None


def _number(body: dict, key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ReviewError(f"{key} must be a number of seconds, not {value!r}")
    return float(value)


def create_app(review: Review, token: str) -> Starlette:
    """The page and its API over one ``Review``."""

    async def call(fn, *args, **kwargs):
        """Run an action off the event loop (synthesis takes seconds); errors as JSON."""
        try:
            return JSONResponse(await asyncio.to_thread(fn, *args, **kwargs))
        except (DubError, ValueError, OSError) as exc:
            return _error(exc)

    async def index(request: Request):
        # The page's own scripts and styles carry the token too (every request needs it).
        page = (STATIC / "index.html").read_text(encoding="utf-8")
        for asset in ("static/app.js", "static/style.css"):
            page = page.replace(f'"{asset}"', f'"{asset}?token={token}"')
        return HTMLResponse(page, headers={"cache-control": "no-store"})

    async def state(request: Request):
        return await call(review.state)

    async def waveform(request: Request):
        return await call(review.waveform)

    async def edit(request: Request):
        try:
            index, body = _index(request), await _json(request)
            unknown = set(body) - {"text", "speaker", "start", "end", "emotion"}
            if unknown:
                raise ReviewError(f"unknown field {sorted(unknown)[0]!r}: text, speaker, emotion, start or end")
            words = {k: body.get(k) for k in ("text", "speaker", "emotion")}
            if any(v is not None and not isinstance(v, str) for v in words.values()):
                raise ReviewError("text, speaker and emotion are strings")
            start, end = _number(body, "start"), _number(body, "end")
        except ReviewError as exc:
            return _error(exc)
        return await call(review.edit, index, start=start, end=end, **words)

    def line_action(action):
        """An endpoint that runs ``action(index)`` on the line the path names (regenerate, undo)."""

        async def endpoint(request: Request):
            try:
                index = _index(request)
            except ReviewError as exc:
                return _error(exc)
            return await call(action, index)

        return endpoint

    async def render(request: Request):
        try:
            body = await _json(request) if await request.body() else {}
            output = review.render_target(body.get("output"))
            review.start_render(output)
        except (DubError, ValueError) as exc:
            return _error(exc)
        return JSONResponse({"render": review.render_state}, status_code=202)

    async def media(request: Request):
        try:
            path = review.media(request.path_params["name"])
        except DubError as exc:
            return _error(exc)
        return FileResponse(path, headers={"cache-control": "no-store"})

    async def line_audio(request: Request):
        try:
            path = review.line_audio(_index(request))
        except DubError as exc:
            return _error(exc)
        return FileResponse(path, media_type="audio/wav", headers={"cache-control": "no-store"})

    routes = [
        Route("/", index),
        Route("/api/dub", state),
        Route("/api/waveform", waveform),
        Route("/api/lines/{index}", edit, methods=["POST"]),
        Route("/api/lines/{index}/regenerate", line_action(review.regenerate), methods=["POST"]),
        Route("/api/lines/{index}/undo", line_action(review.undo), methods=["POST"]),
        Route("/api/render", render, methods=["POST"]),
        Route("/media/line/{index}", line_audio),
        Route("/media/{name}", media),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    return Starlette(routes=routes, middleware=[Middleware(_TokenCheck, token=token)])


class Server:
    """uvicorn in a thread: ``start`` returns once it listens (port 0: a free one)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        self.config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> int:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise UserError(f"the review server could not listen on {self.config.host}:{self.config.port}: "
                                "choose another --port")
            self.thread.join(0.05)
        return self.server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve_forever(server: Server) -> None:
    try:
        while server.thread.is_alive():
            server.thread.join(0.5)
    except KeyboardInterrupt:
        server.stop()
