"""Rule value_signatures: DVGS values of one source shard for one seed."""

from pathlib import Path

from dvgs.io.atomic import write_tsv
from dvgs.lincs.release import read_table
from dvgs.lincs.valuation import value_signatures
from dvgs.logs import setup_logging
from dvgs.valuation.dvgs import DVGSSettings

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
values = value_signatures(
    snakemake.input.level5,
    read_table(snakemake.input.split),
    read_table(snakemake.input.genes)["gene_id"].tolist(),
    # threads and device come from the job and the config, not params (they change no value)
    DVGSSettings(
        **snakemake.params.settings,
        threads=snakemake.threads,
        device=snakemake.config["valuation"]["device"],
    ),
    seed=int(snakemake.wildcards.seed),
    shard_index=int(snakemake.wildcards.shard),
    n_shards=snakemake.params.n_shards,
    checkpoint_path=snakemake.params.checkpoint,
    progress=True,
    **snakemake.params.model,
)
write_tsv(values, snakemake.output[0], float_format="%.9g")
Path(snakemake.params.checkpoint).unlink(missing_ok=True)  # the shard is complete
