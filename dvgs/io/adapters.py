"""Release adapters: map a release's metadata tables onto the internal schema (docs/INTERFACES.md).

Two source formats:

* ``lincs2020`` (CLUE beta build: ``siginfo_beta.txt``, ``instinfo_beta.txt``,
  ``geneinfo_beta.txt``): already uses the internal names.
* ``geo`` (GSE92742 / GSE70138: ``sig_info``, ``sig_metrics``, ``inst_info``, ``gene_info``, plain
  or ``.gz``). Renames: ``cell_id -> cell_iname``, ``pert_iname -> cmap_name``,
  ``distil_id -> distil_ids``, ``distil_cc_q75 -> cc_q75``, ``distil_nsample -> nsample``,
  ``is_gold -> is_hiq``, ``inst_id -> sample_id``, ``pr_gene_id -> gene_id``,
  ``pr_gene_symbol -> gene_symbol``, ``pr_is_lm`` (1/0) ``-> feature_space``. Notes:

  - ``is_hiq`` from GEO is ``is_gold`` (``distil_cc_q75 >= 0.2`` and
    ``pct_self_rank_q25 <= 0.05``), the *predecessor* of CLUE's ``is_hiq``, not the same rule.
  - ``distil_ss`` is kept under its own name. ``ss_ngene`` (landmark genes with |z| >= 2) is
    ``ngenes_modulated_up_lm + ngenes_modulated_dn_lm`` when ``sig_metrics`` has both, else NaN.
  - GEO has no ``qc_pass`` (NaN); ``qc_pass_only=True`` on a GEO release is an error.
  - ``det_plates`` / ``det_plate`` are derived from the sample ids (``<det_plate>:<well>``) when
    the table lacks them; ``pert_idose`` / ``pert_itime`` from ``pert_dose`` + ``pert_dose_unit``
    / ``pert_time`` + ``pert_time_unit`` when absent.
  - ``feature_space`` is ``landmark`` when ``pr_is_lm`` is 1, else ``best inferred`` when
    ``pr_is_bing`` is 1, else ``inferred``.

Reading rules for both formats: UTF-8 with a latin-1 fallback (``10 \\xb5M``); every column read as
text, so ids stay strings (Entrez ``"780"`` never becomes ``780.0``); ``-666`` -> NaN in every
column; QC fields converted to float64; doses and times kept as strings (``"10 uM"``, ``"24 h"``);
``pct_self_rank_q25`` given in percent (any value > 1) is divided by 100 (logged). Columns the schema
does not name are kept after the schema columns. Duplicate keys raise ``ValueError``; a missing
required column raises ``KeyError`` with a hint when the file looks like the other format.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "GENE_COLUMNS",
    "INSTANCE_COLUMNS",
    "RELEASE_FORMATS",
    "SIGNATURE_COLUMNS",
    "load_genes",
    "load_instances",
    "load_signatures",
    "read_table",
]

logger = logging.getLogger(__name__)

RELEASE_FORMATS: tuple[str, ...] = ("lincs2020", "geo")

SIGNATURE_COLUMNS: list[str] = [
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
]
INSTANCE_COLUMNS: list[str] = [
    "sample_id",
    "det_plate",
    "rna_plate",
    "pert_id",
    "cell_iname",
    "pert_idose",
    "pert_itime",
    "pert_type",
]
GENE_COLUMNS: list[str] = ["gene_id", "gene_symbol", "feature_space"]

QC_COLUMNS: list[str] = [
    "nsample",
    "cc_q75",
    "ss_ngene",
    "tas",
    "pct_self_rank_q25",
    "is_hiq",
    "qc_pass",
]
FEATURE_SPACES: tuple[str, ...] = ("landmark", "best inferred", "inferred")
_MISSING_TOKENS = {"-666", "-666.0", "-666.00", "-666.000", "-666.0000", "-666.000000", ""}
_JOINED = ("distil_ids", "det_plates")  # empty string, not NaN, when none listed

# source name -> internal name, per table and format
_RENAMES: dict[str, dict[str, dict[str, str]]] = {
    "signatures": {
        "lincs2020": {},
        "geo": {
            "cell_id": "cell_iname",
            "pert_iname": "cmap_name",
            "distil_id": "distil_ids",
            "distil_cc_q75": "cc_q75",
            "distil_nsample": "nsample",
            "is_gold": "is_hiq",
        },
    },
    "instances": {
        "lincs2020": {},
        "geo": {"inst_id": "sample_id", "cell_id": "cell_iname", "pert_iname": "cmap_name"},
    },
    "genes": {
        "lincs2020": {},
        "geo": {
            "pr_gene_id": "gene_id",
            "pr_gene_symbol": "gene_symbol",
            "pr_gene_title": "gene_title",
            "pr_is_lm": "feature_space",
        },
    },
}
# internal names that must be present in the source (before derivations), per table
_REQUIRED: dict[str, dict[str, list[str]]] = {
    "signatures": {
        "lincs2020": [
            "sig_id",
            "pert_id",
            "cmap_name",
            "cell_iname",
            "pert_idose",
            "pert_itime",
            "pert_type",
            "distil_ids",
        ],
        "geo": ["sig_id", "pert_id", "cmap_name", "cell_iname", "pert_type", "distil_ids"],
    },
    "instances": {
        "lincs2020": INSTANCE_COLUMNS,
        "geo": ["sample_id", "rna_plate", "pert_id", "cell_iname", "pert_type"],
    },
    "genes": {"lincs2020": GENE_COLUMNS, "geo": GENE_COLUMNS},
}
_KEYS = {"signatures": "sig_id", "instances": "sample_id", "genes": "gene_id"}


# --------------------------------------------------------------------------- reading


def read_table(
    path: str | os.PathLike, encodings: Iterable[str] = ("utf-8", "latin-1")
) -> pd.DataFrame:
    """Read a tab-separated (optionally gzipped) table, every column as text.

    Tries each encoding in turn (UTF-8, then latin-1, which never fails). ``-666`` and empty
    fields become NaN.
    """
    p = Path(path)
    last: UnicodeDecodeError | None = None
    for i, enc in enumerate(encodings):
        try:
            df = pd.read_csv(
                p,
                sep="\t",
                dtype=str,
                na_filter=False,
                encoding=enc,
                compression="infer",
                quoting=3,  # csv.QUOTE_NONE: CMap tables are not quoted
            )
        except UnicodeDecodeError as err:
            last = err
            continue
        if i:
            logger.warning("%s is not valid UTF-8 (%s); read as %s", p, last, enc)
        df.columns = [str(c).strip() for c in df.columns]
        for col in df.columns:
            values = df[col]
            df[col] = values.mask(values.str.strip().isin(_MISSING_TOKENS))
        return df
    raise ValueError(f"{p}: could not decode with any of {list(encodings)}: {last}")


# --------------------------------------------------------------------------- helpers


def _check_format(release_format: str, release_name: str) -> None:
    if release_format not in RELEASE_FORMATS:
        raise ValueError(
            f"release {release_name!r}: format {release_format!r} is not one of {RELEASE_FORMATS}"
        )


def _source_name(table: str, fmt: str, internal: str) -> str:
    for src, dst in _RENAMES[table][fmt].items():
        if dst == internal:
            return src
    return internal


def _require(
    df: pd.DataFrame, table: str, fmt: str, path: Path, release_name: str, required: list[str]
) -> None:
    """Check source columns for the internal names in ``required``; KeyError with hints."""
    cols = set(df.columns)
    missing = [
        _source_name(table, fmt, c) for c in required if _source_name(table, fmt, c) not in cols
    ]
    if not missing:
        return
    hints: list[str] = []
    for other in RELEASE_FORMATS:
        if other == fmt:
            continue
        alt = {
            m: _source_name(table, other, _RENAMES[table][fmt].get(m, m))
            for m in missing
            if _source_name(table, other, _RENAMES[table][fmt].get(m, m)) in cols
        }
        alt = {m: a for m, a in alt.items() if a != m}
        if alt:
            pairs = ", ".join(f"file has {a!r} where {fmt} expects {m!r}" for m, a in alt.items())
            hints.append(f"looks like a {other} release ({pairs}): set release format to {other!r}")
    hint = ("; " + "; ".join(hints)) if hints else ""
    raise KeyError(
        f"{path}: release {release_name!r} (format {fmt!r}) {table} table is missing required "
        f"column(s) {missing}{hint}"
    )


def _check_unique(df: pd.DataFrame, key: str, path: Path, release_name: str) -> None:
    ids = df[key]
    if ids.isna().any():
        rows = [int(i) + 2 for i in np.flatnonzero(ids.isna().to_numpy())[:10]]
        raise ValueError(f"{path}: release {release_name!r}: empty {key} on line(s) {rows}")
    dup = ids[ids.duplicated(keep=False)].unique().tolist()
    if dup:
        raise ValueError(
            f"{path}: release {release_name!r}: {len(dup)} duplicate {key} value(s), "
            f"first {min(len(dup), 10)}: {dup[:10]}"
        )


def _to_float(df: pd.DataFrame, col: str, path: Path) -> None:
    values = pd.to_numeric(df[col], errors="coerce")
    bad = df[col].notna() & values.isna()
    if bad.any():
        raise ValueError(
            f"{path}: column {col!r} must be numeric; bad value(s) {df.loc[bad, col].unique()[:10].tolist()}"
        )
    df[col] = values.astype("float64")


def _percent_to_fraction(df: pd.DataFrame, path: Path) -> None:
    col = df["pct_self_rank_q25"]
    if (col > 1).any():
        if (col > 100).any() or (col < 0).any():
            raise ValueError(
                f"{path}: pct_self_rank_q25 must lie in [0, 1] (fraction) or [0, 100] (percent); "
                f"range is [{col.min()}, {col.max()}]"
            )
        logger.info(
            "%s: pct_self_rank_q25 is given in percent (max %g); converted to a fraction",
            path,
            col.max(),
        )
        df["pct_self_rank_q25"] = col / 100.0


def _plates_from_ids(ids: pd.Series) -> pd.Series:
    """``"PLATE:A01|PLATE:A02|OTHER:B01"`` -> ``"PLATE|OTHER"`` (first-seen order)."""

    def one(v: object) -> str:
        if not isinstance(v, str) or not v:
            return ""
        plates = [s.rsplit(":", 1)[0] for s in v.split("|") if s]
        return "|".join(dict.fromkeys(plates))

    return ids.map(one)


_PER_REPLICATE = ("pert_idose", "pert_itime", "pert_dose", "pert_time", "pert_dose_unit")


def _collapse_joined(df: pd.DataFrame, path: Path, release_name: str) -> None:
    """Dose / time fields listed per replicate (``"10 uM|10 uM|10 uM"``) -> one value.

    Some CMap tables give these fields once per replicate, ``|``-joined like ``distil_ids``. When
    every part is the same the field becomes that value; signatures whose replicates disagree keep
    the joined text (counted in a warning), so nothing is silently dropped.
    """
    for col in _PER_REPLICATE:
        if col not in df.columns:
            continue
        values = df[col]
        joined = values.str.contains("|", regex=False, na=False)
        if not joined.any():
            continue
        idx = values.index[joined]
        # distinct parts, CMap's missing marker (-666) and empty parts left out
        parts = (
            values.loc[idx]
            .str.split("|")
            .map(
                lambda p: [
                    x for x in dict.fromkeys(x.strip() for x in p) if x not in _MISSING_TOKENS
                ]
            )
        )
        df.loc[parts.index[parts.map(len) == 0], col] = np.nan  # every part missing
        same = parts.map(len) == 1
        df.loc[same.index[same], col] = parts[same].str[0]
        mixed_rows = parts.index[parts.map(len) > 1]
        df.loc[mixed_rows, col] = parts[mixed_rows].str.join("|")
        same = parts.map(len) <= 1
        mixed = int((~same).sum())
        logger.info(
            "%s: release %r: %d %s values were |-joined per replicate; collapsed %d",
            path,
            release_name,
            int(joined.sum()),
            col,
            int(same.sum()),
        )
        if mixed:
            logger.warning(
                "%s: release %r: %d signatures have replicates with different %s (e.g. %r); "
                "kept as |-joined text",
                path,
                release_name,
                mixed,
                col,
                values.loc[same.index[~same]].iloc[0],
            )


def _join_units(df: pd.DataFrame, value: str, unit: str) -> pd.Series:
    v, u = df[value], df[unit] if unit in df.columns else pd.Series(np.nan, index=df.index)
    out = v.where(u.isna(), v.astype(str) + " " + u.astype(str))
    return out.where(v.notna(), np.nan)


def _finish(df: pd.DataFrame, schema: list[str]) -> pd.DataFrame:
    for col in schema:
        if col not in df.columns:
            df[col] = np.nan
    extras = [c for c in df.columns if c not in schema]
    return df[schema + extras].reset_index(drop=True)


def _apply_filters(
    df: pd.DataFrame,
    path: Path,
    release_name: str,
    pert_types: Iterable[str] | None,
    qc_pass_only: bool,
) -> pd.DataFrame:
    if pert_types is not None:
        allowed = [pert_types] if isinstance(pert_types, str) else list(pert_types)
        keep = df["pert_type"].isin(allowed)
        logger.info(
            "%s: kept %d of %d signatures with pert_type in %s (removed %d)",
            path,
            int(keep.sum()),
            len(df),
            allowed,
            int((~keep).sum()),
        )
        df = df.loc[keep]
    if qc_pass_only:
        if df["qc_pass"].isna().all() and len(df):
            raise ValueError(
                f"{path}: release {release_name!r} has no qc_pass values, so qc_pass_only=True "
                "would remove every signature; turn the filter off for this release"
            )
        keep = df["qc_pass"] == 1
        logger.info(
            "%s: kept %d of %d signatures with qc_pass == 1 (removed %d)",
            path,
            int(keep.sum()),
            len(df),
            int((~keep).sum()),
        )
        df = df.loc[keep]
    return df.reset_index(drop=True)


# --------------------------------------------------------------------------- public loaders


def load_signatures(
    path: str | os.PathLike,
    release_format: str,
    release_name: str,
    pert_types: Iterable[str] | None = None,
    qc_pass_only: bool = False,
    metrics_path: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Load a signature table (``siginfo_beta.txt`` or GEO ``sig_info``) in the internal schema.

    Args:
        path: the signature metadata table.
        release_format: ``lincs2020`` or ``geo``.
        release_name: used in messages only.
        pert_types: keep only these ``pert_type`` values (e.g. ``["trt_cp"]``); removed count logged.
        qc_pass_only: keep only ``qc_pass == 1`` (lincs2020 only); removed count logged.
        metrics_path: GEO ``sig_metrics`` table, joined on ``sig_id`` for the QC fields.

    Returns:
        One row per signature: :data:`SIGNATURE_COLUMNS` then any other source columns.
    """
    _check_format(release_format, release_name)
    p = Path(path)
    df = read_table(p)
    table = "signatures"
    _require(df, table, release_format, p, release_name, _REQUIRED[table][release_format])
    _check_unique(df, "sig_id", p, release_name)
    if metrics_path is not None:
        mp = Path(metrics_path)
        metrics = read_table(mp)
        if "sig_id" not in metrics.columns:
            raise KeyError(f"{mp}: release {release_name!r} metrics table has no 'sig_id' column")
        _check_unique(metrics, "sig_id", mp, release_name)
        metrics = metrics[["sig_id"] + [c for c in metrics.columns if c not in df.columns]]
        unmatched = int((~df["sig_id"].isin(metrics["sig_id"])).sum())
        if unmatched:
            logger.warning("%s: %d signatures have no row in %s (QC fields NaN)", p, unmatched, mp)
        df = df.merge(metrics, on="sig_id", how="left", validate="one_to_one")
    df = df.rename(columns=_RENAMES[table][release_format])
    _collapse_joined(df, p, release_name)

    if release_format == "geo":
        if "ss_ngene" not in df.columns and {
            "ngenes_modulated_up_lm",
            "ngenes_modulated_dn_lm",
        } <= set(df.columns):
            up = pd.to_numeric(df["ngenes_modulated_up_lm"], errors="coerce")
            dn = pd.to_numeric(df["ngenes_modulated_dn_lm"], errors="coerce")
            df["ss_ngene"] = up + dn
        for col, (value, unit) in {
            "pert_idose": ("pert_dose", "pert_dose_unit"),
            "pert_itime": ("pert_time", "pert_time_unit"),
        }.items():
            if col not in df.columns and value in df.columns:
                df[col] = _join_units(df, value, unit)
    for col in _JOINED:
        if col in df.columns:
            df[col] = df[col].fillna("")
    if "det_plates" not in df.columns:
        df["det_plates"] = _plates_from_ids(df["distil_ids"])
    for col in QC_COLUMNS:
        if col in df.columns:
            _to_float(df, col, p)
    if "pct_self_rank_q25" in df.columns:
        _percent_to_fraction(df, p)
    df = _finish(df, SIGNATURE_COLUMNS)
    for col in QC_COLUMNS:
        df[col] = df[col].astype("float64")
    return _apply_filters(df, p, release_name, pert_types, qc_pass_only)


