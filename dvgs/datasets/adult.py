"""ADULT (UCI Census Income): source from ``adult.data``, target/test from ``adult.test``.

Encoding follows the DVRL / DVGS loaders: both files are concatenated before one-hot encoding
(so both halves share the same 108 columns: 6 numeric + 102 dummies, ``?`` kept as a category),
the label is ``income > 50K`` (``>50K.`` with a trailing dot in the test file).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from dvgs.datasets.common import DatasetSource, RawDataset, locate

_BASE = "https://archive.ics.uci.edu/ml/machine-learning-databases/adult/"

SOURCES: tuple[DatasetSource, ...] = (
    DatasetSource(
        "adult",
        "adult.data",
        _BASE + "adult.data",
        md5="5d7c39d7b8804f071cdd1f2a7c460872",
        sha256="5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
    ),
    DatasetSource(
        "adult",
        "adult.test",
        _BASE + "adult.test",
        md5="35238206dfdf7f1fe215bbb874adecdc",
        sha256="a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
    ),
)

COLUMNS: tuple[str, ...] = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
)
NUMERIC: tuple[str, ...] = (
    "age",
    "fnlwgt",
    "education_num",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
)
CATEGORICAL: tuple[str, ...] = tuple(c for c in COLUMNS[:-1] if c not in NUMERIC)
_LABELS = {"<=50K": 0, ">50K": 1, "<=50K.": 0, ">50K.": 1}


def _read(path: Path, skiprows: int) -> pd.DataFrame:
    df = pd.read_csv(
        path,
        header=None,
        skiprows=skiprows,
        skipinitialspace=True,
        dtype=str,
        skip_blank_lines=True,
    )
    if df.shape[1] != len(COLUMNS):
        raise ValueError(f"{path}: {df.shape[1]} columns, expected {len(COLUMNS)}")
    df.columns = list(COLUMNS)
    bad = sorted(set(df["income"]) - set(_LABELS))
    if bad:
        raise ValueError(f"{path}: field income has values {bad[:5]}, expected one of {_LABELS}")
    for col in NUMERIC:
        num = pd.to_numeric(df[col], errors="coerce")
        if num.isna().any():
            row = int(np.flatnonzero(num.isna().to_numpy())[0])
            raise ValueError(
                f"{path}: field {col} row {row} is {df[col].iloc[row]!r}, expected a number"
            )
        df[col] = num.astype(np.float64)
    return df


def load_adult(directory: str | os.PathLike, allow_download: bool = False) -> RawDataset:
    """Read ``adult.data`` (train) and ``adult.test`` (test) from ``directory``; verify md5s.

    Returns unscaled float64 features (108 columns) and int64 labels (1 = income > 50K).
    """
    train_path = locate(SOURCES[0], directory, allow_download)
    test_path = locate(SOURCES[1], directory, allow_download)
    train = _read(train_path, skiprows=0)
    test = _read(test_path, skiprows=1)  # first line is "|1x3 Cross validator"
    both = pd.concat([train, test], axis=0, ignore_index=True)
    y = both["income"].map(_LABELS).to_numpy(dtype=np.int64)
    x_df = pd.get_dummies(both.drop(columns="income"), columns=list(CATEGORICAL), prefix_sep="=")
    x = x_df.to_numpy(dtype=np.float64)
    n = len(train)
    return RawDataset(
        name="adult",
        x_train=x[:n],
        y_train=y[:n],
        x_test=x[n:],
        y_test=y[n:],
        feature_names=tuple(str(c) for c in x_df.columns),
        n_classes=2,
    )
