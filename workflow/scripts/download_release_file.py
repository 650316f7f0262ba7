"""Rule download_release_file: fetch (or copy) one release file, verified by checksum."""

from pathlib import Path

from dvgs.io.releases import fetch_release_file, get_release
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
output = Path(snakemake.output[0])
fetch_release_file(
    get_release(snakemake.wildcards.release, snakemake.params.overrides),
    output.name,
    output.parent,
)