def load_instances(path: str | os.PathLike, release_format: str, release_name: str) -> pd.DataFrame:
    """Load a level-4 sample table (``instinfo_beta.txt`` or GEO ``inst_info``), keyed by
    ``sample_id``: :data:`INSTANCE_COLUMNS` then any other source columns."""
    _check_format(release_format, release_name)
    p = Path(path)
    df = read_table(p)
    table = "instances"
    _require(df, table, release_format, p, release_name, _REQUIRED[table][release_format])
    df = df.rename(columns=_RENAMES[table][release_format])
    _check_unique(df, "sample_id", p, release_name)
    if "det_plate" not in df.columns:
        df["det_plate"] = df["sample_id"].map(lambda s: s.rsplit(":", 1)[0])
    for col, (value, unit) in {
        "pert_idose": ("pert_dose", "pert_dose_unit"),
        "pert_itime": ("pert_time", "pert_time_unit"),
    }.items():
        if col not in df.columns:
            if value not in df.columns:
                raise KeyError(
                    f"{p}: release {release_name!r} (format {release_format!r}) instances table "
                    f"has neither {col!r} nor {value!r}"
                )
            df[col] = _join_units(df, value, unit)
    return _finish(df, INSTANCE_COLUMNS)


def _feature_space_from_flags(df: pd.DataFrame, path: Path) -> pd.Series:
    truthy = {"1", "1.0", "true", "True", "TRUE"}
    falsy = {"0", "0.0", "false", "False", "FALSE"}
    lm = df["feature_space"]
    bad = lm.notna() & ~lm.isin(truthy | falsy)
    if bad.any():
        raise ValueError(
            f"{path}: pr_is_lm must be 1/0; bad value(s) {lm[bad].unique()[:10].tolist()}"
        )
    bing = (
        df["pr_is_bing"].isin(truthy)
        if "pr_is_bing" in df.columns
        else pd.Series(False, index=df.index)
    )
    out = np.where(lm.isin(truthy), "landmark", np.where(bing, "best inferred", "inferred"))
    return pd.Series(out, index=df.index, dtype=object).where(lm.notna(), np.nan)


