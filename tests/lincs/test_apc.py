"""APC streaming pass against np.corrcoef on real L1000 replicates."""

from __future__ import annotations

import itertools
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvgs.io import gctx
from dvgs.lincs.apc import compute_apc, split_distil_ids

RAW = Path(__file__).resolve().parents[2] / "resources" / "lincs" / "raw" / "level4"
CORE = RAW / "CORE001.D1_KJ100_X1-X2_ZSPCINF_n40x12328.gctx"
CRCGN = RAW / "CRCGN014_HEPG2_3H_X1-X3_ZSPC_n6x978.gctx"
LANDMARKS = Path(__file__).resolve().parents[2] / "resources/lincs/raw/geneinfo"


def reference_apc(matrix: np.ndarray) -> float:
    """Mean of the upper triangle of np.corrcoef over replicates (rows)."""
    c = np.corrcoef(matrix.astype(np.float64))
    return float(c[np.triu_indices_from(c, k=1)].mean())


def landmark_entrez() -> list[str]:
    return (LANDMARKS / "landmark_entrez_ids_n978.grp").read_text().split()


def groups_from_meta(path: Path) -> pd.DataFrame:
    meta = gctx.read_meta(path, "col")
    key = meta[["pert_id", "cell_id", "pert_idose", "pert_itime"]].astype(str).agg(":".join, axis=1)
    rows = []
    for k, (name, ids) in enumerate(meta.groupby(key, sort=True).groups.items()):
        ids = [str(i) for i in ids]
        # list replicates out of file order on purpose
        rows.append({"sig_id": f"g{k}:{name}", "distil_ids": "|".join(reversed(ids))})
    return pd.DataFrame(rows)


def test_apc_matches_corrcoef_on_core001_pairs() -> None:
    genes = landmark_entrez()
    signatures = groups_from_meta(CORE)
    assert len(signatures) == 20
    result = compute_apc(CORE, signatures, genes, block_size=7)
    assert (result["apc_status"] == "ok").all()
    for sig, ids in zip(signatures["sig_id"], signatures["distil_ids"], strict=True):
        matrix, _, _ = gctx.read_gctx(CORE, sample_ids=ids.split("|"), gene_ids=genes)
        got = result.loc[result["sig_id"] == sig, "apc"].item()
        assert got == pytest.approx(reference_apc(matrix), abs=1e-6)


def test_apc_statuses_on_crcgn014() -> None:
    probes = gctx.read_ids(CRCGN, "row")
    ids = gctx.read_ids(CRCGN, "col")
    signatures = pd.DataFrame(
        {
            "sig_id": ["triplet", "pair", "single", "missing", "none", "dup"],
            "distil_ids": [
                "|".join([ids[4], ids[0], ids[2]]),
                f"{ids[3]}|{ids[1]}",
                ids[5],
                f"{ids[0]}|NOT_A_SAMPLE:A01",
                "",
                f"{ids[1]}|{ids[3]}|{ids[1]}",
            ],
        }
    )
    result = compute_apc(CRCGN, signatures, probes, block_size=2).set_index("sig_id")
    assert result.loc["triplet", "apc_status"] == "ok"
    matrix, _, _ = gctx.read_gctx(CRCGN, sample_ids=[ids[4], ids[0], ids[2]], gene_ids=probes)
    assert result.loc["triplet", "apc"] == pytest.approx(reference_apc(matrix), abs=1e-6)
    assert result.loc["dup", "apc"] == pytest.approx(result.loc["pair", "apc"], abs=1e-12)
    assert result.loc["single", "apc_status"] == "single_replicate"
    assert result.loc["missing", "apc_status"] == "missing_replicates"
    assert result.loc["missing", "n_replicates_listed"] == 2
    assert result.loc["missing", "n_replicates_used"] == 1
    assert result.loc["none", "apc_status"] == "no_replicates_listed"
    assert result.loc[["single", "missing", "none"], "apc"].isna().all()
    assert len(result) == len(signatures)


