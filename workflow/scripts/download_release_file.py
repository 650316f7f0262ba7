"""Rule download_release_file: fetch (or copy) one release file, verified by checksum."""

from dvgs.io.download import download
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
download(
    snakemake.params.url,
    snakemake.output[0],
    expected_size=snakemake.params.size,
    checksum=snakemake.params.checksum,
)
