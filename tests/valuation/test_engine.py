"""The similarity engine against a slow loop of ``torch.autograd.grad`` over single samples."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from dvgs.models.autoencoder import Autoencoder, ConvAutoencoder
from dvgs.models.mlp import MLPClassifier
from dvgs.valuation.engine import (
    SIMILARITIES,
    LossFn,
    closed_form_supported,
    cross_entropy_per_sample,
    gradient_similarity,
    mse_loss_per_sample,
    select_parameters,
    target_gradient,
)

F64 = torch.float64


def reference_similarity(
    model: nn.Module,
    loss_fn: LossFn,
    x: Tensor,
    y: Tensor,
    target_grad: dict[str, Tensor],
    similarity: str,
    param_names: Sequence[str] | None = None,
) -> Tensor:
    """Per-sample gradients one sample at a time, flattened; similarities written out."""
    params = select_parameters(model, param_names)
    rows = []
    for k in range(x.shape[0]):
        loss = loss_fn(model(x[k : k + 1]), y[k : k + 1]).sum()
        grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (g if g is not None else torch.zeros_like(p)).flatten()
                    for g, p in zip(grads, params.values(), strict=True)
                ]
            )
        )
    g = torch.stack(rows).double()
    target = torch.cat([target_grad[n].flatten() for n in params]).double()
    dot = g @ target
    if similarity == "dot":
        return dot
    if similarity == "projection":
        return dot / target.norm()
    if similarity == "cosine":
        return dot / (g.norm(dim=1) * target.norm())
    if similarity == "euclidean":
        return (g - target).norm(dim=1)
    raise AssertionError(similarity)


def assert_rel_close(
    actual: Tensor, expected: Tensor, rtol: float = 1e-5, scale: float | None = None
) -> None:
    actual, expected = actual.double().cpu(), expected.double().cpu()
    scale = expected.abs().max().clamp_min(1e-30) if scale is None else scale
    err = (actual - expected).abs().max() / scale
    assert err < rtol, f"relative error {err:.3g} >= {rtol}"


def assert_similarity_close(
    actual: Tensor,
    expected: Tensor,
    similarity: str,
    target_grad: dict[str, Tensor],
    rtol: float = 1e-5,
) -> None:
    """Euclidean distances come from ``||g||^2 - 2<g, G> + ||G||^2``, which cancels when
    ``g ~ G``: compare squared distances on the scale of ``||G||^2 + max ||g||^2``.
    """
    if similarity != "euclidean":
        assert_rel_close(actual, expected, rtol)
        return
    target_sq = sum(float(v.double().pow(2).sum()) for v in target_grad.values())
    scale = target_sq + float(expected.double().pow(2).max())
    assert_rel_close(actual.double() ** 2, expected.double() ** 2, rtol, scale)


def classifier_case(
    n: int = 9, bias: bool = True, seed: int = 0
) -> tuple[nn.Module, LossFn, Tensor, Tensor]:
    torch.manual_seed(seed)
    model = MLPClassifier(6, 3, hidden=8, dropout=0.0, bias=bias).to(F64)
    x = torch.randn(n, 6, dtype=F64)
    y = torch.randint(0, 3, (n,))
    return model, cross_entropy_per_sample, x, y


def autoencoder_case(n: int = 7, seed: int = 0) -> tuple[nn.Module, LossFn, Tensor, Tensor]:
    torch.manual_seed(seed)
    model = Autoencoder(12, hidden=7, latent=3).to(F64)
    x = torch.randn(n, 12, dtype=F64)
    return model, mse_loss_per_sample, x, x


CASES = {
    "mlp_bias": lambda: classifier_case(bias=True),
    "mlp_nobias": lambda: classifier_case(bias=False),
    "autoencoder": autoencoder_case,
    "batch_of_one": lambda: classifier_case(n=1),
}


@pytest.mark.parametrize("similarity", SIMILARITIES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_closed_form_matches_reference(case: str, similarity: str) -> None:
    model, loss_fn, x, y = CASES[case]()
    target = target_gradient(model, loss_fn, x[:4], y[:4])
    assert closed_form_supported(model)
    got = gradient_similarity(model, loss_fn, x, y, target, similarity, method="closed")
    assert got.shape == (x.shape[0],)
    assert got.dtype == F64
    assert_similarity_close(
        got, reference_similarity(model, loss_fn, x, y, target, similarity), similarity, target
    )


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_mlp_with_dropout_in_eval_mode(similarity: str) -> None:
    torch.manual_seed(1)
    model = MLPClassifier(5, 2, hidden=6, dropout=0.5).to(F64).eval()
    x, y = torch.randn(8, 5, dtype=F64), torch.randint(0, 2, (8,))
    target = target_gradient(model, cross_entropy_per_sample, x, y)
    got = gradient_similarity(model, cross_entropy_per_sample, x, y, target, similarity)
    expected = reference_similarity(model, cross_entropy_per_sample, x, y, target, similarity)
    assert_similarity_close(got, expected, similarity, target)


@pytest.mark.parametrize(
    ("case", "names"),
    [
        ("mlp_bias", ["net.0"]),
        ("mlp_bias", ["net.6.weight"]),  # weight only: no "+1" bias term
        ("mlp_bias", ["net.3.bias", "net.6"]),  # bias only on one layer
        ("mlp_nobias", ["net.3"]),
        ("autoencoder", ["encoder.0", "decoder"]),
        ("autoencoder", ["decoder.2"]),
    ],
)
@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_parameter_subsets(case: str, names: list[str], similarity: str) -> None:
    model, loss_fn, x, y = CASES[case]()
    target = target_gradient(model, loss_fn, x[:3], y[:3], param_names=names)
    assert set(target) == set(select_parameters(model, names))
    got = gradient_similarity(model, loss_fn, x, y, target, similarity, param_names=names)
    expected = reference_similarity(model, loss_fn, x, y, target, similarity, names)
    assert_similarity_close(got, expected, similarity, target)


def test_mean_and_sum_target_reduction() -> None:
    model, loss_fn, x, y = classifier_case()
    mean = target_gradient(model, loss_fn, x, y, reduction="mean")
    total = target_gradient(model, loss_fn, x, y, reduction="sum")
    for k in mean:
        torch.testing.assert_close(total[k], mean[k] * x.shape[0])
    cos_mean = gradient_similarity(model, loss_fn, x, y, mean, "cosine")
    cos_sum = gradient_similarity(model, loss_fn, x, y, total, "cosine")
    torch.testing.assert_close(cos_mean, cos_sum)
    dot_mean = gradient_similarity(model, loss_fn, x, y, mean, "dot")
    dot_sum = gradient_similarity(model, loss_fn, x, y, total, "dot")
    torch.testing.assert_close(dot_sum, dot_mean * x.shape[0])
    for similarity in SIMILARITIES:
        got = gradient_similarity(model, loss_fn, x, y, total, similarity)
        assert_similarity_close(
            got, reference_similarity(model, loss_fn, x, y, total, similarity), similarity, total
        )


def test_sample_weight_target_gradient() -> None:
    model, loss_fn, x, y = classifier_case()
    w = torch.rand(x.shape[0], dtype=F64)
    got = target_gradient(model, loss_fn, x, y, sample_weight=w)
    params = list(model.parameters())
    loss = (w * loss_fn(model(x), y)).sum() / w.sum()
    for g, e in zip(got.values(), torch.autograd.grad(loss, params), strict=True):
        torch.testing.assert_close(g, e)
    with pytest.raises(ValueError, match="sample_weight"):
        target_gradient(model, loss_fn, x, y, sample_weight=w[:2])


@settings(max_examples=12, deadline=None)
@given(
    n_features=st.integers(1, 6),
    hidden=st.integers(1, 6),
    depth=st.integers(0, 3),
    n=st.integers(1, 6),
    n_classes=st.integers(2, 4),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_closed_form_matches_reference(
    n_features: int, hidden: int, depth: int, n: int, n_classes: int, bias: bool, seed: int
) -> None:
    torch.manual_seed(seed)
    model = MLPClassifier(
        n_features, n_classes, hidden=hidden, n_hidden_layers=depth, dropout=0.0, bias=bias,
        instance_norm=hidden > 1,
    ).to(F64)  # fmt: skip
    x = torch.randn(n, n_features, dtype=F64)
    y = torch.randint(0, n_classes, (n,))
    target = target_gradient(model, cross_entropy_per_sample, x, y)
    for similarity in SIMILARITIES:
        got = gradient_similarity(model, cross_entropy_per_sample, x, y, target, similarity)
        expected = reference_similarity(model, cross_entropy_per_sample, x, y, target, similarity)
        assert_similarity_close(got, expected, similarity, target)


def test_values_permute_with_samples() -> None:
    model, loss_fn, x, y = autoencoder_case(n=10)
    target = target_gradient(model, loss_fn, x[:5], y[:5])
    perm = torch.randperm(10)
    base = gradient_similarity(model, loss_fn, x, y, target)
    torch.testing.assert_close(
        gradient_similarity(model, loss_fn, x[perm], y[perm], target), base[perm]
    )


def test_float32_close_to_float64() -> None:
    model, loss_fn, x, y = autoencoder_case(n=16)
    target = target_gradient(model, loss_fn, x, y)
    expected = gradient_similarity(model, loss_fn, x, y, target)
    model32 = model.float()
    target32 = {k: v.float() for k, v in target.items()}
    got = gradient_similarity(model32, loss_fn, x.float(), x.float(), target32)
    assert got.dtype == torch.float32
    assert_rel_close(got, expected, rtol=1e-4)


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_vmap_matches_reference_on_mlp(similarity: str) -> None:
    model, loss_fn, x, y = classifier_case()
    target = target_gradient(model, loss_fn, x, y)
    got = gradient_similarity(model, loss_fn, x, y, target, similarity, method="vmap", chunk_size=4)
    assert_similarity_close(
        got, reference_similarity(model, loss_fn, x, y, target, similarity), similarity, target
    )


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_fallback_conv_autoencoder(similarity: str) -> None:
    torch.manual_seed(0)
    model = ConvAutoencoder(channels=2, width=3, latent=4).to(F64)
    x = torch.randn(5, 2, 32, 32, dtype=F64)
    target = target_gradient(model, mse_loss_per_sample, x[:3], x[:3])
    assert not closed_form_supported(model)
    got = gradient_similarity(model, mse_loss_per_sample, x, x, target, similarity, chunk_size=2)
    assert_rel_close(
        got, reference_similarity(model, mse_loss_per_sample, x, x, target, similarity)
    )
    with pytest.raises(ValueError, match="closed-form"):
        gradient_similarity(model, mse_loss_per_sample, x, x, target, method="closed")


def batchnorm_model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.Mish(), nn.Linear(6, 2)).to(F64)
    with torch.no_grad():  # non-trivial running statistics
        model.train()
        model(torch.randn(32, 5, dtype=F64) * 2 + 1)
    return model


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_fallback_batchnorm_eval(similarity: str) -> None:
    model = batchnorm_model().eval()
    x, y = torch.randn(6, 5, dtype=F64), torch.randint(0, 2, (6,))
    target = target_gradient(model, cross_entropy_per_sample, x, y)
    assert not closed_form_supported(model)  # BatchNorm affine parameters are selected
    assert closed_form_supported(model, ["0", "3"])  # Linear layers only, BatchNorm in eval
    got = gradient_similarity(model, cross_entropy_per_sample, x, y, target, similarity)
    expected = reference_similarity(model, cross_entropy_per_sample, x, y, target, similarity)
    assert_similarity_close(got, expected, similarity, target)


def test_batchnorm_train_mode_uses_fallback_with_running_stats() -> None:
    model = batchnorm_model()
    x, y = torch.randn(6, 5, dtype=F64), torch.randint(0, 2, (6,))
    target = target_gradient(model.eval(), cross_entropy_per_sample, x, y, param_names=["0", "3"])
    expected = gradient_similarity(
        model, cross_entropy_per_sample, x, y, target, param_names=["0", "3"]
    )
    model.train()
    assert not closed_form_supported(model, ["0", "3"])  # BatchNorm couples samples in training
    running = model[1].running_mean.clone()
    got = gradient_similarity(model, cross_entropy_per_sample, x, y, target, param_names=["0", "3"])
    assert_rel_close(got, expected)
    assert model[1].training
    torch.testing.assert_close(model[1].running_mean, running)


class SharedLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(4, 4)
        self.out = nn.Linear(4, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(torch.tanh(self.inner(torch.tanh(self.inner(x)))))


class SequenceLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.lin(x.view(x.shape[0], 2, 3)).sum(dim=1)


@pytest.mark.parametrize("make", [SharedLinear, SequenceLinear])
def test_auto_falls_back_when_linear_not_once_per_sample(make: type[nn.Module]) -> None:
    torch.manual_seed(0)
    model = make().to(F64)
    n_in = 4 if make is SharedLinear else 6
    x, y = torch.randn(5, n_in, dtype=F64), torch.randint(0, 2, (5,))
    target = target_gradient(model, cross_entropy_per_sample, x, y)
    got = gradient_similarity(model, cross_entropy_per_sample, x, y, target)
    assert_rel_close(
        got, reference_similarity(model, cross_entropy_per_sample, x, y, target, "cosine")
    )
    with pytest.raises(ValueError, match="exactly once"):
        gradient_similarity(model, cross_entropy_per_sample, x, y, target, method="closed")


def test_zero_gradient_sample_is_finite() -> None:
    model, loss_fn, x, _ = autoencoder_case(n=3)
    target = target_gradient(model, loss_fn, x, x)
    y = model(x).detach()  # perfect reconstruction: zero own gradient
    got = gradient_similarity(model, loss_fn, x, y, target, "cosine")
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, torch.zeros(3, dtype=F64))


def test_input_errors() -> None:
    model, loss_fn, x, y = classifier_case()
    target = target_gradient(model, loss_fn, x, y)
    with pytest.raises(ValueError, match="similarity"):
        gradient_similarity(model, loss_fn, x, y, target, "manhattan")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="method"):
        gradient_similarity(model, loss_fn, x, y, target, method="fast")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="net.0.weight"):
        gradient_similarity(
            model, loss_fn, x, y, {k: v for k, v in target.items() if k != "net.0.weight"}
        )
    with pytest.raises(KeyError, match="nonexistent"):
        target_gradient(model, loss_fn, x, y, param_names=["nonexistent"])
    with pytest.raises(ValueError, match="same number of rows"):
        gradient_similarity(model, loss_fn, x, y[:3], target)
    with pytest.raises(ValueError, match="per-sample losses"):
        target_gradient(model, lambda o, t: cross_entropy_per_sample(o, t).mean(), x, y)


def test_prefix_selection_is_dotted() -> None:
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(12)])
    assert sorted(select_parameters(model, ["1"])) == ["1.bias", "1.weight"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only guard")
def test_autocast_only_on_cuda() -> None:
    model, loss_fn, x, y = classifier_case()
    target = target_gradient(model, loss_fn, x, y)
    with pytest.raises(ValueError, match="CUDA"):
        gradient_similarity(model, loss_fn, x, y, target, autocast_dtype=torch.bfloat16)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    torch.manual_seed(0)
    model = Autoencoder(50, hidden=32, latent=8)
    x = torch.randn(200, 50)
    target = target_gradient(model, mse_loss_per_sample, x[:64], x[:64])
    expected = gradient_similarity(model, mse_loss_per_sample, x, x, target)
    cuda_model = model.cuda()
    cuda_target = {k: v.cuda() for k, v in target.items()}
    xc = x.cuda()
    for method in ("closed", "vmap"):
        got = gradient_similarity(
            cuda_model, mse_loss_per_sample, xc, xc, cuda_target, method=method
        )
        assert got.device.type == "cuda"
        torch.testing.assert_close(got.cpu(), expected, atol=1e-4, rtol=1e-4)
    bf16 = gradient_similarity(
        cuda_model, mse_loss_per_sample, xc, xc, cuda_target, autocast_dtype=torch.bfloat16
    )
    assert (bf16.cpu() - expected).abs().max() < 5e-2


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bfloat16_keeps_the_ranking_on_the_lincs_autoencoder() -> None:
    """The reduced-precision option exists only because it keeps the ranking (Spearman > 0.999)."""
    from scipy.stats import spearmanr

    torch.manual_seed(0)
    model = Autoencoder(978, hidden=256, latent=64, n_hidden_layers=2).cuda()
    basis = torch.randn(16, 978) / 4
    x = (torch.randn(4000, 16) @ basis + 0.5 * torch.randn(4000, 978)).cuda()
    target = target_gradient(model, mse_loss_per_sample, x[:500], x[:500])
    full = gradient_similarity(model, mse_loss_per_sample, x, x, target)
    bf16 = gradient_similarity(
        model, mse_loss_per_sample, x, x, target, autocast_dtype=torch.bfloat16
    )
    rho = spearmanr(full.cpu().numpy(), bf16.float().cpu().numpy()).statistic
    assert rho > 0.999, rho
