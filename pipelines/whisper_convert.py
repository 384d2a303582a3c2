"""Turn a CTranslate2 Whisper model into an openai-whisper checkpoint.

The bundled base model ships only as a CTranslate2 ``model.bin``. openai-whisper runs
the same network in PyTorch, so its weights can be read back out: CTranslate2's binary
format is a short header (binary version, spec name, spec revision) followed by the
variables (name, shape, dtype, raw bytes) and the aliases, as written by
``ModelSpec._serialize`` in CTranslate2's ``python/ctranslate2/specs/model_spec.py``.

The tensors map one to one, except that CTranslate2 fuses the attention projections
(query+key+value in self-attention, key+value in cross-attention) and pads the missing
key bias with zeros; they are split again here. Half-precision and int8 weights become
float32. The result is what openai-whisper's ``torch.save`` writes:
``{"dims": {...}, "model_state_dict": {...}}``, plus ``alignment_heads`` (the
cross-attention heads used for word times, from the model's ``config.json``), a key
``whisper.load_model`` ignores.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np

from .errors import ModelError
from tts_core.files import atomic_path, cache_root

VERSION = "1"  # bump when the conversion changes, so cached checkpoints are rebuilt
CHECKPOINT_NAME = "whisper-base-openai.pt"

# Order of CTranslate2's DataType enum (include/ctranslate2/types.h).
_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


def read_ct2(path: str | Path) -> tuple[str, int, dict[str, np.ndarray]]:
    """Read a CTranslate2 ``model.bin``: (spec name, spec revision, variables).

    Aliases are resolved to the array they point at. Scalars come back as 0-d arrays."""
    path = Path(path)
    data = memoryview(path.read_bytes())
    pos = 0

    def take(n: int) -> memoryview:
        nonlocal pos
        if pos + n > len(data):
            raise ModelError(f"{path} is truncated (a CTranslate2 model.bin that ends early)")
        chunk = data[pos:pos + n]
        pos += n
        return chunk

    def number(fmt: str) -> int:
        return struct.unpack("<" + fmt, take(struct.calcsize(fmt)))[0]

    def string() -> str:
        return bytes(take(number("H"))).rstrip(b"\0").decode("utf-8")

    binary_version = number("I")
    if binary_version != 6:  # the layout read here; every Whisper conversion so far writes 6
        raise ModelError(f"{path}: unsupported CTranslate2 binary version {binary_version} (expected 6)")
    spec_name = string()
    revision = number("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(number("I")):
        name = string()
        shape = tuple(number("I") for _ in range(number("B")))
        type_id = number("B")
        nbytes = number("I")
        if type_id >= len(_DTYPES):
            raise ModelError(f"{path}: variable {name} has unknown CTranslate2 dtype {type_id}")
        raw = take(nbytes)
        dtype = _DTYPES[type_id]
        if dtype == "bfloat16":
            array = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
        variables[name] = array.reshape(shape)
    for _ in range(number("I")):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return spec_name, revision, variables


def _float(variables: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A variable as float32; int8/int16 weights are divided by their per-row scale."""
    value = variables[name]
    if value.dtype.kind in "iu":
        scale = variables.get(name + "_scale")
        if scale is None:
            raise ModelError(f"quantized variable {name} has no scale")
        value = value.astype(np.float32) / np.asarray(scale, dtype=np.float32).reshape(-1, *([1] * (value.ndim - 1)))
    return np.ascontiguousarray(value, dtype=np.float32)


def _count_layers(variables: dict[str, np.ndarray], stack: str) -> int:
    found = {int(m.group(1)) for n in variables if (m := re.match(rf"{stack}/layer_(\d+)/", n))}
    if found != set(range(len(found))):
        raise ModelError(f"the {stack} layers of the CTranslate2 model are not numbered 0..n-1")
    return len(found)


