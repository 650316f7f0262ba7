"""Rule download_release_file: fetch (or copy) one release file, verified by checksum."""

from pathlib import Path

from dvgs.io.releases import ReleaseFile, fetch_file
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
fetch_file(
    ReleaseFile(**snakemake.params.file),
    Path(snakemake.output[0]).parent,
    checksums_url=snakemake.params.checksums_url,
)
