"""Image encoders that turn CIFAR10 images into feature vectors for the supervised benchmarks.

The DVGS paper embeds CIFAR10 with a pretrained InceptionNet. Pretrained weights cannot be
downloaded everywhere, so :func:`load_encoder` takes a user-supplied model file (TorchScript, or a
state dict of :class:`ImageEncoder`) and :func:`train_encoder` otherwise fits a small CNN on the
(clean) target set only.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)


class ImageEncoder(nn.Module):
    """Small CNN for ``(n, 3, 32, 32)`` images in [0, 1]: three strided conv blocks, global average
    pooling, a ``Linear`` to ``embedding_dim`` (``forward`` returns the embedding) and a classifier
    ``head`` used only while training the encoder."""

    def __init__(self, embedding_dim: int = 64, n_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        if embedding_dim < 1 or n_classes < 2 or width < 1:
            raise ValueError(
                f"ImageEncoder sizes must be positive (n_classes >= 2), got embedding_dim="
                f"{embedding_dim}, n_classes={n_classes}, width={width}"
            )
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.Mish(),
            nn.MaxPool2d(2),  # 16x16
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.Mish(),
            nn.MaxPool2d(2),  # 8x8
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.Mish(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(2 * width, embedding_dim),
            nn.Mish(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(embedding_dim, n_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)


def train_encoder(
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 2e-3,
    embedding_dim: int = 64,
    n_classes: int = 10,
) -> ImageEncoder:
    """Fit :class:`ImageEncoder` (+ head) on images ``x`` (n, 3, 32, 32) in [0, 1] with labels ``y``
    by cross-entropy (Adam, random horizontal flips and 2-pixel shifts); seeded by ``seed``."""
    if x.ndim != 4 or x.shape[1:] != (3, 32, 32):
        raise ValueError(f"encoder training images have shape {x.shape}, expected (n, 3, 32, 32)")
    if y.shape != (x.shape[0],):
        raise ValueError(f"encoder training labels have shape {y.shape}, expected ({x.shape[0]},)")
    gen = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng():
        torch.manual_seed(int(seed))
        model = ImageEncoder(embedding_dim, n_classes)
    xt = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * (-(-xt.shape[0] // batch_size))
    )
    model.train()
    n = xt.shape[0]
    with torch.random.fork_rng():
        torch.manual_seed(int(seed) + 1)  # dropout masks
        for epoch in range(epochs):
            order = torch.randperm(n, generator=gen)
            total = 0.0
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                xb = xt[idx]
                flip = torch.rand(xb.shape[0], generator=gen) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
                dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
                xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
                loss = nn.functional.cross_entropy(model.head(model(xb)), yt[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss) * xb.shape[0]
            logger.debug("encoder epoch %d: loss %.4f", epoch, total / n)
    model.eval()
    return model


def load_encoder(path: str | os.PathLike, embedding_dim: int = 64) -> nn.Module:
    """Load a pretrained encoder: a TorchScript file (any module mapping ``(n, 3, 32, 32)`` float
    images in [0, 1] to ``(n, d)`` features) or a state dict of :class:`ImageEncoder`."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: encoder file not found (config key benchmarks.encoder.path)")
    try:
        model = torch.jit.load(str(p), map_location="cpu")
    except (RuntimeError, ValueError):
        state = torch.load(p, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(
                f"{p}: neither TorchScript nor a state dict (got {type(state).__name__})"
            ) from None
        n_classes = int(state["head.1.weight"].shape[0]) if "head.1.weight" in state else 10
        model = ImageEncoder(embedding_dim, n_classes)
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(
                f"{p}: state dict does not fit ImageEncoder(embedding_dim={embedding_dim}): {err}"
            ) from None
    model.eval()
    return model


@torch.no_grad()
def embed(model: nn.Module, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Features of images ``x`` (n, 3, 32, 32) as float32 (n, d), the model in eval mode."""
    model.eval()
    out = []
    for start in range(0, x.shape[0], batch_size):
        xb = torch.as_tensor(np.ascontiguousarray(x[start : start + batch_size], np.float32))
        z = model(xb)
        if z.ndim != 2:
            z = z.reshape(z.shape[0], -1)
        out.append(z.float().numpy())
    return np.concatenate(out, axis=0)
