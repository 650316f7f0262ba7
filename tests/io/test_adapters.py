"""Release adapters on small real-looking tables in both formats (lincs2020 beta, GEO)."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dvgs.io.adapters import (
    GENE_COLUMNS,
    INSTANCE_COLUMNS,
    SIGNATURE_COLUMNS,
    load_genes,
    load_instances,
    load_signatures,
    read_table,
)

LANDMARKS = Path("/work/shared/data/lincs/geneinfo/landmark_probe_annotations_n978.txt")

SIGINFO_BETA = (
    "sig_id\tpert_id\tpert_type\tcell_iname\tcmap_name\tpert_idose\tpert_itime\tnsample\tcc_q75"
    "\tss_ngene\ttas\tpct_self_rank_q25\twt\tis_hiq\tqc_pass\tdistil_ids\tdet_plates\tbuild_name\n"
    "MET001_N8_XH:BRD-U44432129:100:336\tBRD-U44432129\ttrt_cp\tN8\tBRD-U44432129\t100 ug/ml"
    "\t336 h\t4\t0.6164\t446\t0.530\t0\t0.26,0.26,0.22,0.26\t1\t1"
    "\tMET001_N8_XH_X1_B17:H05|MET001_N8_XH_X1_B17:H06|MET001_N8_XH_X2_B17:H05"
    "\tMET001_N8_XH_X1_B17|MET001_N8_XH_X2_B17\t\n"
    "ABY001_A375_XH:BRD-K43389675:10:24\tBRD-K43389675\ttrt_cp\tA375\tbosutinib\t10 \xb5M\t24 h"
    "\t1\t-666\t23\t-666\t-666\t1\t0\t0\tABY001_A375_XH_X1_B15:A03\tABY001_A375_XH_X1_B15\t\n"
    "ABY001_A375_XH:DMSO:24\tDMSO\tctl_vehicle\tA375\tDMSO\t-666\t24 h\t3\t0.21\t12\t0.05\t5.5"
    "\t0.3,0.3,0.4\t0\t1\t\t\t\n"
)


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding=encoding) as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding=encoding)
    return path


@pytest.fixture
def siginfo_beta(tmp_path: Path) -> Path:
    # latin-1 on purpose: "10 \xb5M" is not valid UTF-8 in this encoding
    return _write(tmp_path / "siginfo_beta.txt", SIGINFO_BETA, encoding="latin-1")


def test_lincs2020_signatures(siginfo_beta: Path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="dvgs.io.adapters"):
        df = load_signatures(siginfo_beta, "lincs2020", "beta-test")
    assert list(df.columns[: len(SIGNATURE_COLUMNS)]) == SIGNATURE_COLUMNS
    assert "wt" in df.columns and "build_name" in df.columns
    assert df["sig_id"].tolist()[0] == "MET001_N8_XH:BRD-U44432129:100:336"
    row = df.set_index("sig_id").loc["ABY001_A375_XH:BRD-K43389675:10:24"]
    assert row["pert_idose"] == "10 \u00b5M"  # latin-1 fallback decoded the micro sign
    assert np.isnan(row["cc_q75"]) and np.isnan(row["tas"])  # -666 -> NaN
    assert row["ss_ngene"] == 23.0
    dmso = df.set_index("sig_id").loc["ABY001_A375_XH:DMSO:24"]
    assert pd.isna(dmso["pert_idose"])  # "-666" string -> NaN
    assert dmso["distil_ids"] == "" and dmso["det_plates"] == ""
    # percent given (5.5 > 1) -> whole column converted to fractions
    assert df["pct_self_rank_q25"].tolist()[0] == 0.0
    assert dmso["pct_self_rank_q25"] == pytest.approx(0.055)
    assert "percent" in caplog.text
    assert "not valid UTF-8" in caplog.text
    for col in ("nsample", "cc_q75", "ss_ngene", "tas", "pct_self_rank_q25", "is_hiq", "qc_pass"):
        assert df[col].dtype == np.float64
    assert not (df.select_dtypes("number") == -666).any().any()
    assert not df.astype(str).isin(["-666"]).any().any()


def test_fraction_pct_self_rank_kept(tmp_path: Path) -> None:
    text = SIGINFO_BETA.replace("\t5.5\t", "\t0.055\t")
    df = load_signatures(_write(tmp_path / "s.txt", text), "lincs2020", "r")
    assert df["pct_self_rank_q25"].max() == pytest.approx(0.055)


def test_filters_are_logged(siginfo_beta: Path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="dvgs.io.adapters"):
        df = load_signatures(
            siginfo_beta, "lincs2020", "beta-test", pert_types=["trt_cp"], qc_pass_only=True
        )
    assert df["sig_id"].tolist() == ["MET001_N8_XH:BRD-U44432129:100:336"]
    assert "removed 1" in caplog.text  # one ctl_vehicle, then one qc_pass == 0


def test_per_replicate_doses_and_times_collapse(tmp_path: Path, caplog) -> None:
    text = SIGINFO_BETA.replace("\t100 ug/ml\t336 h\t", "\t100 ug/ml|100 ug/ml\t336 h|336 h\t")
    text = text.replace("\t10 \xb5M\t24 h\t", "\t10 \xb5M|3.33 \xb5M\t24 h\t")
    path = _write(tmp_path / "s.txt", text, encoding="latin-1")
    with caplog.at_level(logging.INFO, logger="dvgs.io.adapters"):
        df = load_signatures(path, "lincs2020", "joined").set_index("sig_id")
    first = df.loc["MET001_N8_XH:BRD-U44432129:100:336"]
    assert first["pert_idose"] == "100 ug/ml" and first["pert_itime"] == "336 h"
    mixed = df.loc["ABY001_A375_XH:BRD-K43389675:10:24", "pert_idose"]
    assert mixed == "10 \u00b5M|3.33 \u00b5M"  # replicates disagree: kept, and said so
    assert "different pert_idose" in caplog.text and "joined" in caplog.text


def test_renamed_column_hint(tmp_path: Path) -> None:
    text = SIGINFO_BETA.replace("cell_iname", "cell_id", 1)
    path = _write(tmp_path / "siginfo_beta.txt", text)
    with pytest.raises(KeyError) as info:
        load_signatures(path, "lincs2020", "myrelease")
    msg = str(info.value)
    for part in (str(path), "myrelease", "cell_iname", "cell_id", "looks like a geo release"):
        assert part in msg
    assert "set release format to 'geo'" in msg


def test_duplicate_sig_ids(tmp_path: Path) -> None:
    lines = SIGINFO_BETA.splitlines(keepends=True)
    path = _write(tmp_path / "s.txt", "".join(lines + [lines[1]]))
    with pytest.raises(ValueError, match=r"duplicate sig_id.*MET001_N8_XH:BRD-U44432129:100:336"):
        load_signatures(path, "lincs2020", "r")


def test_duplicates_listed_up_to_ten(tmp_path: Path) -> None:
    rows = "".join(f"{i}\tG{i}\tlandmark\n" for i in range(15)) * 2
    path = _write(tmp_path / "g.txt", "gene_id\tgene_symbol\tfeature_space\n" + rows)
    with pytest.raises(ValueError) as info:
        load_genes(path, "lincs2020", "r")
    msg = str(info.value)
    assert "15 duplicate gene_id" in msg and "'9'" in msg and "'10'" not in msg


def test_lincs2020_instances(tmp_path: Path) -> None:
    text = (
        "sample_id\tbead_batch\tpert_dose\tpert_dose_unit\tpert_idose\tpert_itime\tpert_type"
        "\tcell_iname\tcmap_name\tpert_id\tdet_plate\trna_plate\tqc_pass\n"
        "MET001_N8_XH_X1_B17:H05\tb17\t100\tug/ml\t100 ug/ml\t336 h\ttrt_cp\tN8\tBRD-U44432129"
        "\tBRD-U44432129\tMET001_N8_XH_X1_B17\tMET001_N8_XH_X1\t1\n"
        "ABY001_A375_XH_X1_B15:A03\tb15\t10\tuM\t10 uM\t24 h\ttrt_cp\tA375\tbosutinib"
        "\tBRD-K43389675\tABY001_A375_XH_X1_B15\t-666\t1\n"
    )
    df = load_instances(_write(tmp_path / "instinfo_beta.txt", text), "lincs2020", "r")
    assert list(df.columns[: len(INSTANCE_COLUMNS)]) == INSTANCE_COLUMNS
    assert df["pert_idose"].tolist() == ["100 ug/ml", "10 uM"]
    assert df["pert_dose"].tolist() == ["100", "10"]  # kept as text
    assert pd.isna(df.loc[1, "rna_plate"])


def test_lincs2020_genes_ids_stay_strings(tmp_path: Path) -> None:
    text = (
        "gene_id\tgene_symbol\tensembl_id\tgene_title\tgene_type\tsrc\tfeature_space\n"
        "780\tDDR1\tENSG00000204580\tdiscoidin domain receptor tyrosine kinase 1\tprotein-coding"
        "\tNCBI\tlandmark\n"
        "7849\tPAX8\tENSG00000125618\tpaired box 8\tprotein-coding\tNCBI\tbest inferred\n"
        "2978\tGUCA1A\tENSG00000048545\tguanylate cyclase activator 1A\tprotein-coding\tNCBI"
        "\tinferred\n"
    )
    df = load_genes(_write(tmp_path / "geneinfo_beta.txt", text), "lincs2020", "r")
    assert list(df.columns[:3]) == GENE_COLUMNS
    assert df["gene_id"].tolist() == ["780", "7849", "2978"]
    assert df["feature_space"].tolist() == ["landmark", "best inferred", "inferred"]


def test_bad_feature_space(tmp_path: Path) -> None:
    path = _write(tmp_path / "g.txt", "gene_id\tgene_symbol\tfeature_space\n780\tDDR1\tLM\n")
    with pytest.raises(ValueError, match="'LM'"):
        load_genes(path, "lincs2020", "r")


GEO_SIG_INFO = (
    "sig_id\tpert_id\tpert_iname\tpert_type\tcell_id\tpert_dose\tpert_dose_unit\tpert_idose"
    "\tpert_time\tpert_time_unit\tpert_itime\tdistil_id\n"
    "CPC004_A375_6H:BRD-A14966924-001-03-0:10\tBRD-A14966924\talaproclate\ttrt_cp\tA375\t10.0"
    "\t\u00b5M\t10 \u00b5M\t6\th\t6 h"
    "\tCPC004_A375_6H_X1_B3_DUO52HI53LO:K06|CPC004_A375_6H_X2_B3_DUO52HI53LO:K06"
    "|CPC004_A375_6H_X3_B3_DUO52HI53LO:K06\n"
    "CPC004_A375_6H:BRD-K03670461-001-02-0:10\tBRD-K03670461\ttyrphostin-AG-82\ttrt_cp\tA375"
    "\t10.0\t\u00b5M\t10 \u00b5M\t6\th\t6 h\tCPC004_A375_6H_X1_B3_DUO52HI53LO:K07\n"
    "CPC004_A375_6H:DMSO:-666\tDMSO\tDMSO\tctl_vehicle\tA375\t-666\t-666\t-666\t6\th\t6 h"
    "\tCPC004_A375_6H_X1_B3_DUO52HI53LO:A01|CPC004_A375_6H_X2_B3_DUO52HI53LO:A01\n"
)
GEO_SIG_METRICS = (
    "sig_id\tpert_id\tpert_iname\tpert_type\tdistil_cc_q75\tdistil_ss\tngenes_modulated_up_lm"
    "\tngenes_modulated_dn_lm\ttas\tpct_self_rank_q25\tis_exemplar\tdistil_nsample\tis_gold\n"
    "CPC004_A375_6H:BRD-A14966924-001-03-0:10\tBRD-A14966924\talaproclate\ttrt_cp\t0.2\t3.1"
    "\t50\t47\t0.140842\t1.20482\t1\t3\t1\n"
    "CPC004_A375_6H:BRD-K03670461-001-02-0:10\tBRD-K03670461\ttyrphostin-AG-82\ttrt_cp\t-666"
    "\t2.2\t12\t3\t-666\t-666\t0\t1\t0\n"
)


def test_geo_signatures_with_metrics(tmp_path: Path) -> None:
    info = _write(tmp_path / "GSE92742_Broad_LINCS_sig_info.txt.gz", GEO_SIG_INFO)
    metrics = _write(tmp_path / "GSE92742_Broad_LINCS_sig_metrics.txt.gz", GEO_SIG_METRICS)
    df = load_signatures(info, "geo", "gse92742", metrics_path=metrics)
    assert list(df.columns[: len(SIGNATURE_COLUMNS)]) == SIGNATURE_COLUMNS
    s = df.set_index("sig_id")
    first = s.loc["CPC004_A375_6H:BRD-A14966924-001-03-0:10"]
    assert first["cell_iname"] == "A375" and first["cmap_name"] == "alaproclate"
    assert first["pert_idose"] == "10 \u00b5M"
    assert first["nsample"] == 3 and first["cc_q75"] == 0.2 and first["is_hiq"] == 1
    assert first["ss_ngene"] == 97  # up + dn landmark genes
    assert first["distil_ss"] == "3.1"  # kept under its own name
    assert first["pct_self_rank_q25"] == pytest.approx(0.0120482)  # percent -> fraction
    assert first["det_plates"] == (
        "CPC004_A375_6H_X1_B3_DUO52HI53LO|CPC004_A375_6H_X2_B3_DUO52HI53LO"
        "|CPC004_A375_6H_X3_B3_DUO52HI53LO"
    )
    assert first["distil_ids"].count("|") == 2
    second = s.loc["CPC004_A375_6H:BRD-K03670461-001-02-0:10"]
    assert np.isnan(second["cc_q75"]) and np.isnan(second["tas"])
    dmso = s.loc["CPC004_A375_6H:DMSO:-666"]  # -666 inside an id is not a missing value
    assert np.isnan(dmso["nsample"]) and pd.isna(dmso["pert_idose"])
    assert df["qc_pass"].isna().all()
    assert df["pert_type"].tolist() == ["trt_cp", "trt_cp", "ctl_vehicle"]

    with pytest.raises(ValueError, match="no qc_pass"):
        load_signatures(info, "geo", "gse92742", metrics_path=metrics, qc_pass_only=True)
    only_cp = load_signatures(info, "geo", "gse92742", metrics_path=metrics, pert_types="trt_cp")
    assert len(only_cp) == 2


def test_geo_file_read_as_lincs2020_hint(tmp_path: Path) -> None:
    info = _write(tmp_path / "sig_info.txt", GEO_SIG_INFO)
    with pytest.raises(KeyError, match="set release format to 'geo'"):
        load_signatures(info, "lincs2020", "r")


def test_lincs2020_file_read_as_geo_hint(siginfo_beta: Path) -> None:
    with pytest.raises(KeyError) as info:
        load_signatures(siginfo_beta, "geo", "r")
    msg = str(info.value)
    assert "'cell_id'" in msg and "looks like a lincs2020 release" in msg


def test_geo_instances(tmp_path: Path) -> None:
    text = (
        "inst_id\trna_plate\trna_well\tpert_id\tpert_iname\tpert_type\tpert_dose\tpert_dose_unit"
        "\tpert_time\tpert_time_unit\tcell_id\n"
        "CPC004_A375_6H_X1_B3_DUO52HI53LO:K06\tCPC004_A375_6H_X1\tK06\tBRD-A14966924\talaproclate"
        "\ttrt_cp\t10.0\t\u00b5M\t6\th\tA375\n"
        "CPC004_A375_6H_X1_B3_DUO52HI53LO:A01\tCPC004_A375_6H_X1\tA01\tDMSO\tDMSO\tctl_vehicle"
        "\t-666\t-666\t6\th\tA375\n"
    )
    df = load_instances(_write(tmp_path / "inst_info.txt", text), "geo", "gse92742")
    assert list(df.columns[: len(INSTANCE_COLUMNS)]) == INSTANCE_COLUMNS
    assert df["sample_id"].tolist()[0] == "CPC004_A375_6H_X1_B3_DUO52HI53LO:K06"
    assert df["det_plate"].tolist() == ["CPC004_A375_6H_X1_B3_DUO52HI53LO"] * 2
    assert df["pert_idose"].tolist()[0] == "10.0 \u00b5M"
    assert pd.isna(df["pert_idose"].tolist()[1])
    assert df["pert_itime"].tolist() == ["6 h", "6 h"]


def test_duplicate_sample_ids(tmp_path: Path) -> None:
    header = (
        "sample_id\tdet_plate\trna_plate\tpert_id\tcell_iname\tpert_idose\tpert_itime\tpert_type\n"
    )
    row = "P:A01\tP\tR\tDMSO\tA375\t-666\t24 h\tctl_vehicle\n"
    with pytest.raises(ValueError, match=r"duplicate sample_id.*'P:A01'"):
        load_instances(_write(tmp_path / "i.txt", header + row + row), "lincs2020", "r")


def test_geo_genes_from_real_landmarks(tmp_path: Path) -> None:
    if not LANDMARKS.is_file():
        pytest.skip("landmark table not available")
    lm = pd.read_csv(LANDMARKS, sep="\t", dtype=str)
    geo = lm[["pr_gene_id", "pr_gene_symbol", "pr_gene_title"]].assign(pr_is_lm="1", pr_is_bing="1")
    extra = pd.DataFrame(
        {
            "pr_gene_id": ["1", "2978"],
            "pr_gene_symbol": ["A1BG", "GUCA1A"],
            "pr_gene_title": ["alpha-1-B glycoprotein", "guanylate cyclase activator 1A"],
            "pr_is_lm": ["0", "0"],
            "pr_is_bing": ["1", "0"],
        }
    )
    path = tmp_path / "GSE92742_Broad_LINCS_gene_info.txt.gz"
    pd.concat([geo, extra]).to_csv(path, sep="\t", index=False)
    df = load_genes(path, "geo", "gse92742")
    assert (df["feature_space"] == "landmark").sum() == 978
    assert df.set_index("gene_id").loc["1", "feature_space"] == "best inferred"
    assert df.set_index("gene_id").loc["2978", "feature_space"] == "inferred"
    assert df["gene_id"].tolist()[: len(lm)] == lm["pr_gene_id"].tolist()
    assert "gene_title" in df.columns


def test_read_table_float_gene_ids_and_bad_numbers(tmp_path: Path) -> None:
    g = _write(tmp_path / "g.txt", "gene_id\tgene_symbol\tfeature_space\n780.0\tDDR1\tlandmark\n")
    assert load_genes(g, "lincs2020", "r")["gene_id"].tolist() == ["780"]
    bad = SIGINFO_BETA.replace("\t0.6164\t", "\tabc\t")
    with pytest.raises(ValueError, match="cc_q75.*abc"):
        load_signatures(_write(tmp_path / "s.txt", bad), "lincs2020", "r")
    t = read_table(_write(tmp_path / "t.txt", "a\tb\n-666\t-666.0\n780\t\n"))
    assert t["a"].tolist()[1] == "780" and t.isna().sum().sum() == 3


def test_unknown_format(siginfo_beta: Path) -> None:
    with pytest.raises(ValueError, match="not one of"):
        load_signatures(siginfo_beta, "lincs2017", "r")


def test_per_replicate_fields_drop_missing_parts(tmp_path) -> None:
    """'-666|-666' is missing (NaN, never the text -666); missing parts do not block a collapse."""
    from pathlib import Path

    from dvgs.io.adapters import _collapse_joined

    df = pd.DataFrame(
        {"pert_idose": ["-666|-666|-666", "-666|10 uM", "10 uM|10 uM", "10 uM|5 uM", "1 uM"]}
    )
    _collapse_joined(df, Path("siginfo.txt"), "test")
    values = df["pert_idose"].tolist()
    assert pd.isna(values[0])
    assert values[1:] == ["10 uM", "10 uM", "10 uM|5 uM", "1 uM"]
