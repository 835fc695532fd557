"""Probing the speed paths on a device: each measurement in a child process that a failure cannot take down.

The GPU campaign (``scripts/gpu_campaign.py``) asks for a list of *items*, each one measurement:

    {"kind": "train", "model": "gcflnet", "path": "graph"}         seconds per training step on that path
    {"kind": "inference", "model": "gcflnet", "path": "graph"}     eval-mode images/s (batch ``inference_batch``)
    {"kind": "streams", "model": "gcflnet", "path": "graph", "k": 2}   K models in one process, one CUDA stream each
    {"kind": "flops", "model": "gcflnet"}                          FLOPs per image and the device's matmul rate

``python -m gcflnet_lib.engine.speed_probe ITEMS.json SETTINGS.json OUT.jsonl`` measures them in order and
appends one JSON line per item to ``OUT.jsonl``, ``"ok": false`` with a one-line ``error`` for an item that
raised. After a failure on a GPU the child exits (status 3): a failed capture can leave the CUDA context
unusable, so the parent (:func:`probe`) starts a fresh child for the items left. A child that dies, or an
item that runs past its time, becomes one failed line too, and the probe goes on with the next item.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

FAILED_ON_GPU = 3  # the child's exit status after an item failed on a GPU


@dataclass
class ProbeSettings:
    """What every item shares: the training batch, crop, precision and how long to time."""

    device: str = "cuda"
    batch: int = 16
    crop: int = 256
    dtype: str = "bf16"  # "bf16" or "fp32"; the CPU always measures fp32
    channels_last: bool = True
    channels: tuple[int, ...] | None = None
    seconds: float = 2.0  # timed seconds per item (at least ``min_steps`` steps)
    min_steps: int = 5
    warmup: int = 3
    inference_batch: int = 32
    threads: int | None = None  # torch threads of the child (the CPU rehearsal uses 1)


# ------------------------------------------------------------------------------------------------
# Pure parts: the choice of path and the bookkeeping of a probe (tested on the CPU).


def projected_run_s(result: dict[str, Any], steps: int) -> float:
    """Seconds a run of ``steps`` steps spends on a path: its steps plus its one-off compile or capture."""
    return result["step_s"] * steps + result.get("prepare_s", 0.0)


def choose_path(results: list[dict[str, Any]], model: str, steps: int) -> tuple[str, str]:
    """The path whose run of ``steps`` steps of ``model`` ends first, and one line saying why.

    Only paths that worked count; with none but eager (or none at all) the answer is eager.
    """
    worked = [r for r in results if r.get("kind") == "train" and r["model"] == model and r.get("ok")]
    if not worked:
        return "eager", f"speed: no path of {model} worked in the probe; eager"
    best = min(worked, key=lambda r: projected_run_s(r, steps))
    if best["path"] == "eager":
        return "eager", f"speed: no path beat eager for {model} ({best['step_s'] * 1e3:.2f} ms/step); eager"
    eager = next((r for r in worked if r["path"] == "eager"), None)
    versus = f" (eager {eager['step_s'] * 1e3:.2f})" if eager else ""
    return best["path"], (f"speed: {best['path']} for every run: {best['step_s'] * 1e3:.2f} ms/step{versus}, "
                          f"{best.get('prepare_s', 0.0):.1f} s to prepare, {projected_run_s(best, steps):.0f} s for "
                          f"{steps} steps of {model}")


def failure(item: dict[str, Any], why: str) -> dict[str, Any]:
    return {**item, "ok": False, "error": why[:300]}


def describe(result: dict[str, Any]) -> str:
    """One log line per probed item."""
    name = f"{result['kind']} {result['model']}" + (f" {result['path']}" if "path" in result else "")
    if "k" in result:
        name += f" x{result['k']}"
    if not result.get("ok"):
        return f"probe {name}: FAILED {result.get('error', '')}"
    if result["kind"] == "train":
        return (f"probe {name}: {result['step_s'] * 1e3:.2f} ms/step, {result['images_per_s']:.0f} images/s, "
                f"prepared in {result['prepare_s']:.1f} s")
    if result["kind"] == "inference":
        return f"probe {name}: {result['images_per_s']:.0f} images/s at batch {result['batch']}"
    if result["kind"] == "streams":
        return f"probe {name}: {result['gain']:.2f}x the work of one model alone per second"
    return (f"probe {name}: {result['train_gflops_per_image']:.2f} GFLOPs per training image, "
            f"matmul {result['matmul_tflops']:.3g} TFLOP/s")


def with_mfu(results: list[dict[str, Any]], batch: int) -> list[dict[str, Any]]:
    """Each train and inference result with its model FLOP utilisation, where a flops item was measured.

    MFU = model FLOP/s / the matmul FLOP/s measured on the same device (``engine.bench``).
    """
    flops = {r["model"]: r for r in results if r.get("kind") == "flops" and r.get("ok")}
    out = []
    for r in results:
        f = flops.get(r.get("model"))
        if f and r.get("ok") and r["kind"] in ("train", "inference"):
            per_image = f["train_gflops_per_image" if r["kind"] == "train" else "forward_gflops_per_image"] * 1e9
            r = {**r, "mfu": r["images_per_s"] * per_image / (f["matmul_tflops"] * 1e12)}
        out.append(r)
    return out


# ------------------------------------------------------------------------------------------------
# The measurements (in the child).


def _time_for(fn: Callable[[], Any], device, min_steps: int, min_s: float) -> float:
    """Seconds per call of ``fn``: at least ``min_steps`` calls and ``min_s`` seconds, device work included."""
    from gcflnet_lib.engine.bench import synchronize

    synchronize(device)
    steps, start = 0, time.perf_counter()
    while steps < min_steps or time.perf_counter() - start < min_s:
        fn()
        steps += 1
        if steps % 5 == 0:
            synchronize(device)
    synchronize(device)
    return (time.perf_counter() - start) / steps


class _Context:
    """The device, batch and precision of a child's measurements."""

    def __init__(self, settings: ProbeSettings) -> None:
        import torch

        from gcflnet_lib.engine import bench, speed_paths

        self.torch, self.bench, self.sp = torch, bench, speed_paths
        self.settings = settings
        self.device = torch.device(settings.device)
        self.on_gpu = self.device.type == "cuda"
        if self.on_gpu:
            torch.backends.cudnn.benchmark = True
        dtype = torch.bfloat16 if settings.dtype == "bf16" and self.on_gpu else None
        self.precision = speed_paths.Precision(self.device.type, dtype)

    def model(self, name: str):
        from gcflnet_lib.models import build_model

        self.torch.manual_seed(0)
        kwargs = {"channels": tuple(self.settings.channels)} if self.settings.channels else {}
        model = build_model(name, **kwargs).to(self.device)
        if self.on_gpu and self.settings.channels_last:
            model = model.to(memory_format=self.torch.channels_last)
        return model

    def batch(self, size: int):
        x, y = self.bench.random_batch(size, self.settings.crop, self.device)
        if self.on_gpu and self.settings.channels_last:
            x = x.contiguous(memory_format=self.torch.channels_last)
        return x, y

    def train_step(self, name: str, path: str):
        """``(step, x, y, prepare_s)``: a path's step of a fresh model, built and run once on a batch."""
        model = self.model(name)
        optimizer = self.torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2,
                                           **({"fused": True} if self.on_gpu else {}))
        x, y = self.batch(self.settings.batch)
        start = time.perf_counter()
        step = self.sp.build_step(path, model, optimizer, x, y, self.precision, warmup=self.settings.warmup)
        step(x, y)
        self.bench.synchronize(self.device)
        return step, x, y, time.perf_counter() - start

    def timed(self, fn: Callable[[], Any]) -> float:
        for _ in range(self.settings.warmup):
            fn()
        s = self.settings
        return _time_for(fn, self.device, s.min_steps if self.on_gpu else 1, s.seconds if self.on_gpu else 0.0)


