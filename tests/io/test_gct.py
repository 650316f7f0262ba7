"""GCT 1.3 text reader against the real LJP005 files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dvgs.io.gct import read_gct
from dvgs.io.gctx import read_gctx, read_meta

LJP005_GCT = "level4/LJP005_A375_24H_X1_B19_ZSPC_n377x978.gct"
LJP005_SHIFTED = "level4/LJP005_A375_24H_X1_B19_ZSPC_plus0.8596_n377x978.gctx"
LJP009_GCT = "level4/LJP009_A375_24H_X1_B20_ZSPC_n371x978.gct"
SHIFT = 0.8596286


def test_gct_matches_shifted_gctx(lincs_raw_dir: Path) -> None:
    gct = read_gct(lincs_raw_dir / LJP005_GCT)
    assert gct.matrix.shape == (377, 978) and gct.matrix.dtype == np.float32
    shifted, samples, genes = read_gctx(
        lincs_raw_dir / LJP005_SHIFTED, gct.sample_ids, gct.gene_ids
    )
    assert samples == gct.sample_ids and genes == gct.gene_ids
    np.testing.assert_allclose(shifted - SHIFT, gct.matrix, atol=1e-5)


def test_gct_metadata(lincs_raw_dir: Path) -> None:
    gct = read_gct(lincs_raw_dir / LJP005_GCT)
    assert list(gct.col_meta.index) == gct.sample_ids
    assert gct.row_meta.loc["200814_at", "pr_gene_symbol"] == "PSME1"
    dmso = gct.col_meta[gct.col_meta["pert_id"] == "DMSO"]
    assert len(dmso) == 26 and dmso["pert_idose"].isna().all()  # -666 -> NaN
    gctx_meta = read_meta(lincs_raw_dir / LJP005_SHIFTED, "col").loc[gct.sample_ids]
    for col in ("pert_id", "det_plate", "pert_itime"):
        assert gct.col_meta[col].tolist() == gctx_meta[col].tolist()


def test_gct_drops_duplicate_id_field(lincs_raw_dir: Path) -> None:
    gct = read_gct(lincs_raw_dir / LJP009_GCT)
    assert gct.matrix.shape == (371, 978)
    assert "id" not in gct.col_meta.columns


def test_gct_rejects_other_versions(tmp_path: Path) -> None:
    path = tmp_path / "bad.gct"
    path.write_text("#1.2\n1\t1\n")
    with pytest.raises(ValueError, match="bad.gct"):
        read_gct(path)