def load_genes(path: str | os.PathLike, release_format: str, release_name: str) -> pd.DataFrame:
    """Load a gene table (``geneinfo_beta.txt`` or GEO ``gene_info``), keyed by ``gene_id``
    (Entrez id as str): :data:`GENE_COLUMNS` then any other source columns."""
    _check_format(release_format, release_name)
    p = Path(path)
    df = read_table(p)
    table = "genes"
    _require(df, table, release_format, p, release_name, _REQUIRED[table][release_format])
    df = df.rename(columns=_RENAMES[table][release_format])
    floaty = df["gene_id"].str.fullmatch(r"\d+\.0+", na=False)
    if floaty.any():
        logger.warning(
            "%s: %d gene ids written as floats (e.g. '780.0'); stripped", p, int(floaty.sum())
        )
        df.loc[floaty, "gene_id"] = df.loc[floaty, "gene_id"].str.split(".").str[0]
    _check_unique(df, "gene_id", p, release_name)
    if release_format == "geo":
        df["feature_space"] = _feature_space_from_flags(df, p)
    bad = df["feature_space"].notna() & ~df["feature_space"].isin(FEATURE_SPACES)
    if bad.any():
        raise ValueError(
            f"{p}: feature_space must be one of {FEATURE_SPACES}; "
            f"bad value(s) {df.loc[bad, 'feature_space'].unique()[:10].tolist()}"
        )
    n_lm = int((df["feature_space"] == "landmark").sum())
    logger.info("%s: %d genes, %d landmark", p, len(df), n_lm)
    return _finish(df, GENE_COLUMNS)


def rename_map(table: str, release_format: str) -> Mapping[str, str]:
    """The ``source -> internal`` column renames applied for ``table`` in ``release_format``."""
    return dict(_RENAMES[table][release_format])
