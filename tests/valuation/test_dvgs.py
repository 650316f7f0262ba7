"""The DVGS loop: determinism, sharding, checkpoint resume, planted label noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from dvgs.models.autoencoder import Autoencoder
from dvgs.models.mlp import MLPClassifier
from dvgs.valuation.dvgs import DVGSSettings, ValuationResult, value_sources
from dvgs.valuation.engine import cross_entropy_per_sample, mse_loss_per_sample

N_FEATURES = 8


def make_classification(
    n_target: int = 120, n_source: int = 300, flip: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=N_FEATURES)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
        return x, (x @ w > 0).astype(np.int64)

    xt, yt = draw(n_target)
    xs, ys = draw(n_source)
    flipped = rng.random(n_source) < flip
    ys[flipped] = 1 - ys[flipped]
    return xt, yt, xs, ys, flipped


def mlp() -> MLPClassifier:
    return MLPClassifier(N_FEATURES, hidden=16)


SMALL = DVGSSettings(epochs=4, target_batch_size=50, source_batch_size=64, threads=1)


def run(settings: DVGSSettings = SMALL, seed: int = 0, **kwargs: object) -> ValuationResult:
    xt, yt, xs, ys, _ = make_classification()
    return value_sources(
        mlp,
        cross_entropy_per_sample,
        xt,
        yt,
        xs,
        ys,
        settings,
        seed,
        **kwargs,  # type: ignore[arg-type]
    )


def test_result_shapes_and_snapshot_count() -> None:
    settings = DVGSSettings(
        epochs=3,
        target_batch_size=50,
        source_batch_size=64,
        every=2,
        restarts=2,
        keep_trace=True,
        threads=1,
    )
    result = run(settings)
    steps = 3 * 3  # 120 target rows in batches of 50 -> 3 steps per epoch
    assert result.n_snapshots == 2 * len(range(0, steps, 2))
    assert result.mean.shape == result.var.shape == (300,)
    assert result.mean.dtype == result.var.dtype == np.float64
    assert result.trace is not None and result.trace.shape == (result.n_snapshots, 300)
    assert result.trace.dtype == np.float32
    np.testing.assert_allclose(result.mean, result.trace.astype(np.float64).mean(0), atol=1e-6)
    np.testing.assert_allclose(result.var, result.trace.astype(np.float64).var(0), atol=1e-6)
    np.testing.assert_array_equal(result.indices, np.arange(300))
    assert np.all(np.abs(result.mean) <= 1 + 1e-6)


def test_same_seed_same_values_and_rng_untouched() -> None:
    state = torch.get_rng_state()
    a, b = run(seed=5), run(seed=5)
    torch.testing.assert_close(torch.get_rng_state(), state)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.var, b.var)
    assert not np.allclose(run(seed=6).mean, a.mean)


@pytest.mark.parametrize("source_mode", ["eval", "train"])
def test_shards_concatenate_to_unsharded_run(source_mode: str) -> None:
    settings = DVGSSettings(
        epochs=3, target_batch_size=50, source_batch_size=64, source_mode=source_mode,  # type: ignore[arg-type]
        keep_trace=True, threads=1,
    )  # fmt: skip
    full = run(settings, seed=2)
    shards = [run(settings, seed=2, shard_index=i, n_shards=3) for i in range(3)]
    merged = ValuationResult.concat(shards)
    np.testing.assert_array_equal(merged.indices, np.arange(300))
    assert np.abs(merged.mean - full.mean).max() < 1e-6
    assert np.abs(merged.var - full.var).max() < 1e-6
    assert merged.trace is not None and full.trace is not None
    assert np.abs(merged.trace - full.trace).max() < 1e-6


def test_train_and_eval_source_modes_differ() -> None:
    a = run(DVGSSettings(epochs=2, target_batch_size=50, source_mode="eval", threads=1))
    b = run(DVGSSettings(epochs=2, target_batch_size=50, source_mode="train", threads=1))
    assert not np.allclose(a.mean, b.mean)
    assert np.corrcoef(a.mean, b.mean)[0, 1] > 0.5


class Interrupt(RuntimeError):
    pass


@pytest.mark.parametrize("stop_at", [(0, 1), (0, 2), (1, 0)])
def test_checkpoint_resume_equals_uninterrupted(tmp_path: Path, stop_at: tuple[int, int]) -> None:
    settings = DVGSSettings(
        epochs=3, target_batch_size=50, source_batch_size=64, restarts=2, source_mode="train",
        keep_trace=True, threads=1,
    )  # fmt: skip
    expected = run(settings, seed=3)
    ckpt = tmp_path / "state.pt"

    def stop(restart: int, epoch: int) -> None:
        if (restart, epoch) == stop_at:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(settings, seed=3, checkpoint_path=ckpt, on_epoch_end=stop)
    assert ckpt.exists()
    resumed = run(settings, seed=3, checkpoint_path=ckpt)
    assert resumed.n_snapshots == expected.n_snapshots
    np.testing.assert_array_equal(resumed.mean, expected.mean)
    np.testing.assert_array_equal(resumed.var, expected.var)
    np.testing.assert_array_equal(resumed.trace, expected.trace)  # type: ignore[arg-type]
    assert ckpt.exists()  # the caller removes it
    # a finished checkpoint resumes to the same result without training
    again = run(settings, seed=3, checkpoint_path=ckpt)
    np.testing.assert_array_equal(again.mean, expected.mean)


def test_checkpoint_from_other_run_is_rejected(tmp_path: Path) -> None:
    ckpt = tmp_path / "state.pt"
    run(SMALL, seed=1, checkpoint_path=ckpt)
    with pytest.raises(ValueError, match="different run"):
        run(SMALL, seed=2, checkpoint_path=ckpt)


def test_recovers_flipped_labels() -> None:
    xt, yt, xs, ys, flipped = make_classification(n_target=400, n_source=600, seed=0)
    settings = DVGSSettings(epochs=25, target_batch_size=200, class_balanced=True, threads=1)
    result = value_sources(
        lambda: MLPClassifier(N_FEATURES, hidden=32), cross_entropy_per_sample, xt, yt, xs, ys,
        settings, seed=0,
    )  # fmt: skip
    auroc = roc_auc_score(flipped, -result.mean)
    assert auroc > 0.7, auroc


def test_autoencoder_values_noisy_rows_lower() -> None:
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 20))

    def draw(n: int) -> np.ndarray:
        return (rng.normal(size=(n, 3)) @ basis).astype(np.float32)

    xt, xs = draw(200), draw(300)
    noisy = np.zeros(300, dtype=bool)
    noisy[::5] = True
    xs[noisy] += rng.normal(scale=3.0, size=(noisy.sum(), 20)).astype(np.float32)
    settings = DVGSSettings(
        epochs=20,
        target_batch_size=100,
        similarity="cosine",
        param_names=("encoder.0", "decoder"),
        threads=1,
    )
    result = value_sources(
        lambda: Autoencoder(20, hidden=16, latent=4), mse_loss_per_sample, xt, None, xs, None,
        settings, seed=0,
    )  # fmt: skip
    assert roc_auc_score(noisy, -result.mean) > 0.7


def test_result_save_load_roundtrip(tmp_path: Path) -> None:
    result = run(DVGSSettings(epochs=2, target_batch_size=50, keep_trace=True, threads=1))
    path = tmp_path / "values.npz"
    result.save(path)
    loaded = ValuationResult.load(path)
    np.testing.assert_array_equal(loaded.mean, result.mean)
    np.testing.assert_array_equal(loaded.var, result.var)
    np.testing.assert_array_equal(loaded.indices, result.indices)  # type: ignore[arg-type]
    np.testing.assert_array_equal(loaded.trace, result.trace)  # type: ignore[arg-type]
    assert loaded.n_snapshots == result.n_snapshots
    assert [p.name for p in tmp_path.iterdir()] == ["values.npz"]


def test_concat_rejects_mismatched_snapshots() -> None:
    a = ValuationResult(np.zeros(2), np.zeros(2), 3)
    b = ValuationResult(np.zeros(2), np.zeros(2), 4)
    with pytest.raises(ValueError, match="n_snapshots"):
        ValuationResult.concat([a, b])


@pytest.mark.parametrize(
    "kwargs",
    [{"epochs": 0}, {"every": 0}, {"optimizer": "rmsprop"}, {"similarity": "l1"}, {"lr": 0.0},
     {"source_mode": "test"}],
)  # fmt: skip
def test_settings_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="DVGSSettings"):
        DVGSSettings(**kwargs)  # type: ignore[arg-type]


def test_input_validation() -> None:
    xt, yt, xs, ys, _ = make_classification()
    with pytest.raises(ValueError, match="shard_index"):
        value_sources(
            mlp, cross_entropy_per_sample, xt, yt, xs, ys, SMALL, 0, shard_index=3, n_shards=3
        )
    with pytest.raises(ValueError, match="y_source"):
        value_sources(mlp, cross_entropy_per_sample, xt, yt, xs, ys[:10], SMALL, 0)
    with pytest.raises(ValueError, match="integer class labels"):
        value_sources(
            mlp, cross_entropy_per_sample, xt, yt.astype(np.float32), xs, ys,
            DVGSSettings(epochs=1, class_balanced=True, threads=1), 0,
        )  # fmt: skip


def test_sgd_and_param_subset_run() -> None:
    settings = DVGSSettings(
        epochs=2,
        target_batch_size=50,
        optimizer="sgd",
        param_names=("net.8",),
        similarity="dot",
        threads=1,
    )
    result = run(settings)
    assert np.isfinite(result.mean).all()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only guard")
def test_bfloat16_precision_needs_cuda() -> None:
    x = np.random.default_rng(0).standard_normal((40, 8)).astype(np.float32)
    settings = DVGSSettings(epochs=1, target_batch_size=10, precision="bfloat16", device="cpu")
    with pytest.raises(ValueError, match="valuation.precision"):
        value_sources(
            lambda: Autoencoder(8, hidden=4, latent=2), mse_loss_per_sample, x[:20], None,
            x[20:], None, settings, seed=0,
        )  # fmt: skip
    with pytest.raises(ValueError, match="precision"):
        DVGSSettings(precision="float16")
