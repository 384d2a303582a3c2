"""Cut a duration-model TTS export (VITS/Piper, Kokoro) into a text half and a decoder half.

These exports round the predicted phoneme durations (Piper: ``Ceil``; Kokoro: ``Round``,
``Clip``, ``Cast``) and feed the whole numbers to the length regulator. Here the rounding
is removed: the first half (text encoder + duration predictor) returns the fractional
durations together with the few encoder tensors the decoder needs, and the second half
takes the frame counts as an input named ``durations``. So the encoder runs once, the
planner sits in between, and the expensive decoder runs once, at the planned length.

Random draws (``RandomNormalLike``) become inputs too (``dp_noise`` in the first half,
``noise`` in the second), so a seed makes synthesis deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import onnx
from onnx import TensorProto, helper

from ..errors import ModelFileError
from ..files import atomic_path, cache_root, sha256_file

SURGERY_VERSION = "2"


@dataclass(frozen=True)
class SplitModel:
    encoder: Path  # the model's inputs (+ dp_noise) -> fractional durations + carry
    decoder: Path  # carry..., durations (+ noise) -> audio
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


def _split(model: onnx.ModelProto, natural: str, rounded: str, durations_type: int
           ) -> tuple[onnx.ModelProto, onnx.ModelProto, tuple[str, ...]]:
    graph = model.graph
    producers = {o: n for n in graph.node for o in n.output}
    if natural not in producers or rounded not in producers:
        raise ModelFileError(f"not a supported export: no tensor {natural!r} or {rounded!r}")
    durations_in = natural
    duration_nodes = _ancestors(producers, [durations_in], set())
    rounding = _ancestors(producers, [rounded], {natural})  # the nodes that round

    # Every random draw becomes an input: the one inside the duration predictor is
    # "dp_noise", the one before the flow is "noise".
    renames = {rounded: "durations"}
    for node in graph.node:
        if node.op_type == "RandomNormalLike":
            renames[node.output[0]] = "dp_noise" if id(node) in duration_nodes else "noise"
    if len(renames) != len(set(renames.values())):
        raise ModelFileError("not a supported export: more than one random draw per half")
    kept = [n for n in graph.node if id(n) not in rounding and n.op_type != "RandomNormalLike"]
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

    rank = len(next(v for v in list(graph.value_info) + list(graph.output) if v.name == rounded).type.tensor_type.shape.dim)
    noises = sorted(n for n in renames.values() if n != "durations")
    graph.input.extend([float_input(n, 3) for n in noises])
    graph.input.append(helper.make_tensor_value_info("durations", durations_type, [None] * rank))
    extractor = onnx.utils.Extractor(model)
    originals = [i.name for i in graph.input if i.name in inputs and i.name not in noises and i.name != "durations"]
    encoder = extractor.extract_model(
        [*originals, *(["dp_noise"] if "dp_noise" in noises else [])],
        [durations_in, *[c for c in carry if c not in inputs]],
    )
    decoder = extractor.extract_model(
        [*carry, "durations", *(["noise"] if "noise" in noises else [])], [graph.output[0].name]
    )
    return encoder, decoder, tuple(carry)


def split_model(model_path: str | Path, locate: Callable[[onnx.ModelProto], tuple[str, str]], durations_type: int,
                kind: str) -> SplitModel:
    """Split once per distinct model file; later calls reuse the cached halves.

    ``locate`` names the tensor of fractional durations and the whole-number tensor the
    length regulator reads (replaced by the ``durations`` input)."""
    model_path = Path(model_path)
    digest = sha256_file(model_path)[:16]
    folder = cache_root() / "models" / f"{kind}-split" / f"{digest}-v{SURGERY_VERSION}"
    encoder_path, decoder_path, carry_path = folder / "encoder.onnx", folder / "decoder.onnx", folder / "carry.txt"
    if not (encoder_path.exists() and decoder_path.exists() and carry_path.exists()):
        try:
            model = onnx.load(str(model_path))
        except Exception as exc:  # onnx raises DecodeError and others for a bad file
            raise ModelFileError(f"cannot read {kind} model {model_path}: {exc}") from exc
        natural, rounded = locate(model)
        encoder, decoder, carry = _split(model, natural, rounded, durations_type)
        with atomic_path(encoder_path) as tmp:
            onnx.save(encoder, str(tmp))
        with atomic_path(decoder_path) as tmp:
            onnx.save(decoder, str(tmp))
        with atomic_path(carry_path) as tmp:
            tmp.write_text("\n".join(carry))
    carry = tuple(carry_path.read_text().split("\n"))
    return SplitModel(encoder=encoder_path, decoder=decoder_path, carry=carry)



def locate_ceil(model: onnx.ModelProto) -> tuple[str, str]:
    """Piper: one ``Ceil`` rounds the durations up; its input is the natural length."""
    ceils = [n for n in model.graph.node if n.op_type == "Ceil"]
    if len(ceils) != 1:
        raise ModelFileError(f"not a Piper VITS export: expected one Ceil node, found {len(ceils)}")
    return ceils[0].input[0], ceils[0].output[0]


def locate_kokoro(model: onnx.ModelProto) -> tuple[str, str]:
    """Kokoro: ``/encoder/Div`` gives the natural durations, ``/encoder/Cast`` the whole ones."""
    return "/encoder/Div_output_0", "/encoder/Cast_output_0"
