"""Per-sample cosine similarities: seed-paper style vmap per-sample gradients vs the closed form.

Side by side, paired within each repetition (medians over reps), for the 978-256-256-64 autoencoder (666,642 parameters) and
the ADULT 108-100-100-2 MLP (eval mode: dropout off, so all three see the same model):

  (a) reference: ``torch.func`` ``vmap(grad)`` per-sample gradients, flattened, cosine against the
      flattened target gradient (chunked so the per-sample gradients fit in ~128 MiB, the
      fastest chunking measured here). The reference costs ~15 ms per autoencoder sample on two
      threads, so each repetition times it on ``--reference-n`` rows (default 2,000) and scales
      the time linearly to N (it processes fixed-size chunks, so its cost is linear in N);
      ``--reference-n 0`` times it on all N rows;
  (b) ``dvgs.valuation.engine.gradient_similarity`` (closed form, 5,000-row chunks);
  (c) one plain forward + backward pass of the mean loss over the same rows (5,000-row chunks).

Peak memory is the resident-set high-water mark (``VmHWM``, reset through
``/proc/self/clear_refs``) above the resident set after setup, in a fresh process running the
method once over the N rows (the reference over its timed rows). Last line: ``ratio_vs_reference=time(a)/time(b) ratio_vs_fwdbwd=time(b)/time(c)`` for the
autoencoder.

    python benchmarks/bench_similarity.py [--quick] [--n 20000] [--reps 5] [--threads 2]
        [--reference-n 2000]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from dvgs.models.autoencoder import Autoencoder
from dvgs.models.mlp import MLPClassifier
from dvgs.valuation.engine import (
    LossFn,
    cross_entropy_per_sample,
    gradient_similarity,
    mse_loss_per_sample,
    target_gradient,
)

CHUNK = 5000


def make_case(name: str, n: int) -> tuple[nn.Module, LossFn, Tensor, Tensor, dict[str, Tensor]]:
    torch.manual_seed(0)
    if name == "autoencoder":
        model: nn.Module = Autoencoder(978, hidden=256, latent=64, n_hidden_layers=2)
        x = torch.randn(n, 978)
        y = x
        loss_fn: LossFn = mse_loss_per_sample
    else:
        model = MLPClassifier(108)
        x = torch.rand(n, 108)
        y = torch.randint(0, 2, (n,))
        loss_fn = cross_entropy_per_sample
    model.eval()
    target = target_gradient(model, loss_fn, x[:500], y[:500])
    return model, loss_fn, x, y, target


def reference(
    model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, target: dict[str, Tensor]
) -> Tensor:
    params = {k: v.detach() for k, v in model.named_parameters()}
    n_params = sum(v.numel() for v in params.values())
    chunk = max(1, (2**27 // 4) // n_params)  # per-sample gradients <= 128 MiB
    flat_target = torch.cat([target[k].flatten() for k in params])

    def sample_loss(p: dict[str, Tensor], xk: Tensor, yk: Tensor) -> Tensor:
        return loss_fn(functional_call(model, p, (xk.unsqueeze(0),)), yk.unsqueeze(0)).sum()

    per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    out = []
    for s in range(0, x.shape[0], chunk):
        g = per_sample(params, x[s : s + chunk], y[s : s + chunk])
        flat = torch.cat([g[k].flatten(1) for k in params], dim=1)
        out.append(torch.nn.functional.cosine_similarity(flat, flat_target[None], dim=1))
    return torch.cat(out)


def engine(
    model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, target: dict[str, Tensor]
) -> Tensor:
    return torch.cat(
        [
            gradient_similarity(model, loss_fn, x[s : s + CHUNK], y[s : s + CHUNK], target)
            for s in range(0, x.shape[0], CHUNK)
        ]
    )


def fwdbwd(
    model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, target: dict[str, Tensor]
) -> Tensor:
    params = list(model.parameters())
    for s in range(0, x.shape[0], CHUNK):
        loss = loss_fn(model(x[s : s + CHUNK]), y[s : s + CHUNK]).mean()
        torch.autograd.grad(loss, params)
    return torch.zeros(())


METHODS: dict[str, Callable[..., Tensor]] = {
    "reference": reference,
    "engine": engine,
    "fwdbwd": fwdbwd,
}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(f"/proc/self/status has no field {field!r}")


def _peak_child(case: str, method: str, n: int, rows: int, threads: int, queue: mp.Queue) -> None:
    torch.set_num_threads(threads)
    model, loss_fn, x, y, target = make_case(case, n)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current RSS
    base = _status_kib("VmRSS")
    METHODS[method](model, loss_fn, x[:rows], y[:rows], target)
    queue.put((_status_kib("VmHWM") - base) / 1024)


def peak_memory_mib(case: str, method: str, n: int, rows: int) -> float:
    """Resident-set peak above the resident set after setup, in a fresh process (Linux only)."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    args = (case, method, n, rows, torch.get_num_threads(), queue)
    proc = ctx.Process(target=_peak_child, args=args)
    proc.start()
    value = queue.get()
    proc.join()
    return float(value)


