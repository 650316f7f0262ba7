"""Exact per-sample gradient similarity without materialising per-sample gradients.

For a source sample ``k`` with its own loss ``L_k`` and a target gradient ``G`` (gradient of the
target-batch loss), the similarities need only ``dot_k = <g_k, G>``, ``||g_k||^2`` and ``||G||^2``
where ``g_k = dL_k / dtheta``. For an ``nn.Linear`` layer ``y = W a + b`` applied once per sample,
``g_k`` restricted to that layer is the outer product ``delta_k a_k^T`` (plus ``delta_k`` for the
bias) with ``delta_k = dL_k / dy_k``. One backward pass of ``sum_k L_k`` gives every ``delta_k``
exactly (as long as samples do not interact in the forward pass), hence

    dot_k     = delta_k^T G_W a_k + delta_k^T g_b
    ||g_k||^2 = ||delta_k||^2 (||a_k||^2 + 1)        (no ``+ 1`` without a selected bias)

summed over the selected layers. The cost is one forward and one backward pass plus two small
matrix products per layer. Models with parameters outside ``nn.Linear`` (convolutions, norms with
affine weights) or with layers that couple samples (BatchNorm in training mode) fall back to
``torch.func`` (``vmap(grad)`` over chunks of samples), which does materialise per-sample
gradients, a chunk at a time.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

logger = logging.getLogger(__name__)

LossFn = Callable[[Tensor, Tensor], Tensor]
Similarity = Literal["cosine", "dot", "euclidean", "projection"]
Method = Literal["auto", "closed", "vmap"]

SIMILARITIES: tuple[str, ...] = ("cosine", "dot", "euclidean", "projection")
METHODS: tuple[str, ...] = ("auto", "closed", "vmap")
EPS = 1e-12


def mse_loss_per_sample(output: Tensor, target: Tensor) -> Tensor:
    """Per-sample mean squared error, averaged over all non-batch dimensions; shape ``(n,)``."""
    return (output - target).pow(2).flatten(1).mean(dim=1)


def cross_entropy_per_sample(output: Tensor, target: Tensor) -> Tensor:
    """Per-sample cross-entropy of logits ``(n, classes)`` against long labels ``(n,)``."""
    return F.cross_entropy(output, target, reduction="none")


def select_parameters(
    model: nn.Module, param_names: Sequence[str] | None = None
) -> dict[str, nn.Parameter]:
    """Trainable parameters whose name equals or starts with one of ``param_names`` (as a dotted
    prefix: ``"encoder.0"`` selects ``encoder.0.weight`` and ``encoder.0.bias``, not ``encoder.01``).
    ``None`` selects every trainable parameter.
    """
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if param_names is None:
        selected = params
    else:
        prefixes = list(param_names)
        selected = {
            n: p
            for n, p in params.items()
            if any(n == q or n.startswith(q + ".") for q in prefixes)
        }
        unmatched = [
            q for q in prefixes if not any(n == q or n.startswith(q + ".") for n in params)
        ]
        if unmatched:
            raise KeyError(
                f"param_names {unmatched} match no trainable parameter of "
                f"{type(model).__name__}; available: {sorted(params)}"
            )
    if not selected:
        raise ValueError(f"no trainable parameters selected in {type(model).__name__}")
    return selected


def _check_inputs(x: Tensor, y: Tensor) -> None:
    if x.ndim < 2:
        raise ValueError(f"x must be batched with shape (n, ...), got shape {tuple(x.shape)}")
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"x and y must have the same number of rows, got {x.shape[0]} and {y.shape[0]}"
        )


def _per_sample_losses(loss_fn: LossFn, output: Tensor, y: Tensor) -> Tensor:
    losses = loss_fn(output, y)
    if losses.ndim != 1 or losses.shape[0] != output.shape[0]:
        raise ValueError(
            f"loss_fn must return per-sample losses of shape ({output.shape[0]},), "
            f"got {tuple(losses.shape)}"
        )
    return losses


def target_gradient(
    model: nn.Module,
    loss_fn: LossFn,
    x: Tensor,
    y: Tensor,
    param_names: Sequence[str] | None = None,
    sample_weight: Tensor | None = None,
    reduction: Literal["mean", "sum"] = "mean",
) -> dict[str, Tensor]:
    """Gradient of the target-batch loss with respect to the selected parameters.

    The loss is the mean of the per-sample losses (``reduction="sum"``: their sum); with
    ``sample_weight`` it is ``sum(w * L) / sum(w)`` (``"sum"``: ``sum(w * L)``), e.g. inverse class
    frequencies for a class-balanced target loss. The model's mode (train/eval) is left as is.
    """
    _check_inputs(x, y)
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    selected = select_parameters(model, param_names)
    losses = _per_sample_losses(loss_fn, model(x), y)
    if sample_weight is not None:
        w = sample_weight.to(device=losses.device, dtype=losses.dtype)
        if w.shape != losses.shape:
            raise ValueError(
                f"sample_weight must have shape {tuple(losses.shape)}, got {tuple(w.shape)}"
            )
        loss = (w * losses).sum()
        if reduction == "mean":
            loss = loss / w.sum()
    else:
        loss = losses.mean() if reduction == "mean" else losses.sum()
    grads = torch.autograd.grad(loss, list(selected.values()), allow_unused=True)
    return {
        n: (g.detach() if g is not None else torch.zeros_like(p))
        for (n, p), g in zip(selected.items(), grads, strict=True)
    }


def _coupling_modules(model: nn.Module) -> list[str]:
    """Names of modules that mix samples in the forward pass (BatchNorm in training mode)."""
    return [
        n
        for n, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
    ]


def _linear_owners(
    model: nn.Module, selected: Mapping[str, nn.Parameter]
) -> tuple[dict[str, nn.Linear], list[str]]:
    """Map selected parameters to the ``nn.Linear`` modules owning them.

    Returns the Linear modules (by name) that own at least one selected parameter and the names of
    selected parameters that belong to something else.
    """
    owners: dict[str, nn.Linear] = {}
    covered: set[str] = set()
    for mname, m in model.named_modules():
        if not isinstance(m, nn.Linear):
            continue
        for pname, _ in m.named_parameters(recurse=False):
            full = f"{mname}.{pname}" if mname else pname
            if full in selected:
                owners[mname] = m
                covered.add(full)
    others = [n for n in selected if n not in covered]
    return owners, others


def closed_form_supported(model: nn.Module, param_names: Sequence[str] | None = None) -> bool:
    """Whether the closed form applies structurally: every selected parameter is the weight or
    bias of an ``nn.Linear`` and no module couples samples (BatchNorm in training mode).

    That each Linear is applied exactly once to a 2-D input is checked during the forward pass.
    """
    selected = select_parameters(model, param_names)
    _, others = _linear_owners(model, selected)
    return not others and not _coupling_modules(model)


class _ClosedFormUnsupported(RuntimeError):
    """Raised inside the closed form when a hooked Linear is not applied once to a 2-D input."""


def _similarity_from_moments(
    dot: Tensor, sq_norm: Tensor, target_sq_norm: Tensor, similarity: str
) -> Tensor:
    if similarity == "dot":
        return dot
    target_norm = target_sq_norm.sqrt()
    if similarity == "projection":
        return dot / target_norm.clamp_min(EPS)
    if similarity == "cosine":
        return dot / (sq_norm.clamp_min(0).sqrt() * target_norm).clamp_min(EPS)
    if similarity == "euclidean":
        return (sq_norm - 2 * dot + target_sq_norm).clamp_min(0).sqrt()
    raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")


@contextlib.contextmanager
def _autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    if dtype is None:
        yield
        return
    if device.type != "cuda":
        raise ValueError(
            f"autocast_dtype={dtype} is only allowed on CUDA; the inputs are on {device}"
        )
    with torch.autocast(device_type="cuda", dtype=dtype):
        yield


def _closed_form_moments(
    model: nn.Module,
    loss_fn: LossFn,
    x: Tensor,
    y: Tensor,
    target_grad: Mapping[str, Tensor],
    selected: Mapping[str, nn.Parameter],
    autocast_dtype: torch.dtype | None,
) -> tuple[Tensor, Tensor]:
    owners, others = _linear_owners(model, selected)
    if others:
        raise _ClosedFormUnsupported(f"parameters outside nn.Linear: {others}")
    coupling = _coupling_modules(model)
    if coupling:
        raise _ClosedFormUnsupported(f"modules coupling samples in training mode: {coupling}")
    n = x.shape[0]
    inputs: dict[str, Tensor] = {}
    outputs: dict[str, Tensor] = {}
    calls: dict[str, int] = dict.fromkeys(owners, 0)
    handles = []

    def make_hook(name: str) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], None]:
        def hook(_m: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
            calls[name] += 1
            inputs[name] = args[0].detach()
            outputs[name] = out

        return hook

    for name, m in owners.items():
        handles.append(m.register_forward_hook(make_hook(name)))
    try:
        with _autocast(x.device, autocast_dtype):
            output = model(x)
            losses = _per_sample_losses(loss_fn, output, y)
    finally:
        for h in handles:
            h.remove()
    bad = [
        name
        for name in owners
        if calls[name] != 1 or inputs[name].ndim != 2 or inputs[name].shape[0] != n
    ]
    if bad:
        raise _ClosedFormUnsupported(
            f"Linear layers {bad} are not applied exactly once to a 2-D (n, features) input"
        )
    names = list(owners)
    deltas = torch.autograd.grad(
        losses.sum(), [outputs[k] for k in names], allow_unused=True, materialize_grads=True
    )
    dot = torch.zeros(
        n, dtype=torch.float64 if x.dtype == torch.float64 else torch.float32, device=x.device
    )
    sq_norm = torch.zeros_like(dot)
    with torch.no_grad():
        for name, delta in zip(names, deltas, strict=True):
            m = owners[name]
            prefix = f"{name}." if name else ""
            a = inputs[name].to(dot.dtype)
            d = delta.to(dot.dtype)
            # fused reductions (vector_norm, vecdot) instead of elementwise products then sums:
            # several times faster on the CPU, where these memory-bound passes dominate
            d_sq = torch.linalg.vector_norm(d, dim=1).square()
            w_name, b_name = prefix + "weight", prefix + "bias"
            if w_name in selected:
                g_w = target_grad[w_name].to(dot.dtype)
                # delta_k^T G a_k, multiplying G from the side that leaves the narrower matrix
                if g_w.shape[0] <= g_w.shape[1]:
                    dot += torch.linalg.vecdot(a @ g_w.T, d)
                else:
                    dot += torch.linalg.vecdot(d @ g_w, a)
                sq_norm += d_sq * torch.linalg.vector_norm(a, dim=1).square()
            if m.bias is not None and b_name in selected:
                dot += d @ target_grad[b_name].to(dot.dtype)
                sq_norm += d_sq
    return dot, sq_norm


@contextlib.contextmanager
def _batchnorm_eval(model: nn.Module) -> Iterator[None]:
    """Put BatchNorm modules in eval mode: a sample scored alone has no batch statistics."""
    switched = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    switched = [m for m in switched if m.training]
    for m in switched:
        m.eval()
    try:
        yield
    finally:
        for m in switched:
            m.train()


def _vmap_moments(
    model: nn.Module,
    loss_fn: LossFn,
    x: Tensor,
    y: Tensor,
    target_grad: Mapping[str, Tensor],
    selected: Mapping[str, nn.Parameter],
    chunk_size: int | None,
    autocast_dtype: torch.dtype | None,
) -> tuple[Tensor, Tensor]:
    n = x.shape[0]
    fixed = {k: v.detach() for k, v in model.named_parameters() if k not in selected}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    sel = {k: v.detach() for k, v in selected.items()}
    names = list(sel)
    if chunk_size is None:
        n_params = sum(v.numel() for v in sel.values())
        # bound the per-sample gradient buffer to ~256 MiB of float32
        chunk_size = max(1, min(n, (64 * 2**20) // max(n_params, 1)))

    def sample_loss(p: dict[str, Tensor], xk: Tensor, yk: Tensor) -> Tensor:
        out = functional_call(model, ({**fixed, **p}, buffers), (xk.unsqueeze(0),))
        return loss_fn(out, yk.unsqueeze(0)).sum()

    per_sample_grad = vmap(grad(sample_loss), in_dims=(None, 0, 0), randomness="different")
    acc_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    dots: list[Tensor] = []
    sqs: list[Tensor] = []
    with _batchnorm_eval(model), _autocast(x.device, autocast_dtype):
        for start in range(0, n, chunk_size):
            g = per_sample_grad(sel, x[start : start + chunk_size], y[start : start + chunk_size])
            dot = torch.zeros(g[names[0]].shape[0], dtype=acc_dtype, device=x.device)
            sq = torch.zeros_like(dot)
            for k in names:
                gk = g[k].flatten(1).to(acc_dtype)
                dot += gk @ target_grad[k].flatten().to(acc_dtype)
                sq += gk.pow(2).sum(dim=1)
            dots.append(dot)
            sqs.append(sq)
    return torch.cat(dots), torch.cat(sqs)


def gradient_similarity(
    model: nn.Module,
    loss_fn: LossFn,
    x: Tensor,
    y: Tensor,
    target_grad: Mapping[str, Tensor],
    similarity: Similarity = "cosine",
    param_names: Sequence[str] | None = None,
    method: Method = "auto",
    chunk_size: int | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> Tensor:
    """Similarity between each sample's own loss gradient ``g_k`` and ``target_grad``; shape ``(n,)``.

    ``similarity``: ``"cosine"`` (``<g_k, G> / (||g_k|| ||G||)``, denominator clamped at 1e-12),
    ``"dot"``, ``"projection"`` (``<g_k, G> / ||G||``) or ``"euclidean"`` (the distance
    ``||g_k - G||``: larger means more different). Only parameters selected by ``param_names``
    take part; ``target_grad`` must hold a gradient for each of them (as returned by
    :func:`target_gradient` with the same ``param_names``).

    ``method="closed"`` uses the closed form for ``nn.Linear`` layers, ``"vmap"`` the ``torch.func``
    per-sample gradients (``chunk_size`` samples at a time; dropout masks drawn independently per
    sample from the global RNG; BatchNorm layers in eval mode), ``"auto"`` the closed form when it
    applies and the fallback otherwise. The model's train/eval mode is used as is: in train mode
    dropout is active. Results are float32 (float64 for float64 inputs), on the inputs' device.
    ``autocast_dtype`` (e.g. ``torch.bfloat16``) runs the forward/backward passes under autocast and
    is only allowed on CUDA; the reductions stay in float32.

    Numerics: the closed-form Euclidean distance is ``sqrt(||g_k||^2 - 2 dot_k + ||G||^2)``
    (clamped at 0), whose absolute error is about ``sqrt(machine eps) * ||G||`` when ``g_k ~ G``
    (float32: ~3e-4 ||G||); the other similarities keep full relative precision.
    """
    _check_inputs(x, y)
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    selected = select_parameters(model, param_names)
    missing = [k for k in selected if k not in target_grad]
    if missing:
        raise KeyError(f"target_grad lacks gradients for selected parameters {missing}")
    for k, p in selected.items():
        if target_grad[k].shape != p.shape:
            raise ValueError(
                f"target_grad[{k!r}] has shape {tuple(target_grad[k].shape)}, "
                f"expected {tuple(p.shape)}"
            )
    acc_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    target_sq = sum(
        (target_grad[k].to(acc_dtype).pow(2).sum() for k in selected),
        start=torch.zeros((), dtype=acc_dtype, device=x.device),
    )
    moments: tuple[Tensor, Tensor] | None = None
    if method in ("auto", "closed"):
        try:
            moments = _closed_form_moments(
                model, loss_fn, x, y, target_grad, selected, autocast_dtype
            )
        except _ClosedFormUnsupported as err:
            if method == "closed":
                raise ValueError(f"closed-form similarity does not apply: {err}") from err
            logger.debug("closed form unavailable (%s); using torch.func fallback", err)
    if moments is None:
        moments = _vmap_moments(
            model, loss_fn, x, y, target_grad, selected, chunk_size, autocast_dtype
        )
    dot, sq_norm = moments
    return _similarity_from_moments(dot, sq_norm, target_sq.to(dot.device), similarity)


def flat_norm(tensors: Mapping[str, Tensor]) -> float:
    """Euclidean norm of a gradient dictionary, as a Python float."""
    return math.sqrt(sum(float(t.double().pow(2).sum()) for t in tensors.values()))
