"""Autoencoders: a fully connected one for L1000 profiles and a small convolutional one for images."""

from __future__ import annotations

from torch import Tensor, nn


def _dense_block(n_in: int, n_out: int, dropout: float) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Linear(n_in, n_out), nn.Mish()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return layers


class Autoencoder(nn.Module):
    """Fully connected autoencoder with Mish activations.

    With the defaults the layers are ``Linear(n, hidden) - Mish - [Dropout] - Linear(hidden, latent)
    - Mish - [Dropout]`` (``encoder``) and ``Linear(latent, hidden) - Mish - [Dropout] -
    Linear(hidden, n)`` (``decoder``); for ``n_features=978`` that is 535,058 parameters.
    ``n_hidden_layers`` adds further ``Linear(hidden, hidden)`` layers on each side (``2`` gives
    978-256-256-64-256-256-978, 666,642 parameters). Every parameter lives in an ``nn.Linear``
    applied once per sample, so the closed-form similarity engine covers it.
    """

    def __init__(
        self,
        n_features: int,
        hidden: int = 256,
        latent: int = 64,
        dropout: float = 0.0,
        n_hidden_layers: int = 1,
    ) -> None:
        super().__init__()
        if n_features < 1 or hidden < 1 or latent < 1:
            raise ValueError(
                f"Autoencoder widths must be positive, got n_features={n_features}, "
                f"hidden={hidden}, latent={latent}"
            )
        if n_hidden_layers < 1:
            raise ValueError(f"n_hidden_layers must be >= 1, got {n_hidden_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        enc: list[nn.Module] = _dense_block(n_features, hidden, dropout)
        for _ in range(n_hidden_layers - 1):
            enc += _dense_block(hidden, hidden, dropout)
        enc += _dense_block(hidden, latent, dropout)
        dec: list[nn.Module] = _dense_block(latent, hidden, dropout)
        for _ in range(n_hidden_layers - 1):
            dec += _dense_block(hidden, hidden, dropout)
        dec.append(nn.Linear(hidden, n_features))
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


class ConvAutoencoder(nn.Module):
    """Small convolutional autoencoder for ``(n, channels, 32, 32)`` images (CIFAR10).

    Convolutions are outside the closed-form engine, so similarities use the ``torch.func``
    fallback for this model.
    """

    def __init__(self, channels: int = 3, width: int = 16, latent: int = 32) -> None:
        super().__init__()
        if channels < 1 or width < 1 or latent < 1:
            raise ValueError(
                f"ConvAutoencoder sizes must be positive, got channels={channels}, "
                f"width={width}, latent={latent}"
            )
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, width, 3, stride=2, padding=1),  # 16x16
            nn.Mish(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),  # 8x8
            nn.Mish(),
            nn.Conv2d(2 * width, latent, 3, stride=2, padding=1),  # 4x4
            nn.Mish(),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(latent, 2 * width, 4, stride=2, padding=1),  # 8x8
            nn.Mish(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),  # 16x16
            nn.Mish(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),  # 32x32
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))