def measure_train(ctx: _Context, item: dict[str, Any]) -> dict[str, Any]:
    step, x, y, prepare_s = ctx.train_step(item["model"], item["path"])
    seconds = ctx.timed(lambda: step(x, y))
    return {"step_s": seconds, "prepare_s": prepare_s, "images_per_s": ctx.settings.batch / seconds,
            "batch": ctx.settings.batch}


def measure_inference(ctx: _Context, item: dict[str, Any]) -> dict[str, Any]:
    path = item["path"]
    model = ctx.sp.compile_model(ctx.model(item["model"]), path)
    batch = ctx.settings.inference_batch if ctx.on_gpu else min(ctx.settings.inference_batch, 2)
    x, _ = ctx.batch(batch)
    start = time.perf_counter()
    forward = ctx.sp.GraphForward(model, x, ctx.precision, capture=ctx.on_gpu and ctx.sp.uses_graph(path))
    forward(x)
    ctx.bench.synchronize(ctx.device)
    prepare_s = time.perf_counter() - start
    seconds = ctx.timed(lambda: forward(x))
    return {"images_per_s": batch / seconds, "batch": batch, "prepare_s": prepare_s}


def measure_streams(ctx: _Context, item: dict[str, Any]) -> dict[str, Any]:
    """K copies of a model's step in one process, each replayed on its own CUDA stream, against one alone.

    ``gain`` is how many alone-steps of work the GPU does per alone-step time: K * t_alone / t_round.
    """
    torch = ctx.torch
    if not ctx.on_gpu:
        raise RuntimeError("CUDA streams need a GPU")
    k = int(item["k"])
    built = [ctx.train_step(item["model"], item["path"]) for _ in range(k)]
    streams = [torch.cuda.Stream() for _ in range(k)]
    for stream in streams:
        stream.wait_stream(torch.cuda.current_stream())
    step, x, y, _ = built[0]
    alone = ctx.timed(lambda: step(x, y))

    def round_of_steps() -> None:
        for (each, xb, yb, _), stream in zip(built, streams):
            with torch.cuda.stream(stream):
                each(xb, yb)

    together = ctx.timed(round_of_steps)
    return {"alone_step_s": alone, "round_s": together, "gain": k * alone / together}


