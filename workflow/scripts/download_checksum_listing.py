"""Rule download_checksum_listing: fetch the release's checksum listing (SHA256SUMS, SHA512SUMS)."""

from pathlib import Path

from dvgs.io.releases import get_release, resolve_checksums
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
release = get_release(snakemake.config["release"], snakemake.params.overrides)
resolve_checksums(release, Path(snakemake.output[0]).parent)
