report: "../report/workflow.rst"


rule build_quality_table:
    input:
        **release_inputs(),
        signatures="results/release/{release}/signatures.tsv",
        apc="results/apc/{release}/apc.tsv",
        split="results/splits/{release}/{mode}/split.tsv",
        values="results/valuation/{release}/{mode}/values.tsv",
    output:
        tsv=report(
            "results/quality/{release}/{mode}/signature_quality.tsv",
            caption="../report/signature_quality.rst",
            category="Quality table",
        ),
        parquet="results/quality/{release}/{mode}/signature_quality.parquet",
        by_cell="results/quality/{release}/{mode}/summary_by_cell_iname.tsv",
        by_pert="results/quality/{release}/{mode}/summary_by_pert_id.tsv",
        by_plate="results/quality/{release}/{mode}/summary_by_det_plate.tsv",
        provenance=report(
            "results/quality/{release}/{mode}/provenance.json",
            caption="../report/provenance.rst",
            category="Provenance",
        ),
    params:
        release=RELEASE_NAME,
        low_percentile=config["quality"]["low_percentile"],
        high_percentile=config["quality"]["high_percentile"],
        seeds=SEEDS,
        device=config["valuation"]["device"],
        config=LINCS_CONFIG,
    log:
        "logs/quality/{release}/{mode}/build_quality_table.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/build_quality_table.py"


rule plot_figures:
    input:
        table="results/quality/{release}/{mode}/signature_quality.tsv",
        curves="results/filter_curves/{release}/{mode}/filter_curves.tsv",
        by_cell="results/quality/{release}/{mode}/summary_by_cell_iname.tsv",
        by_plate="results/quality/{release}/{mode}/summary_by_det_plate.tsv",
    output:
        distributions=report(
            "results/quality/{release}/{mode}/figures/distributions.png",
            caption="../report/distributions.rst",
            category="Distributions",
        ),
        value_vs_apc=report(
            "results/quality/{release}/{mode}/figures/value_vs_apc.png",
            caption="../report/value_vs_apc.rst",
            category="DVGS vs APC",
        ),
        filter_curves=report(
            "results/quality/{release}/{mode}/figures/filter_curves.png",
            caption="../report/filter_curves.rst",
            category="Filter curves",
        ),
        by_cell=report(
            "results/quality/{release}/{mode}/figures/by_cell_iname.png",
            caption="../report/by_group.rst",
            category="By cell line and plate",
        ),
        by_plate=report(
            "results/quality/{release}/{mode}/figures/by_det_plate.png",
            caption="../report/by_group.rst",
            category="By cell line and plate",
        ),
    log:
        "logs/quality/{release}/{mode}/plot_figures.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/plot_figures.py"
