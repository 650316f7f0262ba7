"""Rule build_quality_table: the per-signature quality table, summaries and provenance."""

from dvgs.lincs.quality import write_quality_outputs
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
write_quality_outputs(
    signatures=snakemake.input.signatures,
    apc=snakemake.input.apc,
    split=snakemake.input.split,
    values=snakemake.input.values,
    release_files={
        k: snakemake.input[k] for k in ("level4", "level5", "siginfo", "instinfo", "geneinfo")
    },
    outputs=dict(snakemake.output.items()),
    release=snakemake.params.release,
    target_mode=snakemake.wildcards.mode,
    low_percentile=snakemake.params.low_percentile,
    high_percentile=snakemake.params.high_percentile,
    config=snakemake.params.config,
    seeds=snakemake.params.seeds,
    device=snakemake.params.device,
)
