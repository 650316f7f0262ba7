"""Rule prepare_release: release metadata -> internal signature, instance and gene tables."""

from dvgs.lincs.release import prepare_release
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
prepare_release(
    siginfo=snakemake.input.siginfo,
    instinfo=snakemake.input.instinfo,
    geneinfo=snakemake.input.geneinfo,
    sigmetrics=snakemake.input.get("sigmetrics"),
    level4=snakemake.input.level4,
    level5=snakemake.input.level5,
    release_format=snakemake.params.release_format,
    release_name=snakemake.wildcards.release,
    out_signatures=snakemake.output.signatures,
    out_instances=snakemake.output.instances,
    out_genes=snakemake.output.genes,
    pert_types=snakemake.params.pert_types or None,
    qc_pass_only=snakemake.params.qc_pass_only,
)
