"""Catalogue of LINCS L1000 releases: where each file lives and how to verify it.

A :class:`Release` maps keys (``level4, level5, siginfo, instinfo, geneinfo`` and, for lincs2020,
``compoundinfo, cellinfo``; GEO adds ``sigmetrics``) to :class:`ReleaseFile` entries (URL, local file
name, optional size and ``"<algo>:<hex>"`` checksum). Files are fetched with
:func:`dvgs.io.download.download`; a file without a checksum is "unpinned" (its SHA-256 is recorded
in the ``.verified`` marker and a warning is logged).

Built-in releases:

* ``lincs2020``: CLUE's LINCS2020 "beta" build (trt_cp level 4 / level 5). CLUE says beta files may
  change; the published md5 sums pin level 5, siginfo and geneinfo. Sizes are not pinned (the
  published sizes are rounded).
* ``gse92742``: GEO Phase I. Checksums come from ``GSE92742_SHA512SUMS.txt.gz`` at run time, see
  :func:`resolve_checksums`. Data are ``.gz`` files (the GCTX must be gunzipped before reading).
* ``example``: the small example release bundled in ``resources/lincs/example/`` (lincs2020 format),
  staged through the same code path from local paths relative to the working directory (the
  workflow root). Checksums come from ``resources/lincs/example/SHA256SUMS`` when that file exists.

Custom releases come from a config mapping, see :func:`release_from_config`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvgs.io.download import download, parse_checksum, parse_checksum_file, read_text

__all__ = [
    "FORMATS",
    "RELEASES",
    "REQUIRED_KEYS",
    "Release",
    "ReleaseFile",
    "get_release",
    "release_from_config",
    "resolve_checksums",
]

logger = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("lincs2020", "geo")
REQUIRED_KEYS: tuple[str, ...] = ("level4", "level5", "siginfo", "instinfo", "geneinfo")


@dataclass(frozen=True)
class ReleaseFile:
    """One file of a release: ``url`` (http(s), ``file://`` or local path) -> local ``filename``."""

    key: str
    url: str
    filename: str
    size: int | None = None
    checksum: str | None = None

    def __post_init__(self) -> None:
        if self.checksum is not None:
            parse_checksum(self.checksum)  # raises ValueError on a malformed checksum
        if self.size is not None and self.size < 0:
            raise ValueError(f"release file {self.key!r}: size must be >= 0, got {self.size}")
        if not self.filename or Path(self.filename).name != self.filename:
            raise ValueError(
                f"release file {self.key!r}: filename must be a bare file name, got {self.filename!r}"
            )

    def fetch(self, dest_dir: str | os.PathLike, **kwargs: Any) -> Path:
        """Download (or stage) this file into ``dest_dir / filename``, verified."""
        return download(
            self.url,
            Path(dest_dir) / self.filename,
            expected_size=self.size,
            checksum=self.checksum,
            **kwargs,
        )


@dataclass(frozen=True)
class Release:
    """A release: name, metadata ``format`` (``lincs2020`` | ``geo``) and its files by key.

    ``checksums_url`` (optional) points at a ``sha512sum``-style listing whose entries fill the
    checksums that ``files`` leave open (GEO's ``GSE92742_SHA512SUMS.txt.gz``).
    """

    name: str
    format: str
    files: dict[str, ReleaseFile]
    checksums_url: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(
                f"release {self.name!r}: format {self.format!r} is not one of {FORMATS}"
            )
        missing = [k for k in REQUIRED_KEYS if k not in self.files]
        if missing:
            raise KeyError(
                f"release {self.name!r}: missing file entries {missing} (need {list(REQUIRED_KEYS)})"
            )
        for key, rf in self.files.items():
            if rf.key != key:
                raise ValueError(
                    f"release {self.name!r}: file under key {key!r} has key {rf.key!r}"
                )

    def fetch(
        self, dest_dir: str | os.PathLike, keys: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Path]:
        """Fetch the files (all, or ``keys``) into ``dest_dir``; returns ``{key: path}``."""
        release = resolve_checksums(self, dest_dir, **kwargs)
        wanted = list(release.files) if keys is None else keys
        return {k: release.files[k].fetch(dest_dir, **kwargs) for k in wanted}


def _file(
    key: str, base: str, rel: str, checksum: str | None = None, size: int | None = None
) -> ReleaseFile:
    return ReleaseFile(key, base + rel, Path(rel).name, size=size, checksum=checksum)


LINCS2020_BASE = "https://s3.amazonaws.com/macchiato.clue.io/builds/LINCS2020/"
GSE92742_BASE = "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE92nnn/GSE92742/suppl/"
EXAMPLE_DIR = "resources/lincs/example/"

_LINCS2020 = Release(
    name="lincs2020",
    format="lincs2020",
    description="CLUE LINCS2020 beta build, compound treatments (trt_cp)",
    files={
        "level4": _file("level4", LINCS2020_BASE, "level4/level4_beta_trt_cp_n1805898x12328.gctx"),
        "level5": _file(
            "level5",
            LINCS2020_BASE,
            "level5/level5_beta_trt_cp_n720216x12328.gctx",
            checksum="md5:9a82806e2aba6ec2a866cba77bd57fda",
        ),
        "siginfo": _file(
            "siginfo",
            LINCS2020_BASE,
            "siginfo_beta.txt",
            checksum="md5:ab609fc04fab21180b07833119d1c7b6",
        ),
        "instinfo": _file("instinfo", LINCS2020_BASE, "instinfo_beta.txt"),
        "geneinfo": _file(
            "geneinfo",
            LINCS2020_BASE,
            "geneinfo_beta.txt",
            checksum="md5:45c725d17ce6c377f1e7de07b821a5f0",
        ),
        "compoundinfo": _file("compoundinfo", LINCS2020_BASE, "compoundinfo_beta.txt"),
        "cellinfo": _file("cellinfo", LINCS2020_BASE, "cellinfo_beta.txt"),
    },
)

_GSE = "GSE92742_Broad_LINCS_"
_GSE92742 = Release(
    name="gse92742",
    format="geo",
    description="GEO GSE92742 (LINCS Phase I), checksums from GSE92742_SHA512SUMS.txt.gz",
    checksums_url=GSE92742_BASE + "GSE92742_SHA512SUMS.txt.gz",
    files={
        "level4": _file(
            "level4", GSE92742_BASE, _GSE + "Level4_ZSPCINF_mlr12k_n1319138x12328.gctx.gz"
        ),
        "level5": _file("level5", GSE92742_BASE, _GSE + "Level5_COMPZ.MODZ_n473647x12328.gctx.gz"),
        "siginfo": _file("siginfo", GSE92742_BASE, _GSE + "sig_info.txt.gz"),
        "sigmetrics": _file("sigmetrics", GSE92742_BASE, _GSE + "sig_metrics.txt.gz"),
        "instinfo": _file("instinfo", GSE92742_BASE, _GSE + "inst_info.txt.gz"),
        "geneinfo": _file("geneinfo", GSE92742_BASE, _GSE + "gene_info.txt.gz"),
    },
)

_EXAMPLE = Release(
    name="example",
    format="lincs2020",
    description="small example release bundled with the repository (lincs2020 format)",
    checksums_url=EXAMPLE_DIR + "SHA256SUMS",
    files={
        "level4": _file("level4", EXAMPLE_DIR, "level4_beta_example.gctx"),
        "level5": _file("level5", EXAMPLE_DIR, "level5_beta_example.gctx"),
        "siginfo": _file("siginfo", EXAMPLE_DIR, "siginfo_beta.txt"),
        "instinfo": _file("instinfo", EXAMPLE_DIR, "instinfo_beta.txt"),
        "geneinfo": _file("geneinfo", EXAMPLE_DIR, "geneinfo_beta.txt"),
    },
)

RELEASES: dict[str, Release] = {r.name: r for r in (_LINCS2020, _GSE92742, _EXAMPLE)}
"""Built-in releases by name."""


def _file_from_config(
    release: str, key: str, cfg: Mapping[str, Any], base: ReleaseFile | None
) -> ReleaseFile:
    known = {"url", "filename", "size", "checksum"}
    unknown = set(cfg) - known
    if unknown:
        raise KeyError(
            f"release {release!r}, file {key!r}: unknown fields {sorted(unknown)} (allowed {sorted(known)})"
        )
    url = cfg.get("url", base.url if base else None)
    if not url:
        raise KeyError(f"release {release!r}, file {key!r}: 'url' is required")
    filename = cfg.get("filename") or (base.filename if base else None)
    if not filename:
        filename = Path(str(url).split("?")[0].rstrip("/")).name
    size = cfg.get("size", base.size if base else None)
    checksum = cfg.get("checksum", base.checksum if base else None)
    return ReleaseFile(
        key, str(url), str(filename), size=None if size is None else int(size), checksum=checksum
    )


def release_from_config(cfg: Mapping[str, Any], base: Release | None = None) -> Release:
    """Build a release from a config mapping.

    ``cfg`` has ``name``, ``format`` (``lincs2020`` | ``geo``), ``files`` (``{key: {url, checksum?,
    size?, filename?}}``) and optionally ``checksums_url`` and ``description``. With ``base`` the
    mapping overrides it field by field; a file given a new ``url`` keeps its pinned checksum (a
    mirror must serve the same bytes): set ``checksum: null`` to unpin it.
    """
    allowed = {"name", "format", "files", "checksums_url", "description"}
    unknown = set(cfg) - allowed
    if unknown:
        raise KeyError(
            f"release config: unknown keys {sorted(unknown)} (allowed {sorted(allowed)})"
        )
    name = str(cfg.get("name", base.name if base else ""))
    if not name:
        raise KeyError("release config: 'name' is required")
    fmt = cfg.get("format", base.format if base else None)
    if fmt is None:
        raise KeyError(f"release {name!r}: 'format' is required (one of {FORMATS})")
    files: dict[str, ReleaseFile] = dict(base.files) if base else {}
    for key, fcfg in dict(cfg.get("files") or {}).items():
        if isinstance(fcfg, str):
            fcfg = {"url": fcfg}
        files[key] = _file_from_config(name, key, fcfg, files.get(key))
    return Release(
        name=name,
        format=str(fmt),
        files=files,
        checksums_url=cfg.get("checksums_url", base.checksums_url if base else None),
        description=str(cfg.get("description", base.description if base else "custom release")),
    )


def get_release(name: str, overrides: Mapping[str, Any] | None = None) -> Release:
    """Return the built-in release ``name``, with ``overrides`` applied (see
    :func:`release_from_config`). An unknown ``name`` with ``overrides`` giving ``format`` and
    ``files`` defines a custom release.
    """
    base = RELEASES.get(name)
    if base is None:
        if overrides and "format" in overrides and "files" in overrides:
            return release_from_config({"name": name, **overrides})
        raise KeyError(
            f"unknown release {name!r}: known releases are {sorted(RELEASES)}; "
            "define a custom one with 'format' and 'files'"
        )
    if not overrides:
        return base
    return release_from_config({"name": name, **overrides}, base=base)


def listed_checksums(
    checksums_url: str, dest_dir: str | os.PathLike, **kwargs: Any
) -> dict[str, str] | None:
    """``{filename: checksum}`` from a ``sha512sum``-style listing, fetched into ``dest_dir``
    (reused when already there and verified); ``None`` when the listing is a local path that does
    not exist (the example release before its checksums are written)."""
    if "://" not in checksums_url and not Path(checksums_url).exists():
        return None
    listing = download(checksums_url, Path(dest_dir) / Path(checksums_url).name, **kwargs)
    return parse_checksum_file(read_text(listing))


def resolve_checksums(release: Release, dest_dir: str | os.PathLike, **kwargs: Any) -> Release:
    """Fill open checksums from ``release.checksums_url`` (fetched into ``dest_dir``).

    Files already pinned keep their checksum; a listing that disagrees with a pinned checksum is
    logged. When the listing is a local path that does not exist (the example release before its
    checksums are written) the release is returned unchanged.
    """
    if release.checksums_url is None:
        return release
    url = release.checksums_url
    sums = listed_checksums(url, dest_dir, **kwargs)
    if sums is None:
        logger.warning(
            "release %s: checksum listing %s not found; files stay unpinned", release.name, url
        )
        return release
    files = dict(release.files)
    for key, rf in release.files.items():
        listed = sums.get(rf.filename)
        if listed is None:
            if rf.checksum is None:
                logger.warning("release %s: %s is not in %s", release.name, rf.filename, url)
            continue
        if rf.checksum is None:
            files[key] = dataclasses.replace(rf, checksum=listed)
        elif rf.checksum.split(":")[0] == listed.split(":")[0] and rf.checksum != listed:
            logger.warning(
                "release %s: %s pinned to %s but %s lists %s; keeping the pinned one",
                release.name,
                rf.filename,
                rf.checksum,
                url,
                listed,
            )
    return dataclasses.replace(release, files=files)


def fetch_file(
    rf: ReleaseFile, dest_dir: str | os.PathLike, checksums_url: str | None = None, **kwargs: Any
) -> Path:
    """Fetch one release file into ``dest_dir``, verified; an open checksum is first filled from
    the listing at ``checksums_url`` (fetched into ``dest_dir`` unless already there, verified)."""
    if rf.checksum is None and checksums_url is not None:
        sums = listed_checksums(checksums_url, dest_dir, **kwargs)
        if sums and rf.filename in sums:
            rf = dataclasses.replace(rf, checksum=sums[rf.filename])
    return rf.fetch(dest_dir, **kwargs)
