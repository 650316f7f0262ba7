"""The simulated release: LINCS2020 layout, and APC recovers the planted replicate noise."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from dvgs.io import adapters, gctx
from dvgs.lincs.apc import compute_apc
from dvgs.lincs.release import landmark_gene_ids
from dvgs.lincs.simulate import SimulationSettings, simulate_release

SETTINGS = SimulationSettings(
    n_signatures=600, n_genes=1500, n_cells=4, n_compounds=60, seed=3, chunk_genes=500
)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return simulate_release(tmp_path_factory.mktemp("simulated"), SETTINGS)


def test_layout_is_lincs2020(release: dict[str, Path]) -> None:
    sig = adapters.load_signatures(release["siginfo"], "lincs2020", "simulated")
    inst = adapters.load_instances(release["instinfo"], "lincs2020", "simulated")
    genes = adapters.load_genes(release["geneinfo"], "lincs2020", "simulated")
    assert len(sig) == SETTINGS.n_signatures and sig["sig_id"].is_unique
    assert len(landmark_gene_ids(genes)) == 978
    level4_ids = gctx.read_ids(release["level4"], "col")
    assert set(inst["sample_id"]) == set(level4_ids)
    listed = [i for v in sig["distil_ids"] for i in v.split("|")]
    assert sorted(listed) == sorted(level4_ids)  # every replicate belongs to one signature
    assert set(gctx.read_ids(release["level5"], "col")) == set(sig["sig_id"])
    with h5py.File(release["level4"], "r") as f:
        dset = f[gctx.MATRIX_PATH]
        assert dset.shape == (len(level4_ids), SETTINGS.n_genes)
        assert dset.chunks == (256, 500) and dset.dtype == np.float32
    # landmark rows scattered over the gene axis, not the first 978 rows
    pos = np.flatnonzero(genes["feature_space"].to_numpy() == "landmark")
    assert pos[-1] > 978 and pos[0] < SETTINGS.n_genes - 978
    assert not (sig.select_dtypes("number").to_numpy() <= -666).any()


def test_apc_recovers_planted_noise(release: dict[str, Path], record_property) -> None:
    sig = adapters.load_signatures(release["siginfo"], "lincs2020", "simulated")
    genes = adapters.load_genes(release["geneinfo"], "lincs2020", "simulated")
    apc = compute_apc(release["level4"], sig, landmark_gene_ids(genes), block_size=500)
    truth = pd.read_csv(release["truth"], sep="\t")
    merged = apc.merge(truth, on="sig_id", validate="one_to_one")
    ok = merged[merged["apc_status"] == "ok"]
    assert (merged.loc[merged["n_replicates"] == 1, "apc_status"] == "single_replicate").all()
    assert len(ok) == int((merged["n_replicates"] > 1).sum())
    rho = spearmanr(ok["apc"], ok["noise_sd"]).statistic
    record_property("spearman_apc_vs_planted_noise", float(rho))
    print(f"Spearman(APC, planted noise sd) = {rho:.3f} over {len(ok)} signatures")
    assert rho < -0.6, f"APC should fall as the planted noise grows; Spearman {rho:.3f}"


def test_simulation_is_deterministic(tmp_path: Path) -> None:
    small = SimulationSettings(n_signatures=50, n_genes=1000, n_compounds=10, write_level5=False)
    a = simulate_release(tmp_path / "a", small)
    b = simulate_release(tmp_path / "b", small)
    assert "level5" not in a
    np.testing.assert_array_equal(gctx.read_gctx(a["level4"])[0], gctx.read_gctx(b["level4"])[0])
    assert a["siginfo"].read_text() == b["siginfo"].read_text()