def measure_flops(ctx: _Context, item: dict[str, Any]) -> dict[str, Any]:
    model = ctx.model(item["model"])
    x, y = ctx.bench.random_batch(1, ctx.settings.crop, ctx.device)
    dtype = ctx.torch.bfloat16 if ctx.precision.dtype is not None else ctx.torch.float32
    rate = ctx.bench.matmul_flops_per_s(ctx.device, dtype, size=None if ctx.on_gpu else 256)
    return {"train_gflops_per_image": ctx.bench.training_flops(model, x, y) / 1e9,
            "forward_gflops_per_image": ctx.bench.forward_flops(model, x) / 1e9,
            "matmul_tflops": rate / 1e12, "matmul_dtype": "bf16" if dtype == ctx.torch.bfloat16 else "fp32"}


MEASURES = {"train": measure_train, "inference": measure_inference, "streams": measure_streams, "flops": measure_flops}


def run_items(items: list[dict[str, Any]], settings: ProbeSettings, emit: Callable[[dict[str, Any]], None]) -> int:
    """Measure ``items`` in order, ``emit`` one result each; returns the child's exit status."""
    import torch

    from gcflnet_lib.engine.speed_paths import one_line

    if settings.threads:
        torch.set_num_threads(settings.threads)
    ctx = _Context(settings)
    for item in items:
        try:
            result = {**item, "ok": True, **MEASURES[item["kind"]](ctx, item)}
        except Exception as exc:  # noqa: BLE001 - one failed path must not cost the others
            emit(failure(item, one_line(exc)))
            if ctx.on_gpu:
                return FAILED_ON_GPU  # a fresh process for the rest: the context may be unusable
            continue
        emit(result)
        if ctx.on_gpu:
            torch.cuda.empty_cache()
    return 0


