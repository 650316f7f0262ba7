"""Rule download_checksum_listing: fetch the release's checksum listing (SHA256SUMS, SHA512SUMS)."""

from pathlib import Path

from dvgs.io.releases import listed_checksums
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
listed_checksums(snakemake.params.checksums_url, Path(snakemake.output[0]).parent)
