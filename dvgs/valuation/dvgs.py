"""The DVGS loop: train on the target set, score source rows by gradient similarity along the way.

At every ``every``-th optimisation step (before the optimiser update) the source rows of this shard
are scored by the similarity of their own loss gradient to the current target-batch gradient
(:mod:`dvgs.valuation.engine`); a source row's value is the mean of its scores over all snapshots of
all restarts.

Reproducibility. Each restart seeds the model initialisation and the training dropout from
``(seed, restart)`` and draws target mini-batches from its own ``numpy`` generator; the global
torch RNG state of the caller is restored on return. With ``source_mode="eval"`` (default) the source
gradients see the model without dropout, so scoring draws no random numbers. With
``source_mode="train"`` dropout is active for the source rows too; their masks come from a
generator re-seeded for every ``(seed, restart, step, block)``, where blocks are fixed runs of
``source_batch_size`` absolute source rows, and a shard always scores whole blocks (discarding rows
outside the shard). Either way the training trajectory and every row's values do not depend on
``n_shards``: concatenating the shards reproduces the unsharded run.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from dvgs.io.atomic import atomic_path
from dvgs.progress import progress_bar
from dvgs.threads import num_threads
from dvgs.valuation.engine import (
    SIMILARITIES,
    LossFn,
    gradient_similarity,
    select_parameters,
    target_gradient,
)

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
# source scoring precision: bfloat16 autocast is CUDA-only and kept only because it preserves the
# ranking (Spearman to float32 values > 0.999 on the LINCS autoencoder, tests/valuation, gpu mark)
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class DVGSSettings:
    """Settings of one DVGS run.

    ``source_batch_size`` is how many source rows one engine call scores (memory bound, no effect on
    values in eval mode). ``every``: score at steps ``0, every, 2*every, ...`` of each restart.
    ``restarts``: independent trainings from a fresh initialisation; values average all snapshots.
    ``param_names``: parameter-name prefixes whose gradients are compared (``None``: all).
    ``class_balanced``: weight the target loss by inverse class frequency within each batch
    (classifiers only). ``device="auto"`` picks CUDA when available. ``threads`` sets
    ``torch.set_num_threads`` for the run. ``source_mode``: ``"eval"`` scores sources without
    dropout, ``"train"`` with dropout (seeded per block of rows, see module docstring).
    ``keep_trace`` keeps every snapshot's scores (``(n_snapshots, n)`` float32).
    ``precision="bfloat16"`` scores the sources under bfloat16 autocast (CUDA only; the target
    gradient, the optimiser and all reductions stay float32).
    """

    epochs: int = 100
    target_batch_size: int = 500
    source_batch_size: int = 5000
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: Literal["adam", "sgd"] = "adam"
    similarity: Literal["cosine", "dot", "euclidean", "projection"] = "cosine"
    every: int = 1
    restarts: int = 1
    param_names: tuple[str, ...] | None = None
    class_balanced: bool = False
    device: str = "auto"
    threads: int | None = None
    source_mode: Literal["train", "eval"] = "eval"
    keep_trace: bool = False
    precision: Literal["float32", "bfloat16"] = "float32"

    def __post_init__(self) -> None:
        positive = ("epochs", "target_batch_size", "source_batch_size", "every", "restarts")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"DVGSSettings.{name} must be a positive integer, got {value!r}")
        if self.lr <= 0:
            raise ValueError(f"DVGSSettings.lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"DVGSSettings.weight_decay must be >= 0, got {self.weight_decay}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(
                f"DVGSSettings.optimizer must be 'adam' or 'sgd', got {self.optimizer!r}"
            )
        if self.similarity not in SIMILARITIES:
            raise ValueError(
                f"DVGSSettings.similarity must be one of {SIMILARITIES}, got {self.similarity!r}"
            )
        if self.source_mode not in ("train", "eval"):
            raise ValueError(
                f"DVGSSettings.source_mode must be 'train' or 'eval', got {self.source_mode!r}"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"DVGSSettings.precision must be one of {list(PRECISIONS)}, got {self.precision!r}"
            )
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"DVGSSettings.threads must be >= 1 or None, got {self.threads}")
        if self.param_names is not None:
            object.__setattr__(self, "param_names", tuple(self.param_names))


@dataclass
class ValuationResult:
    """Per-source-row values: ``mean`` and population variance ``var`` (ddof=0) of the scores over
    ``n_snapshots`` snapshots, both float64; ``indices`` are the rows' positions in the source set;
    ``trace`` (optional) holds every snapshot, ``(n_snapshots, n)`` float32.
    """

    mean: np.ndarray
    var: np.ndarray
    n_snapshots: int
    indices: np.ndarray | None = None
    trace: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.mean.shape[0]
        if self.var.shape != (n,):
            raise ValueError(f"var has shape {self.var.shape}, expected ({n},)")
        if self.indices is not None and self.indices.shape != (n,):
            raise ValueError(f"indices has shape {self.indices.shape}, expected ({n},)")
        if self.trace is not None and self.trace.shape != (self.n_snapshots, n):
            raise ValueError(
                f"trace has shape {self.trace.shape}, expected ({self.n_snapshots}, {n})"
            )

    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` atomically (``path`` is used as given)."""
        arrays: dict[str, np.ndarray] = {
            "mean": self.mean,
            "var": self.var,
            "n_snapshots": np.asarray(self.n_snapshots, dtype=np.int64),
        }
        if self.indices is not None:
            arrays["indices"] = self.indices
        if self.trace is not None:
            arrays["trace"] = self.trace
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ValuationResult:
        with np.load(path) as data:
            missing = [k for k in ("mean", "var", "n_snapshots") if k not in data]
            if missing:
                raise KeyError(f"{path}: missing arrays {missing} in valuation result")
            return cls(
                mean=data["mean"],
                var=data["var"],
                n_snapshots=int(data["n_snapshots"]),
                indices=data["indices"] if "indices" in data else None,
                trace=data["trace"] if "trace" in data else None,
            )

    @classmethod
    def concat(cls, results: Sequence[ValuationResult]) -> ValuationResult:
        """Concatenate shard results (in order); they must share ``n_snapshots``."""
        if not results:
            raise ValueError("concat needs at least one ValuationResult")
        snaps = {r.n_snapshots for r in results}
        if len(snaps) != 1:
            raise ValueError(
                f"cannot concatenate results with different n_snapshots {sorted(snaps)}"
            )
        has_idx = {r.indices is not None for r in results}
        has_trace = {r.trace is not None for r in results}
        if len(has_idx) != 1 or len(has_trace) != 1:
            raise ValueError("cannot concatenate results with and without indices/trace")
        return cls(
            mean=np.concatenate([r.mean for r in results]),
            var=np.concatenate([r.var for r in results]),
            n_snapshots=results[0].n_snapshots,
            indices=np.concatenate([r.indices for r in results]) if has_idx == {True} else None,
            trace=np.concatenate([r.trace for r in results], axis=1)
            if has_trace == {True}
            else None,
        )


