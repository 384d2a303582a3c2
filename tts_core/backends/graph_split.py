"""Cut a duration-model TTS export (VITS/Piper, Kokoro) into stages run one after another.

These exports round the predicted phoneme durations (Piper: ``Ceil``; Kokoro: ``Round``,
``Clip``, ``Cast``) and feed the whole numbers to the length regulator. Here the rounding
is removed and the graph is cut into stages:

1. text encoder + duration predictor -> the fractional durations,
2. (optional) durations -> frame-level prosody curves (Kokoro: pitch F0 and energy N),
3. -> audio.

The frame counts enter stage 2 as an input named ``durations``; where the export builds
a token-by-frame alignment from them (both exports here), that matrix enters as
``alignment`` too, so a token may last a fraction of a frame (see ``Cut.regulator``),
and ``durations`` stays an input only where something else still reads it (Piper's frame
mask). The prosody curves
enter stage 3 under their own names, so the planner (and prosody control) sit between
stages: the encoder runs once, and the expensive decoder runs once at the planned length.
Random draws (``RandomNormalLike``) become inputs too (``dp_noise`` in the first stage,
``noise`` later), so a seed makes synthesis deterministic.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..errors import ModelFileError
from ..files import atomic_path, cache_root, sha256_file, write_text_atomic

SURGERY_VERSION = "5"

# onnx and onnxruntime are imported where they are used: onnx alone takes about a second to
# import, and a model already split (the usual case) needs only onnxruntime.
if TYPE_CHECKING:
    import onnx
    import onnxruntime as ort

# The type of the durations input each backend's split takes (onnx.TensorProto's codes).
DURATIONS_TYPES = {"float": 1, "int64": 7}


@dataclass(frozen=True)
class Cut:
    """Where to cut one export: named by ``locate(model)`` on the original graph."""

    natural: str  # fractional durations (the rounding's input)
    rounded: str  # the whole-number durations the length regulator reads
    prosody: tuple[str, ...] = ()  # frame-level curves to expose between stages
    # The length regulator's (tokens x frames) alignment, built from the whole durations.
    # When named, it becomes the input ``alignment`` and everything that built it from the
    # durations is dropped: the caller may then give a token 1.6 frames (its share of the
    # frames at its edges), not only 1 or 2.
    regulator: str = ""


def _ancestors(producers: dict, targets: list[str]) -> set[int]:
    """The nodes the ``targets`` tensors are computed from."""
    nodes: set[int] = set()
    seen: set[str] = set()
    stack = list(targets)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        node = producers.get(name)
        if node is None or id(node) in nodes:
            continue
        nodes.add(id(node))
        stack.extend(x for x in node.input if x)
    return nodes


def _rewire(model: onnx.ModelProto, cut: Cut, durations_type: int) -> None:
    import onnx
    from onnx import TensorProto, helper

    """Drop the rounding and the random draws; they become graph inputs."""
    graph = model.graph
    producers = {o: n for n in graph.node for o in n.output}
    for name in (cut.natural, cut.rounded, *cut.prosody, *([cut.regulator] if cut.regulator else [])):
        if name not in producers:
            raise ModelFileError(f"not a supported export: no tensor {name!r}")
    duration_nodes = _ancestors(producers, [cut.natural])
    ranks = {value.name: len(value.type.tensor_type.shape.dim)
             for value in onnx.shape_inference.infer_shapes(model).graph.value_info}
    # The whole durations are always an input: with a regulator cut, what still reads them
    # (Piper's frame mask, which only needs their sum) keeps doing so.
    renames = {cut.rounded: "durations"}
    if cut.regulator:
        renames[cut.regulator] = "alignment"
    for node in graph.node:
        if node.op_type == "RandomNormalLike":
            renames[node.output[0]] = "dp_noise" if id(node) in duration_nodes else "noise"
    if len(renames) != len(set(renames.values())):
        raise ModelFileError("not a supported export: more than one random draw per stage")
    kept = [n for n in graph.node if n.op_type != "RandomNormalLike"]
    for node in kept:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
    # Keep what the outputs still need: the replaced part goes, and so does anything only
    # it used, while a constant it shared with the rest of the graph stays.
    live_producers = {o: n for n in kept for o in n.output}
    live = _ancestors(live_producers, [cut.natural, *cut.prosody, *(o.name for o in graph.output)])
    kept = [n for n in kept if id(n) in live]
    del graph.node[:]
    graph.node.extend(kept)
    read = {name for node in kept for name in node.input}
    noises = sorted(v for v in renames.values() if v not in ("durations", "alignment"))
    graph.input.extend(helper.make_tensor_value_info(n, TensorProto.FLOAT, [None] * 3) for n in noises)
    if "durations" in read:
        graph.input.append(helper.make_tensor_value_info("durations", durations_type, [None] * ranks.get(cut.rounded, 3)))
    if cut.regulator:
        graph.input.append(helper.make_tensor_value_info("alignment", TensorProto.FLOAT, [None] * ranks.get(cut.regulator, 3)))


def _stages(model: onnx.ModelProto, cut: Cut, durations_type: int) -> list[onnx.ModelProto]:
    import onnx

    _rewire(model, cut, durations_type)
    model = onnx.shape_inference.infer_shapes(model)
    graph = model.graph
    producers = {o: n for n in graph.node for o in n.output}
    initializers = {i.name for i in graph.initializer}
    graph_inputs = [i.name for i in graph.input]
    output = graph.output[0].name
    targets = [[cut.natural], *([list(cut.prosody)] if cut.prosody else []), [output]]

    owner: dict[int, int] = {}  # node -> stage index
    for index, names in enumerate(targets):
        for node_id in _ancestors(producers, names):
            owner.setdefault(node_id, index)
    by_id = {id(n): n for n in graph.node}
    stage_inputs: list[list[str]] = [[] for _ in targets]
    stage_outputs: list[list[str]] = [list(t) for t in targets]
    for node_id, index in owner.items():
        for name in by_id[node_id].input:
            if not name or name in initializers or name in stage_inputs[index]:
                continue
            producer = producers.get(name)
            if producer is None:  # a graph input (original, durations or noise)
                stage_inputs[index].append(name)
            elif owner[id(producer)] != index:
                stage_inputs[index].append(name)
                source = owner[id(producer)]
                if name not in stage_outputs[source]:
                    stage_outputs[source].append(name)
    for index in range(len(targets)):
        stage_inputs[index].sort(key=lambda n: (n not in graph_inputs, n))
    if not {"durations", "alignment"} & set(stage_inputs[-1]):
        raise ModelFileError("not a supported export: the durations do not reach the decoder")
    extractor = onnx.utils.Extractor(model)
    return [extractor.extract_model(ins, outs) for ins, outs in zip(stage_inputs, stage_outputs)]


@dataclass(frozen=True)
class StagedModel:
    """ONNX sessions run in order; every tensor a stage produces is kept for later stages."""

    sessions: tuple[ort.InferenceSession, ...]
    natural: str
    prosody: tuple[str, ...]

    def run_stage(self, index: int, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self.sessions[index]
        feeds = {i.name: values[i.name] for i in session.get_inputs()}
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(None, feeds)))


def split_model(model_path: str | Path, locate: Callable[[onnx.ModelProto], Cut], durations: str, kind: str,
                providers: list[str], threads: int = 0) -> StagedModel:
    """Split once per distinct model file (cached by its SHA-256) and load the stages.
    ``durations``: the type of the durations input ("float" or "int64", per DURATIONS_TYPES)."""
    import onnxruntime as ort

    model_path = Path(model_path)
    digest = sha256_file(model_path)[:16]
    folder = cache_root() / "models" / f"{kind}-split" / f"{digest}-v{SURGERY_VERSION}"
    manifest = folder / "stages.json"
    if not manifest.is_file():
        import onnx

        try:
            model = onnx.load(str(model_path))
        except Exception as exc:  # onnx raises DecodeError and others for a bad file
            raise ModelFileError(f"cannot read {kind} model {model_path}: {exc}") from exc
        cut = locate(model)
        parts = _stages(model, cut, DURATIONS_TYPES[durations])
        for i, part in enumerate(parts):
            with atomic_path(folder / f"stage{i}.onnx") as tmp:
                onnx.save(part, str(tmp))
        write_text_atomic(manifest, json.dumps({"stages": len(parts), "natural": cut.natural,
                                                "prosody": list(cut.prosody)}))
    info = json.loads(manifest.read_text())
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    sessions = tuple(
        ort.InferenceSession(str(folder / f"stage{i}.onnx"), options, providers=providers) for i in range(info["stages"])
    )
    return StagedModel(sessions=sessions, natural=info["natural"], prosody=tuple(info["prosody"]))


def locate_ceil(model: onnx.ModelProto) -> Cut:
    """Piper: one ``Ceil`` rounds the durations up; its input is the natural length. VITS
    builds the alignment from their running sum (``CumSum``): a mask per token, and each
    mask minus the one before it (the first ``Sub`` after the sum) is the (1, tokens,
    frames) path, the regulator."""
    ceils = [n for n in model.graph.node if n.op_type == "Ceil"]
    if len(ceils) != 1:
        raise ModelFileError(f"not a Piper VITS export: expected one Ceil node, found {len(ceils)}")
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    sums = [n for n in consumers.get(ceils[0].output[0], []) if n.op_type == "CumSum"]
    queue = deque(o for n in sums for o in n.output)  # first in, first out: the nearest Sub wins
    seen: set[int] = set()
    while queue:
        for node in consumers.get(queue.popleft(), []):
            if id(node) in seen:
                continue
            seen.add(id(node))
            if node.op_type == "Sub":
                return Cut(natural=ceils[0].input[0], rounded=ceils[0].output[0], regulator=node.output[0])
            queue.extend(node.output)
    raise ModelFileError("not a Piper VITS export: no alignment path after the durations' running sum")


def locate_kokoro(model: onnx.ModelProto) -> Cut:
    """Kokoro: ``/encoder/Div`` gives the natural durations, ``/encoder/Cast`` the whole
    ones; the predicted pitch (F0) and energy (N) curves leave the predictor squeezed."""
    return Cut(natural="/encoder/Div_output_0", rounded="/encoder/Cast_output_0",
               prosody=("/encoder/Squeeze_output_0", "/encoder/Squeeze_1_output_0"),
               regulator="/encoder/Cast_4_output_0")