def bench_case(case: str, n: int, reps: int, reference_n: int) -> dict[str, float]:
    model, loss_fn, x, y, target = make_case(case, n)
    ref_n = n if reference_n <= 0 else min(n, reference_n)
    # agreement check on a subset
    ref = reference(model, loss_fn, x[:1000], y[:1000], target)
    eng = engine(model, loss_fn, x[:1000], y[:1000], target)
    max_diff = float((ref - eng).abs().max())
    rows = {m: (ref_n if m == "reference" else n) for m in METHODS}
    times: dict[str, list[float]] = {m: [] for m in METHODS}
    for m in METHODS:  # warm-up
        METHODS[m](model, loss_fn, x[:CHUNK], y[:CHUNK], target)
    for _ in range(reps):
        for m, fn in METHODS.items():
            k = rows[m]
            t0 = time.perf_counter()
            fn(model, loss_fn, x[:k], y[:k], target)
            times[m].append((time.perf_counter() - t0) * n / k)
    med = {m: statistics.median(v) for m, v in times.items()}
    mem = {m: peak_memory_mib(case, m, n, rows[m]) for m in METHODS}
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"== {case}: {n_params:,} params, N={n:,}, reps={reps}, threads={torch.get_num_threads()}"
    )
    if ref_n < n:
        print(f"   reference timed on {ref_n:,} rows per rep, scaled x{n / ref_n:g} to N")
    print(f"   max |cos_engine - cos_reference| on 1,000 rows: {max_diff:.2e}")
    for m in METHODS:
        spread = ", ".join(f"{t:.3f}" for t in times[m])
        print(
            f"   {m:>9}: median {med[m]:8.3f} s  ({n / med[m]:>10,.0f} samples/s)  "
            f"peak +{mem[m]:7.1f} MiB   [{spread}]"
        )
    ratio_ref = med["reference"] / med["engine"]
    ratio_fb = med["engine"] / med["fwdbwd"]
    print(f"   ratio_vs_reference={ratio_ref:.2f} ratio_vs_fwdbwd={ratio_fb:.2f}")
    return {"ratio_vs_reference": ratio_ref, "ratio_vs_fwdbwd": ratio_fb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="source samples")
    parser.add_argument("--reps", type=int, default=5, help="paired repetitions (median)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--reference-n", type=int, default=2_000, help="rows the reference is timed on (0: all N)"
    )
    parser.add_argument("--quick", action="store_true", help="N=2,000 and 3 reps")
    args = parser.parse_args()
    n, reps = (2_000, 3) if args.quick else (args.n, args.reps)
    torch.set_num_threads(args.threads)
    bench_case("mlp", n, reps, args.reference_n)
    ae = bench_case("autoencoder", n, reps, args.reference_n)
    print(
        f"ratio_vs_reference={ae['ratio_vs_reference']:.2f} "
        f"ratio_vs_fwdbwd={ae['ratio_vs_fwdbwd']:.2f}"
    )


if __name__ == "__main__":
    main()
