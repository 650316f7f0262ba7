"""Scale of one DVGS seed on the full LINCS source set (synthetic data of the real shape).

A synthetic ``n_source x 978`` float32 source set (default 710,000 rows) and a 5,000-row target
set; the 978-256-256-64-256-256-978 autoencoder (666,642 parameters). One DVGS iteration is one target step (target gradient of a
``target_batch_size`` batch + Adam update) plus scoring every source row against that gradient in
``source_batch_size`` chunks, exactly as :func:`dvgs.valuation.dvgs.value_sources` does. A few
iterations are timed and a full seed of ``--steps`` iterations (default 500) is projected. On CUDA
the CUDA values are also checked against CPU values (to 1e-4) on a subset and samples/s printed.
Last line: ``projected_seed_hours=<x>`` for the device used.

    python benchmarks/bench_lincs_scale.py [--n-source 710000] [--iterations 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

from dvgs.models.autoencoder import Autoencoder
from dvgs.valuation.engine import gradient_similarity, mse_loss_per_sample, target_gradient


def synthetic_profiles(n: int, n_genes: int, seed: int, chunk: int = 50_000) -> np.ndarray:
    """Low-rank plus noise float32 profiles, generated in chunks to bound temporary memory."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((32, n_genes), dtype=np.float32) / np.float32(np.sqrt(32))
    out = np.empty((n, n_genes), dtype=np.float32)
    for s in range(0, n, chunk):
        k = min(chunk, n - s)
        z = rng.standard_normal((k, 32), dtype=np.float32)
        out[s : s + k] = z @ basis + 0.5 * rng.standard_normal((k, n_genes), dtype=np.float32)
    return out


def iteration(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x_target: torch.Tensor,
    x_source: np.ndarray,
    batch_idx: torch.Tensor,
    source_batch_size: int,
    device: torch.device,
    out: np.ndarray,
) -> None:
    """One target step plus scoring of all source rows (before the optimiser update)."""
    xb = x_target[batch_idx]
    grads = target_gradient(model, mse_loss_per_sample, xb, xb)
    for s in range(0, x_source.shape[0], source_batch_size):
        xs = torch.from_numpy(x_source[s : s + source_batch_size]).to(device, non_blocking=True)
        sim = gradient_similarity(model, mse_loss_per_sample, xs, xs, grads)
        out[s : s + xs.shape[0]] = sim.cpu().numpy()
    named = dict(model.named_parameters())
    for k, g in grads.items():
        named[k].grad = g
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def time_device(
    device: torch.device,
    x_source: np.ndarray,
    x_target_np: np.ndarray,
    args: argparse.Namespace,
) -> tuple[float, np.ndarray]:
    torch.manual_seed(0)
    model = Autoencoder(x_source.shape[1], hidden=256, latent=64, n_hidden_layers=2).to(device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x_target = torch.from_numpy(x_target_np).to(device)
    rng = np.random.default_rng(0)
    out = np.empty(x_source.shape[0], dtype=np.float32)
    first = np.empty_like(out)
    times = []
    for it in range(args.iterations):
        idx = torch.from_numpy(rng.permutation(x_target.shape[0])[: args.target_batch_size])
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        iteration(model, optimizer, x_target, x_source, idx.to(device), args.source_batch_size,
                  device, out)  # fmt: skip
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        if it == 0:
            first[:] = out
        print(f"   {device.type} iteration {it}: {times[-1]:.2f} s "
              f"({x_source.shape[0] / times[-1]:,.0f} source samples/s)")  # fmt: skip
    return statistics.median(times), first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-source", type=int, default=710_000)
    parser.add_argument("--n-target", type=int, default=5_000)
    parser.add_argument("--n-genes", type=int, default=978)
    parser.add_argument("--target-batch-size", type=int, default=500)
    parser.add_argument("--source-batch-size", type=int, default=5_000)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--steps", type=int, default=500, help="steps of a full seed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--check-rows", type=int, default=20_000, help="CUDA vs CPU subset")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    x_source = synthetic_profiles(args.n_source, args.n_genes, seed=1)
    x_target = synthetic_profiles(args.n_target, args.n_genes, seed=2)
    print(f"synthetic data: source {x_source.shape} ({x_source.nbytes / 2**30:.2f} GiB), "
          f"target {x_target.shape}, generated in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    print(f"threads={torch.get_num_threads()} target_batch_size={args.target_batch_size} "
          f"source_batch_size={args.source_batch_size}")  # fmt: skip

    cpu_s, _ = time_device(torch.device("cpu"), x_source, x_target, args)
    cpu_hours = cpu_s * args.steps / 3600
    print(f"cpu: {cpu_s:.2f} s per iteration (median), {args.n_source / cpu_s:,.0f} samples/s, "
          f"projected {args.steps} steps = {cpu_hours:.2f} h")  # fmt: skip
    hours = cpu_hours
    if torch.cuda.is_available():
        cuda_s, cuda_first = time_device(torch.device("cuda"), x_source, x_target, args)
        k = min(args.check_rows, args.n_source)
        sub = argparse.Namespace(**{**vars(args), "iterations": 1})
        _, cpu_first = time_device(torch.device("cpu"), x_source[:k], x_target, sub)
        diff = float(np.abs(cuda_first[:k] - cpu_first).max())
        print(f"cuda vs cpu on {k:,} rows (first iteration): max abs diff {diff:.2e} "
              f"({'ok' if diff < 1e-4 else 'ABOVE 1e-4'})")  # fmt: skip
        hours = cuda_s * args.steps / 3600
        print(f"cuda: {cuda_s:.3f} s per iteration, {args.n_source / cuda_s:,.0f} samples/s, "
              f"projected {args.steps} steps = {hours:.3f} h, speed-up x{cpu_s / cuda_s:.1f}")  # fmt: skip
    print(f"projected_seed_hours={hours:.3f}")


if __name__ == "__main__":
    main()
