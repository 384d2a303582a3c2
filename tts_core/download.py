"""Model files fetched over HTTP(S): checked, resumable, never half-written.

A download goes into ``NAME.partial`` beside its target and takes the target's name only once
its size and checksum are right, so a target that exists is always whole. The partial file's
name is fixed so that a download cut short (Ctrl-C, a dropped connection, a killed process)
is resumed with a Range request by the next call: one attempt per call, and running the same
command again is the retry.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import os
import re
import shutil
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Callable

from .errors import DownloadError, OfflineError
from .files import cache_root, sha256_file

OFFLINE_VARIABLES = ("DUB_OFFLINE", "HF_HUB_OFFLINE")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", re.IGNORECASE)


@dataclass(frozen=True)
class Remote:
    url: str                      # where the file is published
    size: int | None = None       # bytes, when known ahead (for listings and the free-space check)
    sha256: str | None = None     # pinned checksum, when the project knows it

    def __post_init__(self):
        if self.sha256 is not None:
            digest = self.sha256.strip().lower()
            if not _SHA256.fullmatch(digest):  # a typo in a pin would fail every download later
                raise ValueError(f"not a sha256 hex digest: {self.sha256!r}")
            object.__setattr__(self, "sha256", digest)


def offline() -> bool:
    """Whether DUB_OFFLINE or HF_HUB_OFFLINE (which users of the hub's tools already set) asks
    for no network."""
    return bool(_offline_variables())


def _offline_variables() -> list[str]:
    return [v for v in OFFLINE_VARIABLES if os.environ.get(v, "").strip().lower() in ("1", "true", "yes")]


def human_size(n: int | None) -> str:
    """``523 kB``, ``88.1 MB``, ``1.5 GB`` (decimal units, as disks and servers count); ``?`` unknown."""
    if n is None:
        return "?"
    if n < 1000:
        return f"{n} B"
    for unit, scale, digits in (("kB", 1e3, 0), ("MB", 1e6, 1), ("GB", 1e9, 1), ("TB", 1e12, 1)):
        text = f"{n / scale:.{digits}f}"
        if float(text) < 1000 or unit == "TB":  # 999.96 MB rounds to 1000.0: say 1.0 GB
            return f"{text} {unit}"
    raise AssertionError("unreachable")


def free_space_ok(folder: Path, need: int) -> None:
    """Raise DownloadError when ``folder``'s disk has less than ``need`` bytes free. The folder
    need not exist yet: its nearest existing parent is on the disk it will be made on."""
    probe = Path(folder).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if need > free:
        raise DownloadError(f"not enough free space in {folder}: need {human_size(need)}, {human_size(free)} free")


def user_agent() -> str:
    try:
        version = importlib.metadata.version("dub")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        version = "dev"
    return f"dub/{version}"


def fetch(remote: Remote, target: Path, *, progress: Callable[[int, int | None], None] | None = None,
          timeout: float = 30.0, chunk: int = 1 << 16) -> Path:
    """Download ``remote`` to ``target`` unless it is there already, and return ``target``.

    ``progress(done, total)`` is called as bytes arrive (``total`` None when the server does
    not say). Raises OfflineError when the host cannot be reached or offline mode is on, and
    DownloadError for an HTTP error, a download cut short (the partial file is kept for the
    next call to resume) or a file that fails its checks (nothing is kept)."""
    target = Path(target)
    if target.exists():
        return target
    host = urllib.parse.urlsplit(remote.url).hostname or remote.url
    if offline():
        names = " and ".join(_offline_variables())
        raise OfflineError(f"offline mode is on ({names}): {target.name} is not here and cannot be fetched from {host}")
    partial = target.with_name(target.name + ".partial")
    have = partial.stat().st_size if partial.is_file() else 0

    answer = _Answer.open(remote.url, have, timeout)
    if answer.status == 206 and answer.start != have:
        # Bytes from elsewhere than where the partial file ends cannot be appended; ask for the
        # whole file once (not a retry loop: this second request is the last).
        answer.close()
        have = 0
        answer = _Answer.open(remote.url, 0, timeout)
        if answer.status == 206 and answer.start != 0:
            answer.close()
            raise DownloadError(f"{host} answered bytes {answer.start}- of {remote.url} when asked for the whole file")

    expected = remote.sha256 or answer.published_sha256
    if answer.status == 416:
        # Asked for bytes past the end: the partial file may be whole already (the process that
        # wrote it stopped before renaming it); the checks below tell.
        done, total = have, answer.total
        if progress:
            progress(done, total)
    else:
        done = have if answer.status == 206 else 0  # any other answer is the whole file
        total = answer.total
        if total is None and answer.length is not None:
            total = done + answer.length
        need = total if total is not None else remote.size
        try:
            if need is not None:
                free_space_ok(target.parent, need - done)
            target.parent.mkdir(parents=True, exist_ok=True)
        except BaseException as exc:
            answer.close()
            if isinstance(exc, OSError):
                raise DownloadError(f"cannot make {target.parent}: {_reason(exc)}") from exc
            raise
        _receive(answer, partial, done, total, progress, chunk, target.name)

    _check(partial, target.name, expected, [s for s in (remote.size, total) if s is not None])
    os.replace(partial, target)
    return target


def _receive(answer: _Answer, partial: Path, done: int, total: int | None,
             progress: Callable[[int, int | None], None] | None, chunk: int, name: str) -> None:
    """Append the answer's body to ``partial`` (rewrite it when ``done`` is 0). A body cut
    short raises with the partial file kept, as far as it got."""
    stopped = None
    try:
        with answer.response as response, open(partial, "ab" if done else "wb") as out:
            if progress:
                progress(done, total)
            # read1 hands over what has arrived: a read(chunk) would wait for a whole chunk and
            # lose what it holds when the connection then drops.
            read = getattr(response, "read1", response.read)
            while True:
                try:
                    block = read(chunk)
                except (http.client.IncompleteRead, OSError) as exc:  # OSError: timeouts, resets
                    stopped = _reason(exc)
                    break
                if not block:
                    break
                try:
                    out.write(block)
                except OSError as exc:  # a full disk: what was written resumes once there is room
                    raise DownloadError(f"cannot write {partial}: {_reason(exc)}") from exc
                done += len(block)
                if progress:
                    progress(done, total)
    except OSError as exc:
        raise DownloadError(f"cannot write {partial}: {_reason(exc)}") from exc
    if stopped is None and total is not None and done < total:
        stopped = "the connection closed early"  # http.client reports a short body as its end
    if stopped is not None:
        raise DownloadError(f"download of {name} stopped at {human_size(done)} of {human_size(total)} ({stopped}); "
                            "run the same command again to resume it")


def _check(partial: Path, name: str, sha256: str | None, sizes: list[int]) -> None:
    """Delete ``partial`` and raise unless it is the file expected. A known checksum decides
    alone; without one, the size (pinned or announced) is the least that must hold."""
    if sha256 is not None:
        digest = sha256_file(partial)
        if digest != sha256:
            partial.unlink(missing_ok=True)
            raise DownloadError(f"checksum mismatch for {name}: expected {sha256[:12]}…, got {digest[:12]}…; "
                                "nothing was kept, try again")
        return
    size = partial.stat().st_size
    for expected in sizes:
        if size != expected:
            partial.unlink(missing_ok=True)
            raise DownloadError(f"size mismatch for {name}: expected {expected} bytes, got {size}; "
                                "nothing was kept, try again")


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Keeps each redirect's headers: Hugging Face publishes an LFS file's sha256 on its
    redirect to the CDN, not on the CDN's answer."""

    def __init__(self):
        self.hops: list[Message] = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.hops.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Answer:
    """A server's answer to one GET: its status, what it says of the file, and (for 200 and
    206) the open response whose body is still to be read."""

    def __init__(self, status: int, headers: Message, hops: list[Message], response=None):
        self.status, self.response = status, response
        self.length = _int(headers.get("Content-Length"))
        self.start, self.total = None, None
        match = _CONTENT_RANGE.fullmatch((headers.get("Content-Range") or "").strip())
        if match:
            self.start = _int(match[1])
            self.total = _int(match[2])
        elif status == 200:
            self.total = self.length
        self.published_sha256 = _published_sha256([headers, *reversed(hops)])

    @classmethod
    def open(cls, url: str, have: int, timeout: float) -> _Answer:
        """One request for ``url`` (from byte ``have`` on when it is not 0). Errors before the
        body are typed here: unreachable is OfflineError, an HTTP error DownloadError."""
        host = urllib.parse.urlsplit(url).hostname or url
        redirects = _Redirects()
        opener = urllib.request.build_opener(redirects)
        opener.addheaders = [("User-Agent", user_agent())]
        # identity: a compressed body would not be the file, nor the length announced for it
        headers = {"Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            request = urllib.request.Request(url, headers=headers)
        except ValueError as exc:
            raise DownloadError(f"cannot download {url!r}: {exc}") from exc
        try:
            response = opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            with exc:
                if exc.code == 416 and have:
                    return cls(416, exc.headers, redirects.hops)
                raise DownloadError(f"cannot download {url}: HTTP {exc.code} {_one_line(str(exc.reason))}") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ssl.SSLError):  # reached, but not trusted: not an offline matter
                raise DownloadError(f"secure connection to {host} failed: {_reason(reason)}") from exc
            if isinstance(reason, OSError):  # refused, unknown name, timed out, no route
                raise OfflineError(f"cannot reach {host}: {_reason(reason)}") from exc
            raise DownloadError(f"cannot download {url}: {_one_line(str(reason))}") from exc
        except OSError as exc:  # the connection opened, then no answer came (a timeout, a reset)
            raise OfflineError(f"cannot reach {host}: {_reason(exc)}") from exc
        except http.client.HTTPException as exc:
            raise DownloadError(f"cannot download {url}: {host} answered {_reason(exc)}") from exc
        return cls(response.status, response.headers, redirects.hops, response)

    def close(self) -> None:
        if self.response is not None:
            self.response.close()


def _published_sha256(headers: list[Message]) -> str | None:
    """The sha256 a server publishes: Hugging Face's ``X-Linked-Etag`` for LFS files, else an
    ``ETag`` that is 64 hex digits (a shorter one, as for Git blobs, is not a sha256)."""
    for field in ("X-Linked-Etag", "ETag"):
        for h in headers:
            value = (h.get(field) or "").strip()
            value = value[2:] if value.startswith("W/") else value
            value = value.strip('"').lower()
            if _SHA256.fullmatch(value):
                return value
    return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return _one_line(text)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# A Hugging Face repository pulled file by file (``dub models pull``) lives here; the marker
# is written last, once every file arrived and passed its check, so a folder without it is
# a pull still under way.
HUB_COMPLETE = ".complete.json"


def hub_endpoint() -> str:
    """The Hugging Face Hub's address: HF_ENDPOINT (a mirror), as the hub's own tools read it."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def hub_folder(repo: str) -> Path:
    return cache_root() / "models" / "hub" / repo.replace("/", "--")


def pulled_repo(repo: str) -> Path | None:
    folder = hub_folder(repo)
    return folder if (folder / HUB_COMPLETE).is_file() else None
