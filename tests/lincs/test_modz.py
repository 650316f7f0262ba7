"""MODZ against CMap's real level-5 CRCGN014 signatures and against a slow reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from dvgs.io.gctx import read_gctx, read_meta
from dvgs.lincs.modz import cc_q75, modz

L4 = "level4/CRCGN014_HEPG2_3H_X1-X3_ZSPC_n6x978.gctx"
L5 = "level5/CRCGN014_HEPG2_3H_MODZ_n3x978.gctx"


def _groups(raw: Path) -> list[tuple[str, np.ndarray, np.ndarray, dict[str, object]]]:
    x4, ids4, genes4 = read_gctx(raw / L4)
    x5, sigs, genes5 = read_gctx(raw / L5, gene_ids=genes4)
    meta = read_meta(raw / L5, "col")
    out = []
    for sig, y in zip(sigs, x5, strict=True):
        members = str(meta.loc[sig, "distil_id"]).split("|")
        x = x4[[ids4.index(m) for m in members]]
        out.append((sig, x, y, meta.loc[sig].to_dict()))
    return out


def _slow_modz(x: np.ndarray, clip: float | None) -> tuple[np.ndarray, np.ndarray]:
    x = x.astype(np.float64)
    if clip is not None:
        x = np.clip(x, -clip, clip)
    n = len(x)
    raw = np.empty(n)
    for i in range(n):
        total = 0.0
        for j in range(n):
            if j != i:
                total += max(spearmanr(x[i], x[j]).statistic, 0.0)
        raw[i] = max(0.5 * total, 0.01)
    w = raw / raw.sum()
    return sum(w[i] * x[i] for i in range(n)), w


def test_weights_match_cmap(lincs_raw_dir: Path) -> None:
    for _, x, _, meta in _groups(lincs_raw_dir):
        _, w = modz(x)
        expected = [float(v) for v in str(meta["distil_wt"]).split(",")]
        np.testing.assert_allclose(w, expected, atol=0.005)  # CMap rounds to 2 decimals


def test_modz_with_cmap_clip_reproduces_level5(lincs_raw_dir: Path) -> None:
    """CMap clips replicate z-scores to [-10, 10] before the collapse: then exact."""
    for _, x, y, _ in _groups(lincs_raw_dir):
        profile, _ = modz(x, clip=10.0)
        np.testing.assert_allclose(profile, y, atol=1e-5)


def test_modz_unclipped_agrees_where_replicates_are_in_range(lincs_raw_dir: Path) -> None:
    for _, x, y, _ in _groups(lincs_raw_dir):
        profile, _ = modz(x)
        in_range = (np.abs(x) <= 10).all(axis=0)
        assert in_range.mean() > 0.96
        # Weights differ slightly: CMap's Spearman runs on the clipped values (ties at +-10).
        np.testing.assert_allclose(profile[in_range], y[in_range], atol=1e-4)


def test_single_replicate_is_itself(lincs_raw_dir: Path) -> None:
    sig, x, y, _ = next(g for g in _groups(lincs_raw_dir) if len(g[1]) == 1)
    profile, w = modz(x)
    np.testing.assert_array_equal(profile, x[0])
    np.testing.assert_array_equal(w, [1.0])
    np.testing.assert_array_equal(np.clip(profile, -10, 10), y)  # level 5 is clipped to +-10


def test_cc_q75_matches_cmap(lincs_raw_dir: Path) -> None:
    for _, x, _, meta in _groups(lincs_raw_dir):
        expected = meta["distil_cc_q75"]
        if len(x) == 1:
            assert np.isnan(cc_q75(x)) and np.isnan(expected)
        else:
            assert cc_q75(x) == pytest.approx(expected, abs=0.005)


@pytest.mark.parametrize("clip", [None, 10.0])
def test_modz_matches_slow_reference(lincs_raw_dir: Path, clip: float | None) -> None:
    for _, x, _, _ in _groups(lincs_raw_dir):
        fast, w_fast = modz(x, clip=clip)
        slow, w_slow = _slow_modz(x, clip)
        np.testing.assert_allclose(w_fast, w_slow, atol=1e-12)
        np.testing.assert_allclose(fast, slow, atol=1e-9)


def test_modz_gene_mask_and_negative_correlations() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal(50)
    x = np.stack([base, base + 0.1 * rng.standard_normal(50), -base])
    profile, w = modz(x, gene_mask=np.arange(40))
    assert (
        w[2] < 0.02
    )  # anti-correlated replicate gets the 0.01 floor before normalising and w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(profile, w @ x)
