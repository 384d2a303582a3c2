"""Where IndexTTS-2's files are: a local folder laid out like the official release, or the
hub names the official code downloads.

The release folder (``IndexTeam/IndexTTS-2``) holds the project's own weights; four
auxiliary models come from their own hub repositories and live under ``hf_cache/``, the
flat layout the official code downloads them into. A file missing from the folder is
looked for in the user's hub cache, then downloaded when ``huggingface_hub`` is installed
and the machine is online. Whatever is still missing is named in one error, with where to
get it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from ...errors import ModelFileError

HUB_REPO = "IndexTeam/IndexTTS-2"
NAMES = ("indextts2", "indextts-2", HUB_REPO)  # what `--tts-model` / from_pretrained accept as the hub copy

# (key, repo on the hub, file in that repo, where the official code keeps it under the folder)
AUXILIARY = (
    ("w2v_bert", "facebook/w2v-bert-2.0", None, "hf_cache/w2v-bert-2.0"),
    ("semantic_codec", "amphion/MaskGCT", "semantic_codec/model.safetensors", "hf_cache/semantic_codec_model.safetensors"),
    ("campplus", "funasr/campplus", "campplus_cn_common.bin", "hf_cache/campplus_cn_common.bin"),
    ("bigvgan", "nvidia/bigvgan_v2_22khz_80band_256x", None, "hf_cache/bigvgan"),
)
# Files of the auxiliary folders that must be there (a partly copied folder is missing ones).
FOLDER_FILES = {
    "w2v_bert": ("config.json", "preprocessor_config.json", "model.safetensors"),
    "bigvgan": ("config.json", "bigvgan_generator.pt"),
}


@dataclass(frozen=True)
class Layout:
    """Every file the backend reads, resolved to a local path."""

    root: Path
    config: dict
    gpt: Path
    s2mel: Path
    bpe: Path
    w2v_stats: Path
    emo_matrix: Path
    spk_matrix: Path
    qwen_emo: Path  # a folder; only needed for emotion from text
    w2v_bert: Path  # a folder (SeamlessM4T extractor + Wav2Vec2BertModel)
    semantic_codec: Path
    campplus: Path
    bigvgan: Path  # a folder: config.json + bigvgan_generator.pt


def resolve(source: str | Path | None, *, download: bool = True) -> Layout:
    """``source``: a folder like the official release, or None / a hub name for the
    release downloaded once (needs network and ``huggingface_hub``)."""
    if source is None or str(source) in NAMES:
        root = _download_release() if download else None
        if root is None:
            raise ModelFileError(
                f"IndexTTS-2 weights not found: run `dub models pull indextts2` when online (about 5.9 GB), "
                f"or download {HUB_REPO} from the model hub and pass the folder"
            )
    else:
        root = Path(source).expanduser()
        if not root.is_dir():
            raise ModelFileError(
                f"IndexTTS-2 folder not found: {root} (a copy of {HUB_REPO} from the model hub)"
            )
    config_path = root / "config.yaml"
    if not config_path.is_file():
        raise ModelFileError(f"{config_path} is missing: copy config.yaml from {HUB_REPO} into {root}")
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{config_path} is not a readable YAML file ({exc.__class__.__name__})") from None
    if not isinstance(config, dict) or "gpt" not in config or "s2mel" not in config:
        raise ModelFileError(f"{config_path} is not an IndexTTS-2 config (no gpt / s2mel sections)")

    missing: list[str] = []

    def own(name: str, folder: bool = False) -> Path:
        path = root / name
        if not (path.is_dir() if folder else path.is_file()):
            missing.append(f"{name} (from {HUB_REPO})")
        return path

    paths = {
        "gpt": own(config.get("gpt_checkpoint", "gpt.pth")),
        "s2mel": own(config.get("s2mel_checkpoint", "s2mel.pth")),
        "bpe": own(config.get("dataset", {}).get("bpe_model", "bpe.model")),
        "w2v_stats": own(config.get("w2v_stat", "wav2vec2bert_stats.pt")),
        "emo_matrix": own(config.get("emo_matrix", "feat2.pt")),
        "spk_matrix": own(config.get("spk_matrix", "feat1.pt")),
        # Only emotion from text needs it: checked when it is used, not here.
        "qwen_emo": root / config.get("qwen_emo_path", "qwen0.6bemo4-merge/").rstrip("/"),
    }
    for key, repo, remote, local in AUXILIARY:
        path = _auxiliary(root, key, repo, remote, local, download)
        if path is None:
            what = f"{remote} of {repo}" if remote else f"a snapshot of {repo}"
            missing.append(f"{local} ({what})")
            path = root / local
        paths[key] = path
    if missing:
        raise ModelFileError(f"IndexTTS-2 files missing in {root}: " + "; ".join(missing))
    return Layout(root=root, config=config, **paths)


def _auxiliary(root: Path, key: str, repo: str, remote: str | None, local: str, download: bool) -> Path | None:
    """The folder's own copy, else the hub cache's, else a download; None when none works."""
    path = root / local
    if _complete(key, path):
        return path
    cached = _from_hub(repo, remote, key, local_only=True)
    if cached is not None:
        return cached
    return _from_hub(repo, remote, key, local_only=False) if download else None


def _complete(key: str, path: Path) -> bool:
    if key in FOLDER_FILES:
        return path.is_dir() and all((path / f).is_file() for f in FOLDER_FILES[key])
    return path.is_file()


def _from_hub(repo: str, remote: str | None, key: str, *, local_only: bool) -> Path | None:
    try:
        import huggingface_hub
    except ImportError:
        return None
    try:
        if remote is None:
            folder = Path(huggingface_hub.snapshot_download(repo, local_files_only=local_only))
            return folder if _complete(key, folder) else None
        return Path(huggingface_hub.hf_hub_download(repo, remote, local_files_only=local_only))
    except Exception:  # offline, not cached, or refused: the caller names the file
        return None


def _download_release() -> Path | None:
    """The release folder `dub models pull indextts2` fetched, else from the hub cache,
    downloading it when online."""
    from ...download import pulled_repo

    if (pulled := pulled_repo(HUB_REPO)) is not None:
        return pulled
    for local_only in (True, False):
        if not local_only and os.environ.get("HF_HUB_OFFLINE"):
            break
        try:
            import huggingface_hub

            return Path(huggingface_hub.snapshot_download(HUB_REPO, local_files_only=local_only))
        except Exception:
            continue
    return None
