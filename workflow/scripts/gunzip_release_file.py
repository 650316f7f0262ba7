"""Rule gunzip_release_file: decompress a verified .gz release file (GEO GCTX) atomically."""

from dvgs.io.download import gunzip_file
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
gunzip_file(snakemake.input[0], snakemake.output[0])
