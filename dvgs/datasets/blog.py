"""BLOG (UCI BlogFeedback): source from ``blogData_train.csv``, target/test from the 60 test files.

The zip is read directly. Label = ``1 * (comments in the next 24 h > 0)`` (column 280), features =
columns 0..279, as in the DVRL / DVGS loaders.

The bundled ``BlogFeedback.zip`` is a re-zip of UCI's archive (an extra empty ``New Folder/``
entry, FAT attributes), so its own checksum is not UCI's, and UCI publishes none. The loader
therefore checks the *members*: each expected member must be present with the CRC-32 listed in
``MEMBER_CRC32`` (zipfile also re-checks the CRC of the bytes it reads), and the training member
must have sha256 ``TRAIN_SHA256``.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

import numpy as np
import pandas as pd

from dvgs.datasets.common import DatasetSource, RawDataset, locate

SOURCE = DatasetSource(
    "blog",
    "BlogFeedback.zip",
    "https://archive.ics.uci.edu/ml/machine-learning-databases/00304/BlogFeedback.zip",
    md5=None,
    sha256=None,
    bundled_sha256="d802b5ad26e333ba0f8ad5ceb878f5b4a26ec19797a0284612f7795a601ce0b8",
    note=(
        "bundled zip is a re-zip (extra 'New Folder/' entry), so its checksum differs from UCI's; "
        "members are verified by CRC-32 and the training member by sha256"
    ),
)
SOURCES: tuple[DatasetSource, ...] = (SOURCE,)

TRAIN_MEMBER = "blogData_train.csv"
TRAIN_SHA256 = "f3cc953ea9913361be6d3bae2c393eef73eab57b1cb8e5bf8a22f1e5eb5dd05f"
N_FEATURES = 280
TARGET_COLUMN = 280

MEMBER_CRC32: dict[str, int] = {
    "blogData_test-2012.02.01.00_00.csv": 0x6E945468,
    "blogData_test-2012.02.02.00_00.csv": 0xBA72D8F0,
    "blogData_test-2012.02.03.00_00.csv": 0x9EE83C42,
    "blogData_test-2012.02.04.00_00.csv": 0xF609F445,
    "blogData_test-2012.02.05.00_00.csv": 0xC48098B0,
    "blogData_test-2012.02.06.00_00.csv": 0xCEE718E5,
    "blogData_test-2012.02.07.00_00.csv": 0x2F65C31E,
    "blogData_test-2012.02.08.00_00.csv": 0x7147ACF0,
    "blogData_test-2012.02.09.00_00.csv": 0x6B543388,
    "blogData_test-2012.02.10.00_00.csv": 0xFD6F1850,
    "blogData_test-2012.02.11.00_00.csv": 0xDDF54E93,
    "blogData_test-2012.02.12.00_00.csv": 0x31AF05FE,
    "blogData_test-2012.02.13.00_00.csv": 0x67A66ECF,
    "blogData_test-2012.02.14.00_00.csv": 0xF5C482A7,
    "blogData_test-2012.02.15.00_00.csv": 0xBB845878,
    "blogData_test-2012.02.16.00_00.csv": 0xDDDE329E,
    "blogData_test-2012.02.17.00_00.csv": 0x90E30953,
    "blogData_test-2012.02.18.00_00.csv": 0x5BDED88A,
    "blogData_test-2012.02.19.00_00.csv": 0xB947DE89,
    "blogData_test-2012.02.20.00_00.csv": 0xA1D2FE43,
    "blogData_test-2012.02.21.00_00.csv": 0xF5159849,
    "blogData_test-2012.02.22.00_00.csv": 0xCF5EC3AE,
    "blogData_test-2012.02.23.00_00.csv": 0x58D3A208,
    "blogData_test-2012.02.24.00_00.csv": 0x7223B1B9,
    "blogData_test-2012.02.25.00_00.csv": 0x5995F871,
    "blogData_test-2012.02.26.00_00.csv": 0xB76E5E33,
    "blogData_test-2012.02.27.00_00.csv": 0xF6A10FEF,
    "blogData_test-2012.02.28.00_00.csv": 0x0B1ED14A,
    "blogData_test-2012.02.29.00_00.csv": 0x6D81AACE,
    "blogData_test-2012.03.01.00_00.csv": 0xB378D303,
    "blogData_test-2012.03.02.00_00.csv": 0x74D02A80,
    "blogData_test-2012.03.03.00_00.csv": 0xB3576084,
    "blogData_test-2012.03.04.00_00.csv": 0x8E09E95E,
    "blogData_test-2012.03.05.00_00.csv": 0x1266DBF2,
    "blogData_test-2012.03.06.00_00.csv": 0x7E141331,
    "blogData_test-2012.03.07.00_00.csv": 0x95E53755,
    "blogData_test-2012.03.08.00_00.csv": 0x969AF5F8,
    "blogData_test-2012.03.09.00_00.csv": 0x56E085D4,
    "blogData_test-2012.03.10.00_00.csv": 0x43EB5E7B,
    "blogData_test-2012.03.11.00_00.csv": 0xE90E4144,
    "blogData_test-2012.03.12.00_00.csv": 0x6FF768A3,
    "blogData_test-2012.03.13.00_00.csv": 0x2578031C,
    "blogData_test-2012.03.14.00_00.csv": 0x266D7A27,
    "blogData_test-2012.03.15.00_00.csv": 0xF56A068A,
    "blogData_test-2012.03.16.00_00.csv": 0x036923C4,
    "blogData_test-2012.03.17.00_00.csv": 0xD66B6123,
    "blogData_test-2012.03.18.00_00.csv": 0x79CA77D3,
    "blogData_test-2012.03.19.00_00.csv": 0x28B52E36,
    "blogData_test-2012.03.20.00_00.csv": 0x04C82FFB,
    "blogData_test-2012.03.21.00_00.csv": 0xEEF751E3,
    "blogData_test-2012.03.22.00_00.csv": 0x46CAF0A9,
    "blogData_test-2012.03.23.00_00.csv": 0x617B8055,
    "blogData_test-2012.03.24.00_00.csv": 0xE08BFB46,
    "blogData_test-2012.03.25.00_00.csv": 0x04D02E3A,
    "blogData_test-2012.03.26.01_00.csv": 0x723AF17B,
    "blogData_test-2012.03.27.01_00.csv": 0xEC31009F,
    "blogData_test-2012.03.28.01_00.csv": 0x0E6D9782,
    "blogData_test-2012.03.29.01_00.csv": 0xDD0A4B13,
    "blogData_test-2012.03.30.01_00.csv": 0x0532C174,
    "blogData_test-2012.03.31.01_00.csv": 0x125E1548,
    "blogData_train.csv": 0x9641347E,
}
TEST_MEMBERS: tuple[str, ...] = tuple(sorted(m for m in MEMBER_CRC32 if m != TRAIN_MEMBER))


def _read_member(zf: zipfile.ZipFile, zip_path: str, member: str) -> bytes:
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise KeyError(f"{zip_path}: member {member} missing") from None
    expected = MEMBER_CRC32[member]
    if info.CRC != expected:
        raise ValueError(
            f"{zip_path}: member {member} has CRC-32 {info.CRC:08x}, expected {expected:08x}"
        )
    return zf.read(member)  # raises BadZipFile if the bytes do not match the CRC


def _parse(data: bytes, zip_path: str, member: str) -> np.ndarray:
    arr = pd.read_csv(io.BytesIO(data), header=None, dtype=np.float64).to_numpy()
    if arr.shape[1] != N_FEATURES + 1:
        raise ValueError(f"{zip_path}: member {member} has {arr.shape[1]} columns, expected 281")
    return arr


def load_blog(directory: str | os.PathLike, allow_download: bool = False) -> RawDataset:
    """Read ``BlogFeedback.zip`` from ``directory`` (train = ``blogData_train.csv``, test = the 60
    daily test files in date order). Returns unscaled float64 features (280) and int64 labels."""
    path = locate(SOURCE, directory, allow_download)
    zip_path = str(path)
    with zipfile.ZipFile(path) as zf:
        raw = _read_member(zf, zip_path, TRAIN_MEMBER)
        got = hashlib.sha256(raw).hexdigest()
        if got != TRAIN_SHA256:
            raise ValueError(
                f"{zip_path}: member {TRAIN_MEMBER} sha256 is {got}, expected {TRAIN_SHA256}"
            )
        train = _parse(raw, zip_path, TRAIN_MEMBER)
        test = np.concatenate(
            [_parse(_read_member(zf, zip_path, m), zip_path, m) for m in TEST_MEMBERS], axis=0
        )
    return RawDataset(
        name="blog",
        x_train=train[:, :N_FEATURES],
        y_train=(train[:, TARGET_COLUMN] > 0).astype(np.int64),
        x_test=test[:, :N_FEATURES],
        y_test=(test[:, TARGET_COLUMN] > 0).astype(np.int64),
        feature_names=tuple(f"f{i}" for i in range(N_FEATURES)),
        n_classes=2,
    )
