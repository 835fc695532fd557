"""Ways to run one training step faster on a GPU, each giving the eager step's loss and gradients.

A full-width GCFLNet step (batch 16, 256x256, bf16) took 53.5 ms on an H200: 1.5 % of its matmul rate.
The step is bound by the launches of many small kernels, so the candidates attack the launches:

    eager            the plain step: autocast forward, deep-supervision SoftIoU, backward, AdamW
    compile          ``torch.compile(model)``: inductor fuses the small element-wise ops of EEM, GLFI and MSIC
    reduce-overhead  ``torch.compile(model, mode="reduce-overhead")``: fusion plus inductor's own CUDA graphs
                     of the forward and the backward (the optimizer stays eager)
    graph            one ``torch.cuda.CUDAGraph`` of the whole step - forward, SoftIoU, backward and the
                     fused AdamW - replayed with one launch per step (eager kernels)
    compile-graph    the same whole-step graph around the compiled model (fused kernels, one launch)

``graph`` and ``compile-graph`` need static shapes; the device-resident pipeline fixes crop and batch.
They copy each batch into static input buffers, replay, and return the loss the graph wrote. Before the
capture a few warm-up steps run (cudnn and the allocator settle, lazy optimizer state appears); every
weight, buffer and optimizer-state tensor is saved first and written back in place afterwards, so the
run's trajectory is the eager one: the first real step starts from the same weights and fresh moments.

On a CPU the graph paths cannot capture. :class:`GraphStep` then runs its step body eagerly on the same
static buffers, warm-up and restore included, so everything but ``torch.cuda.graph`` itself is tested
on the CPU (``tests/test_speed_paths.py``). The learning rate becomes a 0-d tensor on the device: a
captured AdamW reads it from memory, and ``LambdaLR`` updates such a tensor in place (``fill_``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from gcflnet_lib.losses import deep_supervision_loss

PATHS = ("eager", "compile", "reduce-overhead", "graph", "compile-graph")
GRAPH_PATHS = ("graph", "compile-graph")
_COMPILE_MODES = {"compile": "default", "reduce-overhead": "reduce-overhead", "compile-graph": "default"}


def compile_mode(path: str) -> str | None:
    """The ``torch.compile`` mode a path compiles the model with, or None (``eager``, ``graph``)."""
    check_path(path)
    return _COMPILE_MODES.get(path)


def uses_graph(path: str) -> bool:
    """Whether the path captures the whole step in one ``torch.cuda.CUDAGraph``."""
    check_path(path)
    return path in GRAPH_PATHS


def check_path(path: str) -> str:
    if path not in PATHS:
        raise ValueError(f"unknown speed path {path!r}; known: {', '.join(PATHS)}")
    return path


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``"TypeName: first line of the message"``, at most ``limit`` characters (for one-line reports)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:limit]


# ------------------------------------------------------------------------------------------------
# The step itself (shared by every path).


@dataclass(frozen=True)
class Precision:
    """Autocast settings of a step: ``dtype`` None is fp32 (no autocast)."""

    device_type: str
    dtype: torch.dtype | None = None

    def autocast(self):
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)


def step_body(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, precision: Precision) -> Tensor:
    """One training step: gradients set (not accumulated) from this batch's loss, then the optimizer step.

    ``zero_grad(set_to_none=True)`` comes first, so under a CUDA-graph capture the backward allocates the
    gradients inside the graph and each replay overwrites them, as an eager step does. Returns the loss.
    """
    optimizer.zero_grad(set_to_none=True)
    with precision.autocast():
        outputs = model(x)
    loss = deep_supervision_loss(outputs, y)  # outside autocast: the SoftIoU sums are taken in float32
    loss.backward()
    optimizer.step()
    return loss.detach()


# ------------------------------------------------------------------------------------------------
# Saving and writing back the training state around the warm-up steps.


@dataclass
class StateSnapshot:
    """Clones of a model's parameters and buffers and of its optimizer's state tensors."""

    tensors: dict[str, Tensor]
    optimizer_keys: set[tuple[int, str]]


def _state_tensors(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Tensor]:
    """Every tensor a training step changes, by a stable name (the live tensors, not copies)."""
    tensors = {f"param:{name}": p for name, p in model.named_parameters()}
    tensors.update({f"buffer:{name}": b for name, b in model.named_buffers()})
    index = {id(p): i for i, p in enumerate(p for group in optimizer.param_groups for p in group["params"])}
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, Tensor):
                tensors[f"optim:{index[id(param)]}:{key}"] = value
    return tensors


def snapshot_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> StateSnapshot:
    """Copies of everything ``restore_state`` writes back."""
    with torch.no_grad():
        tensors = {name: t.detach().clone() for name, t in _state_tensors(model, optimizer).items()}
    return StateSnapshot(tensors, {(int(n.split(":")[1]), n.split(":")[2]) for n in tensors if n.startswith("optim:")})


def restore_state(model: nn.Module, optimizer: torch.optim.Optimizer, snapshot: StateSnapshot) -> None:
    """Write the snapshot back into the same tensors (in place: a captured graph keeps their addresses).

    Optimizer state created after the snapshot (AdamW's moments and step count, made lazily by the first
    step) is zeroed, which is exactly the state a fresh AdamW starts from.
    """
    with torch.no_grad():
        for name, live in _state_tensors(model, optimizer).items():
            saved = snapshot.tensors.get(name)
            if saved is not None:
                live.copy_(saved)
            elif name.startswith("optim:"):
                live.zero_()
            else:
                raise RuntimeError(f"{name}: appeared after the snapshot; cannot restore it")


def tensor_learning_rates(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Hold each group's lr as a 0-d float32 tensor on ``device`` (a captured step reads it from there)."""
    for group in optimizer.param_groups:
        if not isinstance(group["lr"], Tensor):
            group["lr"] = torch.tensor(float(group["lr"]), dtype=torch.float32, device=device)