def main(argv: list[str] | None = None) -> int:
    items_file, settings_file, out_file = argv if argv is not None else sys.argv[1:]
    items = json.loads(Path(items_file).read_text())
    settings = ProbeSettings(**json.loads(Path(settings_file).read_text()))
    with open(out_file, "a", buffering=1) as out:
        return run_items(items, settings, lambda result: out.write(json.dumps(result) + "\n"))


# ------------------------------------------------------------------------------------------------
# The parent: children until every item has a result.


def _read_results(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return []


def probe(items: list[dict[str, Any]], settings: ProbeSettings, item_timeout_s: float, deadline_s: float,
          log: Callable[[str], None], env: dict[str, str] | None = None,
          command: list[str] | None = None, poll_s: float = 0.2) -> list[dict[str, Any]]:
    """Every item's result, measured in children (``command`` + the three file arguments).

    An item that runs past ``item_timeout_s``, or whose child dies, gets one failed result. The probe ends
    ``deadline_s`` seconds from now: an item still running then is stopped, and items not started get
    ``"not measured: probe time spent"``. Each result is logged in one line.
    """
    command = command or [sys.executable, "-m", "gcflnet_lib.engine.speed_probe"]
    results: list[dict[str, Any]] = []
    end = time.monotonic() + deadline_s
    with tempfile.TemporaryDirectory(prefix="speed-probe-") as folder:
        folder_path = Path(folder)
        (folder_path / "settings.json").write_text(json.dumps(asdict(settings)))
        while len(results) < len(items):
            remaining = items[len(results):]
            if time.monotonic() >= end:
                for item in remaining:
                    results.append(failure(item, "not measured: probe time spent"))
                    log(describe(results[-1]))
                break
            round_no = len(list(folder_path.glob("out-*.jsonl")))
            out = folder_path / f"out-{round_no}.jsonl"
            (folder_path / "items.json").write_text(json.dumps(remaining))
            err = open(folder_path / f"err-{round_no}.txt", "w")  # noqa: SIM115 - closed below
            child = subprocess.Popen([*command, str(folder_path / "items.json"), str(folder_path / "settings.json"),
                                      str(out)], stdout=subprocess.DEVNULL, stderr=err, env=env)
            seen, item_started = 0, time.monotonic()
            timed_out = ""
            while child.poll() is None:
                done = _read_results(out)
                if len(done) > seen:
                    for result in done[seen:]:
                        log(describe(result))
                    seen, item_started = len(done), time.monotonic()
                now = time.monotonic()
                if now - item_started > item_timeout_s or now > end:
                    child.kill()
                    child.wait()
                    timed_out = (f"timed out after {item_timeout_s:.0f} s" if now <= end
                                 else f"stopped after {now - item_started:.0f} s: probe time spent")
                    break
                time.sleep(poll_s)
            err.close()
            done = _read_results(out)
            for result in done[seen:]:
                log(describe(result))
            results.extend(done)
            if len(done) < len(remaining) and (timed_out or child.returncode not in (0, FAILED_ON_GPU)):
                tail = (folder_path / f"err-{round_no}.txt").read_text(errors="replace").strip().splitlines()
                why = timed_out or f"the probe process died (exit {child.returncode}): {tail[-1] if tail else 'no message'}"
                results.append(failure(remaining[len(done)], why))
                log(describe(results[-1]))
            elif len(done) < len(remaining) and child.returncode == 0:
                raise RuntimeError("speed probe child ended without measuring every item")
    return results


if __name__ == "__main__":
    raise SystemExit(main())
