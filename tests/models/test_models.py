"""Shapes, parameter counts and layer order of the models."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dvgs.models.autoencoder import Autoencoder, ConvAutoencoder
from dvgs.models.mlp import FeatureNorm, MLPClassifier


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_autoencoder_parameter_counts() -> None:
    # 978-256-64-256-978 as specified layer by layer
    assert n_params(Autoencoder(978)) == 535_058
    # one extra hidden layer per side: 978-256-256-64-256-256-978
    assert n_params(Autoencoder(978, n_hidden_layers=2)) == 666_642


def test_autoencoder_layers_and_shape() -> None:
    model = Autoencoder(20, hidden=8, latent=3, dropout=0.1)
    kinds = [type(m) for m in [*model.encoder, *model.decoder]]
    assert kinds == [
        nn.Linear, nn.Mish, nn.Dropout, nn.Linear, nn.Mish, nn.Dropout,
        nn.Linear, nn.Mish, nn.Dropout, nn.Linear,
    ]  # fmt: skip
    assert model(torch.randn(4, 20)).shape == (4, 20)
    assert not any(isinstance(m, nn.Dropout) for m in Autoencoder(20, 8, 3).modules())


def test_mlp_layers_and_shape() -> None:
    model = MLPClassifier(108)
    kinds = [type(m) for m in model.net]
    assert kinds == [
        nn.Linear, nn.Dropout, nn.Mish, FeatureNorm,
        nn.Linear, nn.Dropout, nn.Mish, FeatureNorm, nn.Linear,
    ]  # fmt: skip
    assert model(torch.randn(5, 108)).shape == (5, 2)
    assert n_params(model) == 108 * 100 + 100 + 100 * 100 + 100 + 100 * 2 + 2
    no_bias = MLPClassifier(10, 3, hidden=4, bias=False, instance_norm=False, dropout=0.0)
    assert all(m.bias is None for m in no_bias.modules() if isinstance(m, nn.Linear))
    assert no_bias(torch.randn(2, 10)).shape == (2, 3)


def test_feature_norm_matches_instance_norm() -> None:
    x = torch.randn(7, 50, dtype=torch.float64)
    expected = nn.InstanceNorm1d(1)(x.unsqueeze(1)).squeeze(1)
    torch.testing.assert_close(FeatureNorm()(x), expected)


def test_feature_norm_is_per_sample() -> None:
    x = torch.randn(6, 9)
    out = FeatureNorm()(x)
    torch.testing.assert_close(FeatureNorm()(x[2:3]), out[2:3])


def test_conv_autoencoder_shape() -> None:
    model = ConvAutoencoder(channels=3, width=4, latent=8)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3, 32, 32)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Autoencoder(0),
        lambda: Autoencoder(10, dropout=1.0),
        lambda: Autoencoder(10, n_hidden_layers=0),
        lambda: MLPClassifier(10, hidden=0),
        lambda: MLPClassifier(10, dropout=-0.1),
        lambda: ConvAutoencoder(channels=0),
    ],
)
def test_invalid_sizes_raise(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]
