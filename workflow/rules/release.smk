rule prepare_release:
    input:
        **release_inputs(),
    output:
        signatures="results/release/{release}/signatures.tsv",
        instances="results/release/{release}/instances.tsv",
        genes="results/release/{release}/genes.tsv",
    params:
        release_format=RELEASE_FORMAT,
        pert_types=config["signature_filters"]["pert_types"],
        qc_pass_only=config["signature_filters"]["qc_pass_only"],
    log:
        "logs/release/{release}/prepare_release.log",
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/prepare_release.py"
