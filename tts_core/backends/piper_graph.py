"""Cut a Piper (VITS) ONNX voice into a duration half and a decoder half.

A Piper export rounds the duration predictor's output up with a ``Ceil`` node and feeds
the whole numbers to the length regulator. Here that node is removed: the first half
(text encoder + duration predictor) returns the fractional durations together with the
few encoder tensors the decoder needs, and the second half (flow + vocoder) takes the
frame counts as an input named ``durations``. So the encoder runs once, the planner
sits in between, and the expensive decoder runs once at the planned length.

Both random draws of the export (``RandomNormalLike``) become inputs too, so a seed
makes synthesis deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from ..errors import ModelFileError
from ..files import atomic_path, cache_root, sha256_file

SURGERY_VERSION = "1"


@dataclass(frozen=True)
class SplitModel:
    encoder: Path  # inputs: input, input_lengths, scales, dp_noise -> durations + carry
    decoder: Path  # inputs: carry..., durations, noise, scales -> output
    carry: tuple[str, ...]  # tensor names passed from the first half to the second


def _ancestors(producers: dict, targets: list[str], stop: set[str]) -> set[int]:
    nodes: set[int] = set()
    seen: set[str] = set()
    stack = list(targets)
    while stack:
        name = stack.pop()
        if name in seen or name in stop:
            continue
        seen.add(name)
        node = producers.get(name)
        if node is None or id(node) in nodes:
            continue
        nodes.add(id(node))
        stack.extend(x for x in node.input if x)
    return nodes


def _split(model: onnx.ModelProto) -> tuple[onnx.ModelProto, onnx.ModelProto, tuple[str, ...]]:
    graph = model.graph
    ceils = [n for n in graph.node if n.op_type == "Ceil"]
    if len(ceils) != 1:
        raise ModelFileError(f"not a Piper VITS export: expected one Ceil node, found {len(ceils)}")
    ceil = ceils[0]
    durations_in, rounded = ceil.input[0], ceil.output[0]
    producers = {o: n for n in graph.node for o in n.output}
    duration_nodes = _ancestors(producers, [durations_in], set())

    # Every random draw becomes an input: the one inside the duration predictor is
    # "dp_noise", the one before the flow is "noise".
    renames = {rounded: "durations"}
    for node in graph.node:
        if node.op_type == "RandomNormalLike":
            renames[node.output[0]] = "dp_noise" if id(node) in duration_nodes else "noise"
    if sorted(renames.values()) != ["dp_noise", "durations", "noise"]:
        raise ModelFileError("not a Piper VITS export: unexpected random nodes")
    kept = [n for n in graph.node if n is not ceil and n.op_type != "RandomNormalLike"]
    for node in kept:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
    del graph.node[:]
    graph.node.extend(kept)

    model = onnx.shape_inference.infer_shapes(model)
    graph = model.graph
    producers = {o: n for n in graph.node for o in n.output}
    initializers = {i.name for i in graph.initializer}
    inputs = {i.name for i in graph.input}
    first = _ancestors(producers, [durations_in], set())
    second = _ancestors(producers, [graph.output[0].name], set()) - first
    carry: list[str] = []
    for node in graph.node:
        if id(node) not in second:
            continue
        for name in node.input:
            if not name or name in initializers or name in renames.values() or name in carry:
                continue
            if name in inputs or id(producers.get(name)) in first:
                carry.append(name)

    def float_input(name: str, rank: int) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [None] * rank)

    graph.input.extend([float_input("dp_noise", 3), float_input("noise", 3), float_input("durations", 3)])
    extractor = onnx.utils.Extractor(model)
    encoder = extractor.extract_model(
        ["input", "input_lengths", "scales", "dp_noise"], [durations_in, *[c for c in carry if c not in inputs]]
    )
    decoder = extractor.extract_model([*carry, "durations", "noise"], [graph.output[0].name])
    return encoder, decoder, tuple(carry)


def split_piper(model_path: str | Path) -> SplitModel:
    """Split once per distinct voice file; later calls reuse the cached halves."""
    model_path = Path(model_path)
    digest = sha256_file(model_path)[:16]
    folder = cache_root() / "models" / "piper-split" / f"{digest}-v{SURGERY_VERSION}"
    encoder_path, decoder_path, carry_path = folder / "encoder.onnx", folder / "decoder.onnx", folder / "carry.txt"
    if not (encoder_path.exists() and decoder_path.exists() and carry_path.exists()):
        try:
            model = onnx.load(str(model_path))
        except Exception as exc:  # onnx raises DecodeError and others for a bad file
            raise ModelFileError(f"cannot read Piper voice {model_path}: {exc}") from exc
        encoder, decoder, carry = _split(model)
        with atomic_path(encoder_path) as tmp:
            onnx.save(encoder, str(tmp))
        with atomic_path(decoder_path) as tmp:
            onnx.save(decoder, str(tmp))
        with atomic_path(carry_path) as tmp:
            tmp.write_text("\n".join(carry))
    carry = tuple(carry_path.read_text().split("\n"))
    return SplitModel(encoder=encoder_path, decoder=decoder_path, carry=carry)