def _write(path: Path, matrix: np.ndarray) -> list[str]:
    ids = [f"S{i:04d}" for i in range(matrix.shape[0])]
    genes = [str(g) for g in range(matrix.shape[1])]
    gctx.write_gctx(path, matrix.astype(np.float32), ids, genes)
    return ids


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=8),
    seed=st.integers(0, 2**16),
    block=st.integers(1, 9),
    max_open=st.integers(1, 4),
)
def test_apc_hypothesis_groups(tmp_path_factory, sizes, seed, block, max_open) -> None:
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    matrix = rng.normal(size=(n, 30)) + rng.normal(size=(1, 30))
    path = tmp_path_factory.mktemp("apc") / "l4.gctx"
    ids = _write(path, matrix)
    perm = rng.permutation(n)
    groups, start = [], 0
    for size in sizes:
        groups.append([ids[i] for i in perm[start : start + size]])
        start += size
    signatures = pd.DataFrame(
        {
            "sig_id": [f"sig{k}" for k in range(len(groups))],
            "distil_ids": ["|".join(g) for g in groups],
        }
    )
    result = compute_apc(path, signatures, [str(g) for g in range(30)], block, max_open)
    for k, group in enumerate(groups):
        row = result.iloc[k]
        if len(group) == 1:
            assert row["apc_status"] == "single_replicate"
            continue
        rows = [ids.index(g) for g in group]
        assert row["apc"] == pytest.approx(reference_apc(matrix[rows]), abs=1e-6)


def test_constant_replicate_is_flagged(tmp_path) -> None:
    matrix = np.random.default_rng(0).normal(size=(4, 10))
    matrix[2] = 1.5
    ids = _write(tmp_path / "l4.gctx", matrix)
    signatures = pd.DataFrame(
        {"sig_id": ["a", "b"], "distil_ids": [f"{ids[0]}|{ids[2]}", f"{ids[1]}|{ids[3]}"]}
    )
    result = compute_apc(tmp_path / "l4.gctx", signatures, [str(g) for g in range(10)])
    assert result["apc_status"].tolist() == ["constant_or_nan_replicate", "ok"]
    assert np.isnan(result["apc"].iloc[0])


def test_split_distil_ids() -> None:
    assert split_distil_ids("a|b| c") == ["a", "b", "c"]
    assert split_distil_ids("") == []
    assert split_distil_ids(float("nan")) == []


def test_missing_column_is_named() -> None:
    with pytest.raises(KeyError, match="distil_ids"):
        compute_apc(CRCGN, pd.DataFrame({"sig_id": ["x"]}), ["1"])


def test_bad_settings_and_duplicate_file_ids_are_named(tmp_path) -> None:
    sigs = pd.DataFrame({"sig_id": ["a"], "distil_ids": ["x|y"]})
    with pytest.raises(ValueError, match="block_size must be >= 1, got 0"):
        compute_apc(CRCGN, sigs, ["1"], block_size=0)
    path = tmp_path / "dup.gctx"
    with h5py.File(path, "w") as f:
        f.create_dataset("0/DATA/0/matrix", data=np.zeros((3, 2), dtype=np.float32))
        f.create_dataset("0/META/COL/id", data=np.array([b"x", b"y", b"x"]))
        f.create_dataset("0/META/ROW/id", data=np.array([b"g1", b"g2"]))
    with pytest.raises(ValueError, match=r"dup\.gctx: 1 sample ids occur more than once.*'x'"):
        compute_apc(path, sigs, ["g1", "g2"])


def test_many_signatures_share_blocks_and_rows(tmp_path) -> None:
    """Signatures open across blocks, sharing replicates; accumulator rows are reused."""
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(200, 40)) + rng.normal(size=(1, 40))
    ids = _write(tmp_path / "l4.gctx", matrix)
    groups = [rng.choice(200, size=rng.integers(2, 6), replace=False) for _ in range(150)]
    signatures = pd.DataFrame(
        {
            "sig_id": [f"s{k}" for k in range(len(groups))],
            "distil_ids": ["|".join(ids[i] for i in g) for g in groups],
        }
    )
    genes = [str(g) for g in range(40)]
    for block in (3, 16, 64, 500):
        result = compute_apc(tmp_path / "l4.gctx", signatures, genes, block_size=block)
        want = [reference_apc(matrix[g]) for g in groups]
        np.testing.assert_allclose(result["apc"].to_numpy(), want, atol=1e-9)


def test_identity_used_by_the_pass() -> None:
    """(||sum u||^2 - n) / (n (n-1)) equals the mean pairwise correlation."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 50))
    u = x - x.mean(axis=1, keepdims=True)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    s = u.sum(axis=0)
    pairs = [float(u[i] @ u[j]) for i, j in itertools.combinations(range(5), 2)]
    assert (s @ s - 5) / 20 == pytest.approx(np.mean(pairs))
    assert h5py.__version__
