"""MLP classifier used for the ADULT / BLOG benchmarks (seed-paper architecture)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class FeatureNorm(nn.Module):
    """Per-sample normalisation over the feature dimension, without affine parameters.

    Equivalent to ``InstanceNorm1d`` applied to each row of a ``(n, features)`` batch: each row is
    centred and scaled by its own (biased) standard deviation. No statistics are shared between
    samples, so per-sample gradients stay the gradients of each sample's own loss.
    """

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, unbiased=False, keepdim=True)
        return (x - mean) * torch.rsqrt(var + self.eps)


class MLPClassifier(nn.Module):
    """``Linear -> Dropout -> Mish -> FeatureNorm`` repeated ``n_hidden_layers`` times, then
    ``Linear(hidden, n_classes)`` producing logits.

    ``n_features=108`` (ADULT one-hot) with the defaults is 108-100-100-2.
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int = 2,
        hidden: int = 100,
        n_hidden_layers: int = 2,
        dropout: float = 0.5,
        instance_norm: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if n_features < 1 or n_classes < 1 or hidden < 1:
            raise ValueError(
                f"MLPClassifier sizes must be positive, got n_features={n_features}, "
                f"n_classes={n_classes}, hidden={hidden}"
            )
        if n_hidden_layers < 0:
            raise ValueError(f"n_hidden_layers must be >= 0, got {n_hidden_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = []
        width = n_features
        for _ in range(n_hidden_layers):
            layers.append(nn.Linear(width, hidden, bias=bias))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            layers.append(nn.Mish())
            if instance_norm:
                layers.append(FeatureNorm())
            width = hidden
        layers.append(nn.Linear(width, n_classes, bias=bias))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