def convert(model_dir: str | Path) -> dict:
    """The openai-whisper checkpoint (float32 torch tensors) of a CTranslate2 Whisper folder."""
    import torch

    model_dir = Path(model_dir)
    spec_name, _, v = read_ct2(model_dir / "model.bin")
    if spec_name != "WhisperSpec":
        raise ModelError(f"{model_dir} holds a {spec_name or 'unnamed'} CTranslate2 model, not Whisper")
    config = {}
    if (model_dir / "config.json").is_file():
        config = json.loads((model_dir / "config.json").read_text())

    conv1 = v["encoder/conv1/weight"]
    embeddings = v["decoder/embeddings/weight"]
    dims = {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(v["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(conv1.shape[0]),
        "n_audio_head": int(v["encoder/num_heads"]) if "encoder/num_heads" in v else 8,
        "n_audio_layer": _count_layers(v, "encoder"),
        "n_vocab": int(embeddings.shape[0]),
        "n_text_ctx": int(v["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(embeddings.shape[1]),
        "n_text_head": int(v["decoder/num_heads"]) if "decoder/num_heads" in v else 8,
        "n_text_layer": _count_layers(v, "decoder"),
    }

    state: dict[str, np.ndarray] = {}

    def put(target: str, source: str) -> None:
        state[target] = _float(v, source)

    def layer_norm(target: str, source: str) -> None:
        put(f"{target}.weight", f"{source}/gamma")
        put(f"{target}.bias", f"{source}/beta")

    def linear(target: str, source: str) -> None:
        put(f"{target}.weight", f"{source}/weight")
        put(f"{target}.bias", f"{source}/bias")

    def split(targets: list[str], source: str) -> None:
        """A fused projection cut back into equal parts; the key has no bias."""
        weights = np.split(_float(v, f"{source}/weight"), len(targets), axis=0)
        biases = np.split(_float(v, f"{source}/bias"), len(targets), axis=0)
        for target, w, b in zip(targets, weights, biases):
            state[f"{target}.weight"] = w
            if not target.endswith(".key"):
                state[f"{target}.bias"] = b
            # A key bias adds the same amount to every score of a query: softmax drops it.

    def block(target: str, source: str, cross: bool) -> None:
        split([f"{target}.attn.query", f"{target}.attn.key", f"{target}.attn.value"], f"{source}/self_attention/linear_0")
        linear(f"{target}.attn.out", f"{source}/self_attention/linear_1")
        layer_norm(f"{target}.attn_ln", f"{source}/self_attention/layer_norm")
        if cross:
            linear(f"{target}.cross_attn.query", f"{source}/attention/linear_0")
            split([f"{target}.cross_attn.key", f"{target}.cross_attn.value"], f"{source}/attention/linear_1")
            linear(f"{target}.cross_attn.out", f"{source}/attention/linear_2")
            layer_norm(f"{target}.cross_attn_ln", f"{source}/attention/layer_norm")
        linear(f"{target}.mlp.0", f"{source}/ffn/linear_0")
        linear(f"{target}.mlp.2", f"{source}/ffn/linear_1")
        layer_norm(f"{target}.mlp_ln", f"{source}/ffn/layer_norm")

    try:
        linear("encoder.conv1", "encoder/conv1")
        linear("encoder.conv2", "encoder/conv2")
        for i in range(dims["n_audio_layer"]):
            block(f"encoder.blocks.{i}", f"encoder/layer_{i}", cross=False)
        layer_norm("encoder.ln_post", "encoder/layer_norm")
        put("decoder.token_embedding.weight", "decoder/embeddings/weight")
        put("decoder.positional_embedding", "decoder/position_encodings/encodings")
        for i in range(dims["n_text_layer"]):
            block(f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
        layer_norm("decoder.ln", "decoder/layer_norm")
    except KeyError as exc:
        raise ModelError(f"{model_dir}: the CTranslate2 Whisper model lacks variable {exc}") from exc

    projection = v.get("decoder/projection/weight")
    if projection is not None and projection is not embeddings and not np.array_equal(projection, embeddings):
        raise ModelError(f"{model_dir}: the output projection is not tied to the token embedding, "
                         "which openai-whisper's Whisper requires")

    # openai-whisper's encoder positions are fixed sinusoids (a buffer); recompute them in
    # full precision rather than keep CTranslate2's rounded copy, after checking they agree.
    from whisper.model import sinusoids

    audio_positions = sinusoids(dims["n_audio_ctx"], dims["n_audio_state"])
    stored = _float(v, "encoder/position_encodings/encodings")
    if float(np.abs(stored - audio_positions.numpy()).max()) > 1e-2:
        raise ModelError(f"{model_dir}: the encoder position encodings are not Whisper's sinusoids")

    model_state = {k: torch.from_numpy(a.copy()) for k, a in state.items()}
    model_state["encoder.positional_embedding"] = audio_positions.float()
    checkpoint = {"dims": dims, "model_state_dict": model_state}
    heads = config.get("alignment_heads")
    if heads:
        checkpoint["alignment_heads"] = [[int(layer), int(head)] for layer, head in heads]
    return checkpoint


def build_model(checkpoint: dict, device: str = "cpu"):
    """A ``whisper.model.Whisper`` from a checkpoint, loaded strictly, with its alignment heads."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(**checkpoint["dims"])
    model = Whisper(dims)
    model.load_state_dict(checkpoint["model_state_dict"], strict=True)
    heads = checkpoint.get("alignment_heads")
    if heads:
        mask = torch.zeros(dims.n_text_layer, dims.n_text_head, dtype=torch.bool)
        for layer, head in heads:
            mask[layer, head] = True
        model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    return model.to(device)


def _stamp_for(source: Path) -> dict:
    st = (source / "model.bin").stat()
    return {"version": VERSION, "source_size": st.st_size, "source_mtime": st.st_mtime_ns}


def bundled_checkpoint() -> Path | None:
    """The converted bundled base model (``cache_root()/models/whisper-base-openai.pt``),
    converted on first use; None when the bundled model packages are not installed."""
    from . import whisper_model

    source = whisper_model.bundled_base()
    if source is None:
        return None
    target = cache_root() / "models" / CHECKPOINT_NAME
    stamp_file = target.with_suffix(".json")
    stamp = _stamp_for(source)
    if target.is_file() and stamp_file.is_file():
        try:
            if json.loads(stamp_file.read_text()) == {**stamp, "size": target.stat().st_size}:
                return target
        except ValueError:
            pass
    convert_to(source, target)
    stamp_file.write_text(json.dumps({**stamp, "size": target.stat().st_size}))
    return target


def convert_to(model_dir: str | Path, target: str | Path) -> Path:
    """Convert a CTranslate2 Whisper folder and write the checkpoint atomically."""
    import torch

    checkpoint = convert(model_dir)
    build_model(checkpoint)  # refuse to write weights openai-whisper would not load
    with atomic_path(target, suffix=".pt") as tmp:
        torch.save(checkpoint, tmp)
    return Path(target)