def _derive_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> 1)


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _make_optimizer(model: nn.Module, settings: DVGSSettings) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if settings.optimizer == "adam":
        return torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    return torch.optim.SGD(params, lr=settings.lr, weight_decay=settings.weight_decay)


def _class_weights(y: Tensor) -> Tensor:
    if y.dtype.is_floating_point or y.ndim != 1:
        raise ValueError(
            "class_balanced=True needs 1-D integer class labels as y_target, "
            f"got dtype {y.dtype} and shape {tuple(y.shape)}"
        )
    counts = torch.bincount(y)
    return 1.0 / counts[y].to(torch.float32)


def _as_tensor(a: np.ndarray | Tensor, device: torch.device, dtype: torch.dtype | None) -> Tensor:
    t = a if isinstance(a, Tensor) else torch.from_numpy(np.ascontiguousarray(a))
    return t.to(device=device, dtype=dtype) if dtype is not None else t.to(device=device)


class _Welford:
    def __init__(self, n: int) -> None:
        self.count = 0
        self.mean = np.zeros(n, dtype=np.float64)
        self.m2 = np.zeros(n, dtype=np.float64)

    def update(self, x: np.ndarray) -> None:
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    def var(self) -> np.ndarray:
        return self.m2 / self.count if self.count else np.full_like(self.m2, np.nan)


def _settings_key(settings: DVGSSettings) -> dict[str, Any]:
    d = dataclasses.asdict(settings)
    for k in ("device", "threads"):  # resuming on another device / thread count is allowed
        d.pop(k)
    return d