def plain_optimizer_state(state: dict[str, Any]) -> dict[str, Any]:
    """An optimizer ``state_dict`` as the eager step keeps it: tensor hyperparameters (a graph path's lr)
    as plain floats and ``capturable`` off, so a checkpoint resumes along any path."""
    groups = [{k: (float(v) if isinstance(v, Tensor) and v.dim() == 0 else v) for k, v in g.items()}
              for g in state["param_groups"]]
    for group in groups:
        if "capturable" in group:
            group["capturable"] = False
    return {**state, "param_groups": groups}


# ------------------------------------------------------------------------------------------------
# The whole-step CUDA graph.


class GraphStep:
    """The training step captured in one CUDA graph (``capture=True``), or run eagerly on the same buffers.

    Args:
        model: the model in training mode, on its device (compiled already for ``compile-graph``).
        optimizer: its optimizer; on CUDA it must be fused or capturable, its lr a tensor
            (``tensor_learning_rates``), and no GradScaler may be in use.
        x, y: the first batch; it fixes the static buffers' shapes, dtypes and memory formats.
        precision: the autocast settings.
        capture: capture the graph (CUDA); False runs the body eagerly (the CPU test of this class).
        warmup: eager steps before the capture; their effect on every tensor is undone.
        restore_model: the module whose parameters and buffers are saved and restored (the bare model
            when ``model`` is a compiled wrapper of it).

    Calling it with a batch copies the batch in, replays (or runs) the step, and returns the loss.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, precision: Precision,
                 capture: bool, warmup: int = 3, restore_model: nn.Module | None = None) -> None:
        self.model, self.optimizer, self.precision = model, optimizer, precision
        self.capture = bool(capture)
        self.static_x, self.static_y = x.detach().clone(), y.detach().clone()
        self.static_loss: Tensor | None = None
        self.graph: Any = None
        self.lr_tensors = [group["lr"] for group in optimizer.param_groups]  # what a captured step reads
        self._prepare(warmup, restore_model or model)

    def _body(self) -> Tensor:
        return step_body(self.model, self.optimizer, self.static_x, self.static_y, self.precision)

    def _prepare(self, warmup: int, restore_model: nn.Module) -> None:
        snapshot = snapshot_state(restore_model, self.optimizer)
        try:
            if self.capture:
                self._warm_up_and_capture(warmup)
            else:
                for _ in range(warmup):
                    self._body()
        finally:
            restore_state(restore_model, self.optimizer, snapshot)
            if not self.capture:
                self.optimizer.zero_grad(set_to_none=True)

    def _warm_up_and_capture(self, warmup: int) -> None:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*capturable=True.*")  # warm-up steps run uncaptured
            for _ in range(max(1, warmup)):
                self._body()
        torch.cuda.current_stream().wait_stream(side)
        self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self.static_loss = self._body()
        self.graph = graph

    def sync_learning_rates(self) -> None:
        """Put a scheduler's new lr into the tensors the graph reads, should it have replaced them.

        ``LambdaLR`` fills a tensor lr in place; this keeps a captured step right on a torch that assigns.
        """
        with torch.no_grad():
            for group, tensor in zip(self.optimizer.param_groups, self.lr_tensors):
                if group["lr"] is not tensor:
                    tensor.fill_(float(group["lr"]))
                    group["lr"] = tensor

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        self.static_x.copy_(x)
        self.static_y.copy_(y)
        if self.graph is None:
            return self._body()
        self.graph.replay()
        return self.static_loss.clone()  # the next replay overwrites static_loss


class GraphForward:
    """An eval-mode forward pass in one CUDA graph (``capture=True``), or run eagerly on the same buffer.

    For inference throughput: the batch is copied into a static input, the graph replays, and the
    outputs the graph wrote are returned (overwritten by the next call). ``model`` is left in eval mode.
    """

    def __init__(self, model: nn.Module, x: Tensor, precision: Precision, capture: bool, warmup: int = 2) -> None:
        self.model, self.precision = model.eval(), precision
        self.static_x = x.detach().clone()
        self.graph: Any = None
        self.static_out: Any = None
        if capture:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(max(1, warmup)):
                    self._forward()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self.static_out = self._forward()
            self.graph = graph

    def _forward(self) -> Any:
        with torch.no_grad(), self.precision.autocast():
            return self.model(self.static_x)

    def __call__(self, x: Tensor) -> Any:
        self.static_x.copy_(x)
        if self.graph is None:
            return self._forward()
        self.graph.replay()
        return self.static_out


# ------------------------------------------------------------------------------------------------
# Building a path's step.


def compile_model(model: nn.Module, path: str) -> nn.Module:
    """``model`` compiled the way ``path`` asks (itself for ``eager`` and ``graph``)."""
    mode = compile_mode(path)
    if mode is None:
        return model
    return torch.compile(model, mode=None if mode == "default" else mode)


def graph_optimizer_ready(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Make an AdamW built by the trainer capturable: tensor lr on the device, capturable groups on CUDA."""
    tensor_learning_rates(optimizer, device)
    if device.type == "cuda":
        for group in optimizer.param_groups:
            group["capturable"] = True


def build_step(path: str, model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor,
               precision: Precision, warmup: int = 3) -> Callable[[Tensor, Tensor], Tensor]:
    """A callable ``(x, y) -> loss`` doing one full training step the way ``path`` does it.

    ``x``, ``y``: the first batch (for the graph paths' static buffers). Compilation happens lazily
    in the first call of the compile paths, and in the warm-up of ``compile-graph``; capture in here.
    Raises whatever compiling or capturing raises; the caller reports it in one line and falls back.
    """
    check_path(path)
    compiled = compile_model(model, path)
    if uses_graph(path):
        graph_optimizer_ready(optimizer, x.device)
        return GraphStep(compiled, optimizer, x, y, precision, capture=x.device.type == "cuda", warmup=warmup,
                         restore_model=model)
    mark_step = path == "reduce-overhead" and x.device.type == "cuda"

    def step(xb: Tensor, yb: Tensor) -> Tensor:
        if mark_step:
            torch.compiler.cudagraph_mark_step_begin()  # outputs of the previous replay may be overwritten
        return step_body(compiled, optimizer, xb, yb, precision)

    return step
