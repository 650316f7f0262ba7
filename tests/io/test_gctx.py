"""GCTX reader/writer on the real CMap files and on round trips."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvgs.io.gctx import (
    GctxWriter,
    decode_ids,
    iter_blocks,
    read_gctx,
    read_ids,
    read_meta,
    write_gctx,
)

CORE001 = "level4/CORE001.D1_KJ100_X1-X2_ZSPCINF_n40x12328.gctx"
REP = "level4/REP.A007_A375_24H_X1-X3_ZSPC_n9x22268.gctx"
CMAP_MODZ = "level5/CMAP_MODZ_3cpds_n272x978.gctx"
CRCGN5 = "level5/CRCGN014_HEPG2_3H_MODZ_n3x978.gctx"
DOSVAL = "level4/DOSVAL003_HCC515_24H_DMSO_X1-X3_ZSPC_n12x978.gctx"
LJP005_SHIFTED = "level4/LJP005_A375_24H_X1_B19_ZSPC_plus0.8596_n377x978.gctx"


def _raw_matrix(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["0/DATA/0/matrix"][()]


def test_bytes_ids_real_file(lincs_raw_dir: Path) -> None:
    samples = read_ids(lincs_raw_dir / CORE001, "col")
    genes = read_ids(lincs_raw_dir / CORE001, "row")
    assert samples[0] == "CORE001.D1_KJ100_24H_X1_C3:A10"
    assert genes[:2] == ["780", "7849"]  # Entrez ids stored as bytes
    assert len(samples) == 40 and len(genes) == 12328
    assert all(isinstance(x, str) for x in samples + genes)


def test_latin1_metadata(lincs_raw_dir: Path) -> None:
    meta = read_meta(lincs_raw_dir / CMAP_MODZ, "col")
    assert "10 µM" in set(meta["pert_idose"])
    assert meta.index.dtype == object or str(meta.index.dtype) == "str"


def test_minus666_to_nan_real(lincs_raw_dir: Path) -> None:
    meta = read_meta(lincs_raw_dir / CRCGN5, "col")
    cc = meta.loc["HEPG2:3:BRD-K34157611", "distil_cc_q75"]  # stored as string "-666.00"
    assert np.isnan(cc)
    assert meta.loc["HEPG2:3:BRD-K88925363", "distil_cc_q75"] == pytest.approx(0.34)
    dosval = read_meta(lincs_raw_dir / DOSVAL, "col")
    assert dosval["pert_idose"].isna().all()  # string "-666"
    assert dosval["pert_dose"].isna().all()  # float32 -666


def test_int_ids_and_int_minus666(tmp_path: Path) -> None:
    path = tmp_path / "int_ids.gctx"
    with h5py.File(path, "w") as f:
        f.create_dataset("0/DATA/0/matrix", data=np.arange(6, dtype=np.float32).reshape(2, 3))
        f.create_dataset("0/META/COL/id", data=np.array([10, 20]))
        f.create_dataset("0/META/COL/dose", data=np.array([-666, 5]))
        f.create_dataset("0/META/ROW/id", data=np.array([5720, 466, 7]))
    assert read_ids(path, "col") == ["10", "20"]
    mat, samples, genes = read_gctx(path, sample_ids=["20"], gene_ids=["7", "5720"])
    np.testing.assert_array_equal(mat, [[5.0, 3.0]])
    assert samples == ["20"] and genes == ["7", "5720"]
    meta = read_meta(path, "col")
    assert np.isnan(meta.loc["10", "dose"]) and meta.loc["20", "dose"] == 5


def test_read_subset_matches_raw_chunked(lincs_raw_dir: Path) -> None:
    """CORE001 is chunked (40, 1000) over 12328 genes: selection must match plain indexing."""
    path = lincs_raw_dir / CORE001
    raw = _raw_matrix(path)
    samples = read_ids(path, "col")
    genes = read_ids(path, "row")
    rng = np.random.default_rng(0)
    s_idx = rng.choice(len(samples), 15, replace=True)
    g_idx = rng.choice(len(genes), 300, replace=False)
    mat, s_out, g_out = read_gctx(path, [samples[i] for i in s_idx], [genes[i] for i in g_idx])
    np.testing.assert_array_equal(mat, raw[np.ix_(s_idx, g_idx)])
    assert s_out == [samples[i] for i in s_idx]
    assert g_out == [genes[i] for i in g_idx]


def test_read_contiguous_layout(lincs_raw_dir: Path) -> None:
    path = lincs_raw_dir / LJP005_SHIFTED  # unchunked, int64 metadata
    raw = _raw_matrix(path)
    samples = read_ids(path, "col")
    mat, _, _ = read_gctx(path, samples[::-1])
    np.testing.assert_array_equal(mat, raw[::-1])


def test_unknown_id_keyerror_names_file(lincs_raw_dir: Path) -> None:
    path = lincs_raw_dir / REP
    with pytest.raises(KeyError, match=r"REP\.A007.*nope_1"):
        read_gctx(path, sample_ids=["nope_1", "nope_2"])
    with pytest.raises(KeyError, match="REP.A007"):
        read_gctx(path, gene_ids=["not_a_probe"])


@pytest.mark.parametrize("block_size", [1, 7, 4096])
def test_iter_blocks_equals_full_read(lincs_raw_dir: Path, block_size: int) -> None:
    path = lincs_raw_dir / REP
    genes = read_ids(path, "row")[:978][::-1]
    full, samples, _ = read_gctx(path, gene_ids=genes)
    ids: list[str] = []
    blocks: list[np.ndarray] = []
    for block_ids, block in iter_blocks(path, gene_ids=genes, block_size=block_size):
        assert block.shape[0] <= block_size
        ids += block_ids
        blocks.append(block)
    assert ids == samples
    np.testing.assert_array_equal(np.concatenate(blocks), full)


def test_write_layout_and_meta(tmp_path: Path) -> None:
    path = tmp_path / "out.gctx"
    mat = np.arange(12, dtype=np.float32).reshape(3, 4)
    col = pd.DataFrame(
        {"dose": ["10 µM", None, "1 uM"], "n": [1.0, np.nan, 3.0]}, index=["a", "b", "c"]
    )
    row = pd.DataFrame({"symbol": ["G1", "G2", "G3", "G4"]}, index=["1", "2", "3", "4"])
    write_gctx(path, mat, ["a", "b", "c"], ["1", "2", "3", "4"], col_meta=col, row_meta=row)
    with h5py.File(path, "r") as f:
        assert f.attrs["version"] in (b"GCTX1.0", "GCTX1.0")
        dset = f["0/DATA/0/matrix"]
        assert dset.dtype == np.float32 and dset.shape == (3, 4)
        assert dset.compression == "gzip" and dset.shuffle
    meta = read_meta(path, "col")
    assert meta.loc["a", "dose"] == "10 µM" and pd.isna(meta.loc["b", "dose"])
    assert np.isnan(meta.loc["b", "n"])
    assert read_meta(path, "row").loc["3", "symbol"] == "G3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gctx"]  # no temp files left


def test_write_rejects_duplicates(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duplicate sample"):
        write_gctx(tmp_path / "x.gctx", np.zeros((2, 1)), ["a", "a"], ["g"])
    assert not (tmp_path / "x.gctx").exists()


@pytest.fixture(scope="module")
def roundtrip_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(1)
    mat = rng.standard_normal((300, 25)).astype(np.float32)  # > one 256-row chunk
    path = tmp_path_factory.mktemp("rt") / "rt.gctx"
    write_gctx(path, mat, [f"s{i}" for i in range(300)], [str(1000 + j) for j in range(25)])
    return path, mat


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    s_idx=st.lists(st.integers(0, 299), min_size=1, max_size=40),
    g_idx=st.lists(st.integers(0, 24), min_size=1, max_size=30),
)
def test_roundtrip_keeps_requested_order(
    roundtrip_file: tuple[Path, np.ndarray], s_idx: list[int], g_idx: list[int]
) -> None:
    path, mat = roundtrip_file
    s_ids = [f"s{i}" for i in s_idx]
    g_ids = [str(1000 + j) for j in g_idx]
    out, s_out, g_out = read_gctx(path, s_ids, g_ids)
    assert s_out == s_ids and g_out == g_ids
    np.testing.assert_array_equal(out, mat[np.ix_(s_idx, g_idx)])


def test_big_request_all_samples_permuted(roundtrip_file: tuple[Path, np.ndarray]) -> None:
    path, mat = roundtrip_file
    perm = np.random.default_rng(2).permutation(300)
    out, _, _ = read_gctx(path, [f"s{i}" for i in perm])
    np.testing.assert_array_equal(out, mat[perm])


def _raw_chunked(path: Path, mat: np.ndarray, chunk_rows: int, chunk_genes: int) -> list[str]:
    ids = [f"s{i}" for i in range(mat.shape[0])]
    genes = [str(100 + j) for j in range(mat.shape[1])]
    with GctxWriter(path, len(ids), genes, ids, chunk_rows, chunk_genes=chunk_genes) as w:
        for start in range(0, len(ids), 11):
            w.write(start, mat[start : start + 11])
    return genes


@pytest.mark.parametrize("block_size", [1, 5, 8, 64])
def test_iter_blocks_direct_chunks_match_raw(tmp_path: Path, block_size: int) -> None:
    """Uncompressed chunked files (CMap layout) take the whole-chunk path; edge chunks partial."""
    mat = np.random.default_rng(3).standard_normal((50, 23)).astype(np.float32)
    path = tmp_path / "chunked.gctx"
    genes = _raw_chunked(path, mat, chunk_rows=8, chunk_genes=7)
    with h5py.File(path, "r") as f:
        assert f["0/DATA/0/matrix"].chunks == (8, 7)
        assert f["0/DATA/0/matrix"].compression is None
    idx = [22, 3, 4, 3, 15, 0, 21, 8]  # out of order, repeated, spread over chunk columns
    blocks = list(iter_blocks(path, gene_ids=[genes[j] for j in idx], block_size=block_size))
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), mat[:, idx])
    assert [s for ids, _ in blocks for s in ids] == [f"s{i}" for i in range(50)]
    assert all(len(ids) <= block_size for ids, _ in blocks)
    full, _, _ = read_gctx(path, [f"s{i}" for i in (49, 0, 17, 17)], [genes[j] for j in idx])
    np.testing.assert_array_equal(full, mat[np.ix_([49, 0, 17, 17], idx)])


def test_iter_blocks_unwritten_chunks_fall_back(tmp_path: Path) -> None:
    path = tmp_path / "sparse.gctx"
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("0/DATA/0/matrix", shape=(20, 6), dtype="<f4", chunks=(4, 3))
        dset[0:4] = 1.0  # other chunks never written (fill value 0)
        f.create_dataset("0/META/COL/id", data=np.array([f"s{i}".encode() for i in range(20)]))
        f.create_dataset("0/META/ROW/id", data=np.arange(6))
    expected = np.zeros((20, 6), dtype=np.float32)
    expected[:4] = 1.0
    got = np.concatenate([b for _, b in iter_blocks(path, block_size=3)])
    np.testing.assert_array_equal(got, expected)


def test_writer_rejects_bad_blocks_and_incomplete_files(tmp_path: Path) -> None:
    path = tmp_path / "w.gctx"
    with pytest.raises(ValueError, match=r"w\.gctx.*block of shape \(2, 3\).*\(rows, 4\)"):
        with GctxWriter(path, 4, ["1", "2", "3", "4"], list("abcd")) as w:
            w.write(0, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="outside the matrix of 4 samples"):
        with GctxWriter(path, 4, ["1", "2", "3", "4"], list("abcd")) as w:
            w.write(3, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"2 of 4 rows written \(first missing row 2\)"):
        with GctxWriter(path, 4, ["1", "2", "3", "4"], list("abcd")) as w:
            w.write(0, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="2 of 4 rows written"):  # the same rows twice
        with GctxWriter(path, 4, ["1", "2", "3", "4"], list("abcd")) as w:
            w.write(0, np.zeros((2, 4)))
            w.write(0, np.ones((2, 4)))
    assert list(tmp_path.iterdir()) == []


def test_ids_int_bytes_latin1_always_str() -> None:
    assert decode_ids(np.array([b"A01", b"10 \xb5M"])) == ["A01", "10 \u00b5M"]
    assert decode_ids(np.array([5720, 7])) == ["5720", "7"]
    assert decode_ids(np.array([5720.0, 7.0])) == ["5720", "7"]
    assert decode_ids(np.array(["x", "y"], dtype=object)) == ["x", "y"]


def test_matrix_shape_mismatch_names_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.gctx"
    with h5py.File(path, "w") as f:
        f.create_dataset("0/DATA/0/matrix", data=np.zeros((3, 2), dtype=np.float32))
        f.create_dataset("0/META/COL/id", data=np.array([b"a", b"b"]))
        f.create_dataset("0/META/ROW/id", data=np.array([b"g1", b"g2"]))
    with pytest.raises(ValueError, match=r"bad\.gctx.*\(3, 2\).*2 column \(sample\) ids"):
        read_gctx(path)
    with pytest.raises(ValueError, match=r"bad\.gctx"):
        next(iter_blocks(path))
