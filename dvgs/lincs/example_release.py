"""Build the bundled example release (LINCS2020 "beta" layout) from the real CMap files.

Input: ``resources/lincs/raw`` (byte-identical copies of CMap test data, see its PROVENANCE.md).
Output files (978 landmark genes, keyed by Entrez id):

- ``level4_beta_example.gctx``: every level-4 sample of the raw files (samples x genes).
- ``level5_beta_example.gctx``: one profile per signature, in ``siginfo_beta.txt`` order.
- ``siginfo_beta.txt``, ``instinfo_beta.txt``, ``geneinfo_beta.txt``: tab-separated tables.

Signatures are the real level-5 profiles (with their CMap QC fields) plus, for every level-4
replicate group without a real level-5 profile, a new MODZ signature of its replicates whose QC
fields (``nsample``, ``cc_q75``, ``ss_ngene``, ``tas``) are computed the way CMap does. Nothing is
clipped. Run as ``python -m dvgs.lincs.example_release RAW_DIR OUT_DIR``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dvgs.io.atomic import write_tsv
from dvgs.io.gct import read_gct
from dvgs.io.gctx import clean_meta_column, read_gctx, read_ids, read_meta, write_gctx
from dvgs.lincs.modz import cc_q75, modz

logger = logging.getLogger(__name__)

PROBE_ANNOTATIONS = "geneinfo/landmark_probe_annotations_n978.txt"
LANDMARK_GRP = "geneinfo/landmark_entrez_ids_n978.grp"
LEVEL4_GCTX = (
    "level4/CRCGN014_HEPG2_3H_X1-X3_ZSPC_n6x978.gctx",
    "level4/CORE001.D1_KJ100_X1-X2_ZSPCINF_n40x12328.gctx",
    "level4/REP.A007_A375_24H_X1-X3_ZSPC_n9x22268.gctx",
    "level4/DOSVAL003_HCC515_24H_DMSO_X1-X3_ZSPC_n12x978.gctx",
)
LEVEL4_GCT = (
    "level4/LJP005_A375_24H_X1_B19_ZSPC_n377x978.gct",
    "level4/LJP009_A375_24H_X1_B20_ZSPC_n371x978.gct",
)
LEVEL5_CMAP_MODZ = "level5/CMAP_MODZ_3cpds_n272x978.gctx"
LEVEL5_CPC = "level5/CPC004-5_A375_6H_MODZ_n10x10174.gctx"
LEVEL5_CPC_SIGINFO = "level5/CPC004-5_A375_6H_MODZ_siginfo.txt"
LEVEL5_CRCGN = "level5/CRCGN014_HEPG2_3H_MODZ_n3x978.gctx"

LEVEL4_FILE = "level4_beta_example.gctx"
LEVEL5_FILE = "level5_beta_example.gctx"
SIGINFO_FILE = "siginfo_beta.txt"
INSTINFO_FILE = "instinfo_beta.txt"
GENEINFO_FILE = "geneinfo_beta.txt"

SIGINFO_COLUMNS = [
    "sig_id",
    "pert_id",
    "cmap_name",
    "cell_iname",
    "pert_idose",
    "pert_itime",
    "pert_type",
    "distil_ids",
    "det_plates",
    "nsample",
    "cc_q75",
    "ss_ngene",
    "tas",
    "pct_self_rank_q25",
    "is_hiq",
    "qc_pass",
    "build_name",
]
INSTINFO_COLUMNS = [
    "sample_id",
    "det_plate",
    "rna_plate",
    "pert_id",
    "cmap_name",
    "cell_iname",
    "pert_idose",
    "pert_itime",
    "pert_type",
]
GENEINFO_COLUMNS = ["gene_id", "gene_symbol", "feature_space"]
NEW_SIGNATURE_BUILD = "dvgs_example_modz"
N_LANDMARKS = 978
SS_Z_THRESHOLD = 2.0
# Plate name = brew prefix + replicate tag (_X1, _X2, ...) + optional bead batch (_B19, _C3).
_PLATE_RE = re.compile(r"^(?P<brew>.+?)_X\d+(?:_[A-Za-z]+\d+)?$")


@dataclass(frozen=True)
class Landmarks:
    """The 978 landmark genes: Entrez ids (sorted numerically), symbols, probe -> Entrez map."""

    gene_ids: list[str]
    symbols: list[str]
    probe_to_gene: dict[str, str]


@dataclass
class Level4:
    """Level-4 samples on the landmark genes with their instance metadata."""

    matrix: np.ndarray
    instinfo: pd.DataFrame


def load_landmarks(raw_dir: Path) -> Landmarks:
    """Read the landmark probe annotations and check them against the Entrez id list."""
    path = raw_dir / PROBE_ANNOTATIONS
    annot = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    for col in ("rid", "pr_gene_id", "pr_gene_symbol"):
        if col not in annot.columns:
            raise ValueError(f"{path}: missing column {col!r}")
    if annot["pr_gene_id"].duplicated().any() or len(annot) != N_LANDMARKS:
        raise ValueError(f"{path}: expected {N_LANDMARKS} distinct pr_gene_id, got {len(annot)}")
    grp_path = raw_dir / LANDMARK_GRP
    grp = {line.strip() for line in grp_path.read_text().splitlines() if line.strip()}
    if grp != set(annot["pr_gene_id"]):
        raise ValueError(f"{path}: pr_gene_id set differs from the ids in {grp_path}")
    annot = annot.sort_values("pr_gene_id", key=lambda s: s.astype(np.int64), kind="stable")
    return Landmarks(
        gene_ids=annot["pr_gene_id"].tolist(),
        symbols=annot["pr_gene_symbol"].tolist(),
        probe_to_gene=dict(zip(annot["rid"], annot["pr_gene_id"], strict=True)),
    )


def _file_rows_for_landmarks(path: Path, row_ids: list[str], lm: Landmarks) -> list[str]:
    """Row ids of ``path`` that give the landmark genes in ``lm.gene_ids`` order."""
    present = set(row_ids)
    if set(lm.gene_ids) <= present:
        return list(lm.gene_ids)
    gene_to_probe = {g: p for p, g in lm.probe_to_gene.items()}
    probes = [gene_to_probe[g] for g in lm.gene_ids]
    missing = [p for p in probes if p not in present]
    if missing:
        raise KeyError(f"{path}: {len(missing)} landmark rows missing, e.g. {missing[:5]}")
    return probes


def _read_landmark_gctx(path: Path, lm: Landmarks) -> tuple[np.ndarray, list[str]]:
    rows = _file_rows_for_landmarks(path, read_ids(path, "row"), lm)
    matrix, samples, _ = read_gctx(path, gene_ids=rows)
    return matrix, samples


def _instinfo_from_meta(meta: pd.DataFrame, path: Path) -> pd.DataFrame:
    needed = ["det_plate", "rna_plate", "pert_id", "pert_iname", "cell_id"]
    needed += ["pert_idose", "pert_itime", "pert_type"]
    missing = [c for c in needed if c not in meta.columns]
    if missing:
        raise ValueError(f"{path}: column metadata lacks {missing}")
    out = pd.DataFrame(
        {
            "sample_id": meta.index.astype(str),
            "det_plate": meta["det_plate"].to_numpy(),
            "rna_plate": meta["rna_plate"].to_numpy(),
            "pert_id": meta["pert_id"].to_numpy(),
            "cmap_name": meta["pert_iname"].to_numpy(),
            "cell_iname": meta["cell_id"].to_numpy(),
            "pert_idose": meta["pert_idose"].to_numpy(),
            "pert_itime": meta["pert_itime"].to_numpy(),
            "pert_type": meta["pert_type"].to_numpy(),
        }
    )
    return out.astype(object)


def load_level4(raw_dir: Path, lm: Landmarks) -> Level4:
    """All level-4 samples on the landmarks, sorted by sample id."""
    mats: list[np.ndarray] = []
    infos: list[pd.DataFrame] = []
    for rel in LEVEL4_GCTX:
        path = raw_dir / rel
        matrix, samples = _read_landmark_gctx(path, lm)
        meta = read_meta(path, "col").loc[samples]
        mats.append(matrix)
        infos.append(_instinfo_from_meta(meta, path))
        logger.info("level 4 %s: %d samples", rel, len(samples))
    for rel in LEVEL4_GCT:
        path = raw_dir / rel
        gct = read_gct(path)
        rows = _file_rows_for_landmarks(path, gct.gene_ids, lm)
        pos = {g: i for i, g in enumerate(gct.gene_ids)}
        mats.append(gct.matrix[:, [pos[r] for r in rows]])
        infos.append(_instinfo_from_meta(gct.col_meta.loc[gct.sample_ids], path))
        logger.info("level 4 %s: %d samples", rel, len(gct.sample_ids))
    matrix = np.concatenate(mats, axis=0)
    info = pd.concat(infos, ignore_index=True)
    dup = info["sample_id"][info["sample_id"].duplicated()]
    if len(dup) > 0:
        raise ValueError(f"{raw_dir}: level-4 sample ids repeat across files: {dup.tolist()[:5]}")
    order = np.argsort(info["sample_id"].to_numpy(dtype=str), kind="stable")
    return Level4(matrix=matrix[order], instinfo=info.iloc[order].reset_index(drop=True))


def _empty_siginfo(n: int) -> dict[str, object]:
    return {c: [np.nan] * n for c in SIGINFO_COLUMNS}


def load_cmap_modz(raw_dir: Path, lm: Landmarks) -> tuple[pd.DataFrame, np.ndarray]:
    """The 272 GEO-era MODZ signatures with distil_cc_q75, is_gold and pct_self_rank_q25."""
    path = raw_dir / LEVEL5_CMAP_MODZ
    matrix, sigs = _read_landmark_gctx(path, lm)
    meta = read_meta(path, "col").loc[sigs]
    n_up = meta["ngenes_modulated_up_lm"].to_numpy(dtype=np.float64)
    n_dn = meta["ngenes_modulated_dn_lm"].to_numpy(dtype=np.float64)
    cc = meta["distil_cc_q75"].to_numpy(dtype=np.float64)
    ss = n_up + n_dn
    pct = meta["pct_self_rank_q25"].to_numpy(dtype=np.float64)
    if np.nanmax(pct) > 100:
        raise ValueError(f"{path}: pct_self_rank_q25 above 100 (expected a percent)")
    # Single-replicate signatures carry negative junk (-89 .. -98): self-rank is undefined there.
    undefined = pct < 0
    if undefined.any():
        logger.info("%s: %d negative pct_self_rank_q25 -> NaN", path, int(undefined.sum()))
        pct = np.where(undefined, np.nan, pct)
    df = pd.DataFrame(_empty_siginfo(len(sigs)))
    df["sig_id"] = sigs
    df["pert_id"] = meta["pert_id"].to_numpy()
    df["cmap_name"] = meta["pert_iname"].to_numpy()
    df["cell_iname"] = meta["cell_id"].to_numpy()
    df["pert_idose"] = meta["pert_idose"].to_numpy()
    df["pert_itime"] = meta["pert_itime"].to_numpy()
    df["pert_type"] = meta["pert_type"].to_numpy()
    df["distil_ids"] = ""
    df["nsample"] = meta["distil_nsample"].to_numpy(dtype=np.float64)
    df["cc_q75"] = cc
    df["ss_ngene"] = ss
    df["tas"] = tas(ss, cc)
    df["pct_self_rank_q25"] = pct / 100.0
    df["is_hiq"] = meta["is_gold"].to_numpy(dtype=np.float64)
    df["build_name"] = "CMAP_MODZ_3cpds"
    return df, matrix


def load_cpc(raw_dir: Path, lm: Landmarks) -> tuple[pd.DataFrame, np.ndarray]:
    """The 10 CPC004/CPC005 touchstone signatures with their siginfo QC fields."""
    path = raw_dir / LEVEL5_CPC
    matrix, sigs = _read_landmark_gctx(path, lm)
    info_path = raw_dir / LEVEL5_CPC_SIGINFO
    raw = pd.read_csv(info_path, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8")
    info = pd.DataFrame(
        {c: clean_meta_column(raw[c].to_numpy(dtype=object)).to_numpy() for c in raw.columns}
    ).set_index("sig_id")
    missing = [s for s in sigs if s not in info.index]
    if missing:
        raise KeyError(f"{info_path}: no row for signatures {missing[:5]} of {path}")
    info = info.loc[sigs]
    df = pd.DataFrame(_empty_siginfo(len(sigs)))
    df["sig_id"] = sigs
    df["pert_id"] = info["pert_id"].to_numpy()
    df["cmap_name"] = info["pert_iname"].to_numpy()
    df["cell_iname"] = info["cell_id"].to_numpy()
    df["pert_idose"] = info["pert_idose"].to_numpy()
    df["pert_itime"] = info["pert_itime"].to_numpy()
    df["pert_type"] = info["pert_type"].to_numpy()
    df["distil_ids"] = ""
    df["nsample"] = info["distil_nsample"].to_numpy(dtype=np.float64)
    df["cc_q75"] = info["distil_cc_q75"].to_numpy(dtype=np.float64)
    df["ss_ngene"] = info["ss_ngene"].to_numpy(dtype=np.float64)
    df["tas"] = info["tas"].to_numpy(dtype=np.float64)
    df["build_name"] = "CPC004-5_A375_6H"
    return df, matrix


def load_crcgn(raw_dir: Path, lm: Landmarks) -> tuple[pd.DataFrame, np.ndarray]:
    """The 3 CRCGN014 signatures, whose distil_id lists point into the level-4 file."""
    path = raw_dir / LEVEL5_CRCGN
    matrix, sigs = _read_landmark_gctx(path, lm)
    meta = read_meta(path, "col").loc[sigs]
    df = pd.DataFrame(_empty_siginfo(len(sigs)))
    df["sig_id"] = sigs
    df["pert_id"] = meta["pert_id"].to_numpy()
    df["cmap_name"] = meta["pert_iname"].to_numpy()
    df["cell_iname"] = meta["cell_id"].to_numpy()
    df["pert_idose"] = meta["pert_idose"].to_numpy()
    df["pert_itime"] = meta["pert_itime"].to_numpy()
    df["pert_type"] = meta["pert_type"].to_numpy()
    df["distil_ids"] = meta["distil_id"].astype(str).to_numpy()
    df["det_plates"] = meta["det_plate"].astype(str).to_numpy()
    df["nsample"] = meta["distil_nsample"].to_numpy(dtype=np.float64)
    df["cc_q75"] = meta["distil_cc_q75"].to_numpy(dtype=np.float64)
    df["ss_ngene"] = meta["distil_ss_ngene"].to_numpy(dtype=np.float64)
    df["tas"] = meta["distil_tas"].to_numpy(dtype=np.float64)
    df["build_name"] = "CRCGN014_HEPG2_3H"
    return df, matrix


def tas(ss_ngene: np.ndarray, cc: np.ndarray, n_genes: int = N_LANDMARKS) -> np.ndarray:
    """Transcriptional activity score sqrt(ss_ngene * max(cc_q75, 0) / n_genes); NaN stays NaN."""
    ss = np.asarray(ss_ngene, dtype=np.float64)
    c = np.asarray(cc, dtype=np.float64)
    return np.sqrt(ss * np.where(np.isnan(c), np.nan, np.maximum(c, 0.0)) / n_genes)


def brew_prefix(plate: str) -> str:
    """Brew prefix of a plate name: ``CORE001.D1_KJ100_24H_X1_C3`` -> ``CORE001.D1_KJ100_24H``."""
    match = _PLATE_RE.match(plate)
    if match is None:
        raise ValueError(f"plate name {plate!r} does not look like <brew>_X<n>[_<batch>]")
    return match.group("brew")


def _key_part(value: object) -> str:
    return "" if pd.isna(value) else str(value)


def new_signatures(level4: Level4, covered: dict[str, str]) -> tuple[pd.DataFrame, np.ndarray]:
    """One MODZ signature per level-4 replicate group that has no real level-5 profile.

    ``covered`` maps a level-4 sample id to the real signature that lists it; a group must be
    either fully listed by exactly one real signature (skipped) or not listed at all.
    """
    info = level4.instinfo.copy()
    info["_row"] = np.arange(len(info))
    info["_brew"] = [brew_prefix(str(p)) for p in info["det_plate"]]
    keys = ["_brew", "pert_id", "cell_iname", "pert_idose", "pert_itime"]
    for k in keys:
        info[f"_k_{k}"] = [_key_part(v) for v in info[k]]
    records: list[dict[str, object]] = []
    profiles: list[np.ndarray] = []
    for _, grp in info.groupby([f"_k_{k}" for k in keys], sort=True):
        grp = grp.sort_values("sample_id", kind="stable")
        members = grp["sample_id"].astype(str).tolist()
        owners = {covered.get(m) for m in members}
        if owners != {None}:
            listed = [s for s, o in covered.items() if o in owners]
            if len(owners) != 1 or None in owners or sorted(listed) != members:
                raise ValueError(
                    f"level-4 group {members} is only partly listed by real signatures {owners}"
                )
            continue
        first = grp.iloc[0]
        for col in ("cmap_name", "pert_type"):
            values = {_key_part(v) for v in grp[col]}
            if len(values) != 1:
                raise ValueError(f"level-4 group {members[:5]} has several {col}: {values}")
        x = level4.matrix[grp["_row"].to_numpy()]
        profile, _ = modz(x)
        cc = cc_q75(x)
        ss = float(np.count_nonzero(np.abs(profile) >= SS_Z_THRESHOLD))
        dose = first["pert_idose"]
        sig_id = f"{first['_brew']}:{first['pert_id']}"
        if not pd.isna(dose):
            sig_id += f":{dose}"
        records.append(
            {
                "sig_id": sig_id,
                "pert_id": first["pert_id"],
                "cmap_name": first["cmap_name"],
                "cell_iname": first["cell_iname"],
                "pert_idose": dose,
                "pert_itime": first["pert_itime"],
                "pert_type": first["pert_type"],
                "distil_ids": "|".join(members),
                "det_plates": "|".join(sorted({str(p) for p in grp["det_plate"]})),
                "nsample": float(len(members)),
                "cc_q75": cc,
                "ss_ngene": ss,
                "tas": float(tas(np.array(ss), np.array(cc))),
                "pct_self_rank_q25": np.nan,
                "is_hiq": np.nan,
                "qc_pass": np.nan,
                "build_name": NEW_SIGNATURE_BUILD,
            }
        )
        profiles.append(profile.astype(np.float32))
    df = pd.DataFrame.from_records(records, columns=SIGINFO_COLUMNS)
    matrix = np.stack(profiles) if profiles else np.empty((0, level4.matrix.shape[1]), np.float32)
    return df, matrix


def build_example_release(raw_dir: str | os.PathLike, out_dir: str | os.PathLike) -> pd.DataFrame:
    """Build the example release from ``raw_dir`` into ``out_dir``; returns the siginfo table."""
    raw = Path(raw_dir)
    out = Path(out_dir)
    lm = load_landmarks(raw)
    level4 = load_level4(raw, lm)
    real = [load_cmap_modz(raw, lm), load_cpc(raw, lm), load_crcgn(raw, lm)]

    level4_ids = set(level4.instinfo["sample_id"])
    covered: dict[str, str] = {}
    for df, _ in real:
        for sig, ids in zip(df["sig_id"], df["distil_ids"], strict=True):
            for sample in filter(None, str(ids).split("|")):
                if sample not in level4_ids:
                    raise KeyError(f"{raw}: signature {sig} lists {sample}, not in level 4")
                if sample in covered:
                    raise ValueError(f"{raw}: {sample} listed by {covered[sample]} and {sig}")
                covered[sample] = sig
    new = new_signatures(level4, covered)

    parts = [*real, new]
    siginfo = pd.concat([df.astype(object) for df, _ in parts if len(df) > 0], ignore_index=True)
    level5 = np.concatenate([m for _, m in parts], axis=0).astype(np.float32)
    dup = siginfo["sig_id"][siginfo["sig_id"].duplicated()]
    if len(dup) > 0:
        raise ValueError(f"{raw}: duplicate sig_id in the example release: {dup.tolist()[:5]}")
    order = np.argsort(siginfo["sig_id"].to_numpy(dtype=str), kind="stable")
    siginfo = siginfo.iloc[order].reset_index(drop=True)[SIGINFO_COLUMNS]
    level5 = level5[order]
    for col in ("nsample", "cc_q75", "ss_ngene", "tas", "pct_self_rank_q25", "is_hiq", "qc_pass"):
        siginfo[col] = pd.to_numeric(siginfo[col]).astype(np.float64)

    geneinfo = pd.DataFrame(
        {"gene_id": lm.gene_ids, "gene_symbol": lm.symbols, "feature_space": "landmark"}
    )
    instinfo = level4.instinfo[INSTINFO_COLUMNS]
    out.mkdir(parents=True, exist_ok=True)
    write_gctx(out / LEVEL4_FILE, level4.matrix, instinfo["sample_id"].tolist(), lm.gene_ids)
    write_gctx(out / LEVEL5_FILE, level5, siginfo["sig_id"].tolist(), lm.gene_ids)
    write_tsv(siginfo, out / SIGINFO_FILE)
    write_tsv(instinfo, out / INSTINFO_FILE)
    write_tsv(geneinfo, out / GENEINFO_FILE)
    logger.info(
        "example release in %s: %d signatures (%s), %d level-4 samples, %d genes",
        out,
        len(siginfo),
        siginfo["build_name"].value_counts().to_dict(),
        len(instinfo),
        len(geneinfo),
    )
    return siginfo


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw_dir", type=Path, help="folder with the raw CMap files")
    parser.add_argument("out_dir", type=Path, help="output folder of the example release")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    build_example_release(args.raw_dir, args.out_dir)


if __name__ == "__main__":
    main()
