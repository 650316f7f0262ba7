from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/release.smk"
include: "workflow/rules/apc.smk"
include: "workflow/rules/splits.smk"
include: "workflow/rules/valuation.smk"
include: "workflow/rules/filter_curves.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/datasets.smk"


rule all:
    input:
        final_outputs(),