def _score_shard(
    model: nn.Module,
    loss_fn: LossFn,
    x_source: np.ndarray | Tensor,
    y_source: np.ndarray | Tensor | None,
    y_dtype: torch.dtype | None,
    target_grad: dict[str, Tensor],
    settings: DVGSSettings,
    lo: int,
    hi: int,
    rng_seed_parts: tuple[int, ...],
    device: torch.device,
) -> np.ndarray:
    """Scores of source rows ``lo:hi`` at the current parameters, float64."""
    bs = settings.source_batch_size
    n_source = x_source.shape[0]
    out = np.empty(hi - lo, dtype=np.float64)
    was_training = model.training
    train_mode = settings.source_mode == "train"
    model.train(train_mode)
    try:
        for block in range(lo // bs, (hi - 1) // bs + 1):
            # train mode scores whole aligned blocks so dropout masks do not depend on shard edges
            b_lo, b_hi = (block * bs, min((block + 1) * bs, n_source))
            if not train_mode:
                b_lo, b_hi = max(b_lo, lo), min(b_hi, hi)
            xb = _as_tensor(x_source[b_lo:b_hi], device, torch.float32)
            yb = xb if y_source is None else _as_tensor(y_source[b_lo:b_hi], device, y_dtype)
            if train_mode:
                devices = [device] if device.type == "cuda" else []
                with torch.random.fork_rng(devices=devices):
                    torch.manual_seed(_derive_seed(*rng_seed_parts, block))
                    s = gradient_similarity(
                        model, loss_fn, xb, yb, target_grad, settings.similarity,
                        settings.param_names, autocast_dtype=PRECISIONS[settings.precision],
                    )  # fmt: skip
            else:
                s = gradient_similarity(
                    model, loss_fn, xb, yb, target_grad, settings.similarity,
                    settings.param_names, autocast_dtype=PRECISIONS[settings.precision],
                )  # fmt: skip
            s_np = s.detach().to("cpu", torch.float64).numpy()
            k_lo, k_hi = max(b_lo, lo), min(b_hi, hi)
            out[k_lo - lo : k_hi - lo] = s_np[k_lo - b_lo : k_hi - b_lo]
    finally:
        model.train(was_training)
    return out


def value_sources(
    model_factory: Callable[[], nn.Module],
    loss_fn: LossFn,
    x_target: np.ndarray | Tensor,
    y_target: np.ndarray | Tensor | None,
    x_source: np.ndarray | Tensor,
    y_source: np.ndarray | Tensor | None,
    settings: DVGSSettings,
    seed: int,
    shard_index: int = 0,
    n_shards: int = 1,
    checkpoint_path: str | os.PathLike | None = None,
    progress: bool = False,
    on_epoch_end: Callable[[int, int], None] | None = None,
    discard_stale_checkpoint: bool = False,
    checkpoint_tag: str | None = None,
) -> ValuationResult:
    """Run DVGS and return the values of this shard's source rows.

    ``y_target`` / ``y_source`` ``None`` means ``y = x`` (autoencoders); class labels must be
    integer arrays (use :func:`~dvgs.valuation.engine.cross_entropy_per_sample`). ``x_source`` may be
    a large (memory-mapped) float32 array: it is read ``source_batch_size`` rows at a time.
    Shard rows are ``np.array_split(np.arange(n_source), n_shards)[shard_index]``.

    ``checkpoint_path``: the run state (model, optimiser, RNG states, running statistics) is saved
    there atomically after every epoch, and a run that finds the file resumes from it (after
    checking that settings, seed, shard and data sizes match); the resumed result equals an
    uninterrupted run. The checkpoint is left in place on completion: the caller removes it. It is a
    pickle (``torch.load(weights_only=False)``): only resume from checkpoints you wrote. A
    checkpoint of another run (other settings, seed, shard or data sizes) raises, or with
    ``discard_stale_checkpoint`` is logged and ignored. ``checkpoint_tag`` (e.g. a digest of the
    row ids) is part of the run's identity, so a checkpoint over other data is never resumed.
    ``on_epoch_end(restart, epoch)`` is called after each epoch (after the checkpoint is written).
    """
    if not 0 <= shard_index < n_shards:
        raise ValueError(f"shard_index must be in [0, {n_shards}), got {shard_index}")
    n_target, n_source = x_target.shape[0], x_source.shape[0]
    if n_target < 1 or n_source < 1:
        raise ValueError(f"need non-empty target and source sets, got {n_target} and {n_source}")
    for name, y, n in (("y_target", y_target, n_target), ("y_source", y_source, n_source)):
        if y is not None and y.shape[0] != n:
            raise ValueError(f"{name} has {y.shape[0]} rows, expected {n}")
    if (y_target is None) != (y_source is None):
        raise ValueError("y_target and y_source must both be given or both be None (y = x)")
    rows = np.array_split(np.arange(n_source), n_shards)[shard_index]
    if rows.size == 0:
        raise ValueError(f"shard {shard_index} of {n_shards} is empty for {n_source} source rows")
    lo, hi = int(rows[0]), int(rows[-1]) + 1
    device = _resolve_device(settings.device)
    devices = [device] if device.type == "cuda" else []
    logger.info("valuation on %s (settings.device=%r)", device, settings.device)
    if settings.precision != "float32" and device.type != "cuda":
        raise ValueError(
            f"DVGSSettings.precision={settings.precision!r} (config key valuation.precision) needs "
            f"a CUDA device, but the run uses {device}; use precision: float32 on the CPU"
        )

    xt = _as_tensor(x_target, device, torch.float32)
    y_dtype: torch.dtype | None = None
    if y_target is None:
        yt = xt
    else:
        yt = _as_tensor(y_target, device, None)
        y_dtype = torch.float32 if yt.dtype.is_floating_point else torch.long
        yt = yt.to(y_dtype)

    bs = min(settings.target_batch_size, n_target)
    steps_per_epoch = -(-n_target // bs)
    total_steps = settings.epochs * steps_per_epoch
    key = {
        "settings": _settings_key(settings),
        "seed": int(seed),
        "shard_index": shard_index,
        "n_shards": n_shards,
        "n_source": n_source,
        "n_target": n_target,
        "tag": checkpoint_tag,
    }

    stats = _Welford(hi - lo)
    trace: list[np.ndarray] = []
    start_restart, start_epoch = 0, 0
    state: dict[str, Any] | None = None
    if checkpoint_path is not None and Path(checkpoint_path).exists():
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        if state.get("format") != CHECKPOINT_FORMAT or state.get("key") != key:
            message = (
                f"checkpoint {checkpoint_path} was written by a different run: "
                f"expected {key}, found {state.get('key')}"
            )
            if not discard_stale_checkpoint:
                raise ValueError(message + "; delete it to start afresh")
            logger.warning("%s; starting afresh (it will be overwritten)", message)
            state = None
    if state is not None:
        stats.count, stats.mean, stats.m2 = state["count"], state["mean"], state["m2"]
        trace = list(state["trace"])
        start_restart, start_epoch = state["restart"], state["epoch"]
        if start_epoch == settings.epochs:
            start_restart, start_epoch, state = start_restart + 1, 0, None
        logger.info("resuming from %s at restart %d epoch %d", checkpoint_path, start_restart,
                    start_epoch)  # fmt: skip

    done = start_restart * total_steps + start_epoch * steps_per_epoch
    bar = progress_bar(settings.restarts * total_steps, "dvgs", unit="step", disable=not progress,
                       initial=done)  # fmt: skip
    with num_threads(settings.threads), torch.random.fork_rng(devices=devices), bar:
        for restart in range(start_restart, settings.restarts):
            torch.manual_seed(_derive_seed(seed, restart, 0))
            model = model_factory().to(device)
            optimizer = _make_optimizer(model, settings)
            rng = np.random.default_rng(_derive_seed(seed, restart, 1))
            first_epoch = 0
            if state is not None:
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                rng.bit_generator.state = state["np_rng"]
                torch.set_rng_state(state["torch_rng"])
                if devices and state.get("cuda_rng") is not None:
                    torch.cuda.set_rng_state(state["cuda_rng"], device)
                first_epoch, state = start_epoch, None
            selected = list(select_parameters(model, settings.param_names))
            model.train()
            for epoch in range(first_epoch, settings.epochs):
                order = rng.permutation(n_target)
                for b in range(steps_per_epoch):
                    step = epoch * steps_per_epoch + b
                    idx = torch.from_numpy(order[b * bs : (b + 1) * bs]).to(device)
                    xb, yb = xt[idx], yt[idx]
                    weight = _class_weights(yb) if settings.class_balanced else None
                    grads = target_gradient(model, loss_fn, xb, yb, sample_weight=weight)
                    if step % settings.every == 0:
                        sel = {k: grads[k] for k in selected}
                        scores = _score_shard(
                            model, loss_fn, x_source, y_source, y_dtype, sel, settings, lo, hi,
                            (seed, restart, step, 2), device,
                        )  # fmt: skip
                        stats.update(scores)
                        if settings.keep_trace:
                            trace.append(scores.astype(np.float32))
                    named = dict(model.named_parameters())
                    for k, g in grads.items():
                        named[k].grad = g
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    bar.update(1)
                if checkpoint_path is not None:
                    _save_checkpoint(
                        checkpoint_path, key, model, optimizer, rng, restart, epoch + 1, stats,
                        trace, device,
                    )  # fmt: skip
                if on_epoch_end is not None:
                    on_epoch_end(restart, epoch)

    return ValuationResult(
        mean=stats.mean,
        var=stats.var(),
        n_snapshots=stats.count,
        indices=rows.astype(np.int64),
        trace=np.stack(trace) if settings.keep_trace and trace else None,
    )


def _save_checkpoint(
    path: str | os.PathLike,
    key: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    restart: int,
    epoch: int,
    stats: _Welford,
    trace: list[np.ndarray],
    device: torch.device,
) -> None:
    state = {
        "format": CHECKPOINT_FORMAT,
        "key": key,
        "restart": restart,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "np_rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "count": stats.count,
        "mean": stats.mean.copy(),
        "m2": stats.m2.copy(),
        "trace": list(trace),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
