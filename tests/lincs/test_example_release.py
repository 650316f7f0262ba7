"""The bundled example release: contents, invariants, determinism, and the committed copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dvgs.io.gctx import read_gctx, read_ids
from dvgs.lincs.example_release import (
    GENEINFO_FILE,
    INSTINFO_FILE,
    LEVEL4_FILE,
    LEVEL5_FILE,
    NEW_SIGNATURE_BUILD,
    SIGINFO_COLUMNS,
    SIGINFO_FILE,
    brew_prefix,
    build_example_release,
    main,
)

TABLES = (SIGINFO_FILE, INSTINFO_FILE, GENEINFO_FILE)
REAL_LEVEL5 = {
    "level5/CMAP_MODZ_3cpds_n272x978.gctx": 272,
    "level5/CPC004-5_A375_6H_MODZ_n10x10174.gctx": 10,
    "level5/CRCGN014_HEPG2_3H_MODZ_n3x978.gctx": 3,
}


def _table(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, sep="\t", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, lincs_raw_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("example_a")
    build_example_release(lincs_raw_dir, out)
    return out


def test_counts(built: Path) -> None:
    sig = _table(built, SIGINFO_FILE)
    inst = _table(built, INSTINFO_FILE)
    genes = _table(built, GENEINFO_FILE)
    assert list(sig.columns) == SIGINFO_COLUMNS
    assert len(inst) == 6 + 40 + 9 + 12 + 377 + 371
    assert len(genes) == 978 and set(genes["feature_space"]) == {"landmark"}
    assert sig["build_name"].value_counts().to_dict() == {
        NEW_SIGNATURE_BUILD: 20 + 3 + 1 + 352 + 350,
        "CMAP_MODZ_3cpds": 272,
        "CPC004-5_A375_6H": 10,
        "CRCGN014_HEPG2_3H": 3,
    }
    new = sig[sig["build_name"] == NEW_SIGNATURE_BUILD]
    sizes = new["nsample"].astype(float).astype(int).value_counts().to_dict()
    assert sizes == {1: 700, 2: 20, 3: 3, 12: 1, 22: 1, 26: 1}
    assert sig["sig_id"].is_unique and sig["sig_id"].is_monotonic_increasing
    assert "CORE001.D1_KJ100_24H:BRD-K63550407:5 uM" in set(sig["sig_id"])


def test_matrices_align_with_tables(built: Path) -> None:
    genes = _table(built, GENEINFO_FILE)["gene_id"].tolist()
    assert read_ids(built / LEVEL4_FILE, "row") == genes
    assert read_ids(built / LEVEL5_FILE, "row") == genes
    assert (
        read_ids(built / LEVEL4_FILE, "col") == _table(built, INSTINFO_FILE)["sample_id"].tolist()
    )
    assert read_ids(built / LEVEL5_FILE, "col") == _table(built, SIGINFO_FILE)["sig_id"].tolist()


def test_every_real_level5_signature_present(built: Path, lincs_raw_dir: Path) -> None:
    sig_ids = set(_table(built, SIGINFO_FILE)["sig_id"])
    level5_ids = read_ids(built / LEVEL5_FILE, "col")
    genes = _table(built, GENEINFO_FILE)["gene_id"].tolist()
    for rel, n in REAL_LEVEL5.items():
        ids = read_ids(lincs_raw_dir / rel, "col")
        assert len(ids) == n and set(ids) <= sig_ids
    # CPC file is Entrez-keyed: its values must come through unchanged.
    cpc = lincs_raw_dir / "level5/CPC004-5_A375_6H_MODZ_n10x10174.gctx"
    cpc_ids = read_ids(cpc, "col")
    expected, _, _ = read_gctx(cpc, cpc_ids, genes)
    got, _, _ = read_gctx(built / LEVEL5_FILE, cpc_ids)
    np.testing.assert_array_equal(got, expected)
    assert len(level5_ids) == len(sig_ids)


def test_distil_ids_resolve_and_cover_level4(built: Path) -> None:
    sig = _table(built, SIGINFO_FILE)
    samples = set(_table(built, INSTINFO_FILE)["sample_id"])
    listed: list[str] = []
    for ids, n, build in zip(sig["distil_ids"], sig["nsample"], sig["build_name"], strict=True):
        members = [m for m in ids.split("|") if m]
        assert set(members) <= samples
        if members:
            assert len(members) == int(float(n))
        elif build not in ("CMAP_MODZ_3cpds", "CPC004-5_A375_6H"):
            pytest.fail(f"signature of {build} without distil_ids")
        listed += members
    assert sorted(listed) == sorted(samples)  # every level-4 sample in exactly one signature


def test_new_signatures_are_modz_of_their_replicates(built: Path) -> None:
    from dvgs.lincs.modz import cc_q75, modz

    sig = _table(built, SIGINFO_FILE).set_index("sig_id")
    for sig_id in ["REP.A007_A375_24H:BRD-K40175214:0.37 um", "DOSVAL003_HCC515_24H:DMSO"]:
        members = sig.loc[sig_id, "distil_ids"].split("|")
        x, _, _ = read_gctx(built / LEVEL4_FILE, members)
        y, _, _ = read_gctx(built / LEVEL5_FILE, [sig_id])
        profile, _ = modz(x)
        np.testing.assert_allclose(y[0], profile, atol=1e-5)
        assert float(sig.loc[sig_id, "cc_q75"]) == pytest.approx(cc_q75(x), abs=1e-5)
        ss = int(np.count_nonzero(np.abs(profile) >= 2))
        assert int(float(sig.loc[sig_id, "ss_ngene"])) == ss
        tas = np.sqrt(ss * max(cc_q75(x), 0.0) / 978)
        assert float(sig.loc[sig_id, "tas"]) == pytest.approx(tas, rel=1e-4)


def test_real_qc_fields(built: Path) -> None:
    sig = _table(built, SIGINFO_FILE).set_index("sig_id")
    psr = pd.to_numeric(sig["pct_self_rank_q25"].replace("", np.nan))
    assert psr.dropna().between(0, 1).all()
    crc = sig.loc["HEPG2:3:BRD-K88925363"]
    assert crc["cc_q75"] == "0.34" and crc["nsample"] == "3"
    assert sig.loc["HEPG2:3:BRD-K34157611", "cc_q75"] == ""  # -666.00 in the source
    cpc = sig.loc["CPC004_A375_6H:BRD-A14966924-001-03-0:10"]
    assert (cpc["tas"], cpc["ss_ngene"], cpc["cc_q75"]) == ("0.140842", "97", "0.2")


def test_no_sentinels(built: Path) -> None:
    for name in TABLES:
        text = (built / name).read_text()
        assert "-666" not in text
    for name in (LEVEL4_FILE, LEVEL5_FILE):
        mat, _, _ = read_gctx(built / name)
        assert np.isfinite(mat).all() and not (mat == -666).any()


def test_build_is_deterministic_and_matches_committed(
    built: Path, tmp_path: Path, lincs_raw_dir: Path, lincs_example_dir: Path
) -> None:
    main([str(lincs_raw_dir), str(tmp_path)])
    for other in (tmp_path, lincs_example_dir):
        for name in TABLES:
            pd.testing.assert_frame_equal(_table(built, name), _table(other, name))
        for name in (LEVEL4_FILE, LEVEL5_FILE):
            a, sa, ga = read_gctx(built / name)
            b, sb, gb = read_gctx(other / name)
            assert (sa, ga) == (sb, gb)
            if other == tmp_path:
                np.testing.assert_array_equal(a, b)
            else:
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_brew_prefix() -> None:
    assert brew_prefix("CORE001.D1_KJ100_24H_X1_C3") == "CORE001.D1_KJ100_24H"
    assert brew_prefix("LJP005_A375_24H_X1_B19") == "LJP005_A375_24H"
    assert brew_prefix("REP.A007_A375_24H_X3_B22") == "REP.A007_A375_24H"
    with pytest.raises(ValueError, match="PLATE"):
        brew_prefix("PLATE")


def test_partly_listed_group_fails(lincs_raw_dir: Path) -> None:
    from dvgs.lincs.example_release import load_landmarks, load_level4, new_signatures

    level4 = load_level4(lincs_raw_dir, load_landmarks(lincs_raw_dir))
    covered = {"CRCGN014_HEPG2_3H_X2_B29:A05": "some_sig"}  # its replicate X3:A05 is not listed
    with pytest.raises(ValueError, match="partly listed"):
        new_signatures(level4, covered)
