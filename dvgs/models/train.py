"""Plain, seeded training loops used by filter curves and baselines."""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when it is available, the CPU otherwise."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def train_reconstruction(
    model: nn.Module,
    x: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    weight_decay: float = 0.0,
    device: str = "auto",
) -> nn.Module:
    """Train ``model`` to reconstruct ``x`` (MSE, Adam), mini-batches drawn with ``seed``."""
    dev = resolve_device(device)
    model = model.to(dev)
    data = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32), device=dev)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    n = data.shape[0]
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(dev)
        for start in range(0, n, batch_size):
            batch = data[order[start : start + batch_size]]
            optimiser.zero_grad(set_to_none=True)
            loss = torch.mean((model(batch) - batch) ** 2)
            loss.backward()
            optimiser.step()
    model.eval()
    return model


@torch.no_grad()
def reconstruction_r2(model: nn.Module, x: np.ndarray, batch_size: int = 8192) -> float:
    """R^2 of the reconstruction of ``x``: 1 - SSE / SST with SST around each gene's mean."""
    dev = next(model.parameters()).device
    model.eval()
    sse = 0.0
    for start in range(0, x.shape[0], batch_size):
        batch = torch.as_tensor(np.ascontiguousarray(x[start : start + batch_size], np.float32))
        pred = model(batch.to(dev)).cpu().double().numpy()
        sse += float(((pred - batch.double().numpy()) ** 2).sum())
    sst = float(((x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)) ** 2).sum())
    return 1.0 - sse / sst
