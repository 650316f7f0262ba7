# Benchmarks of data valuation on ADULT, BLOG and CIFAR10 (not part of `rule all`):
#   snakemake --cores 2 benchmark_summary --configfile config/benchmarks.yaml


rule download_benchmark_file:
    output:
        f"{BENCH['download_dir']}/{{dataset}}/{{bench_file}}",
    log:
        "logs/benchmarks/download/{dataset}/{bench_file}.log",
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/download_benchmark_file.py"


rule train_benchmark_encoder:
    input:
        data=benchmark_data_files("cifar10"),
    output:
        "results/benchmarks/cifar10/encoder/repeat{repeat}.pt",
        table="results/benchmarks/cifar10/encoder/repeat{repeat}.tsv",
    params:
        settings=benchmark_encoder_settings(),
        data_dir=lambda w, input: str(Path(input.data[0]).parent),
    threads: BENCH["threads"]
    log:
        "logs/benchmarks/cifar10/encoder/repeat{repeat}.log",
    benchmark:
        "benchmarks/benchmarks/cifar10/encoder/repeat{repeat}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/train_benchmark_encoder.py"


rule run_benchmark:
    input:
        data=lambda w: benchmark_data_files(w.dataset),
        encoder=benchmark_encoder_input,
    output:
        "results/benchmarks/{dataset}/{task}/{method}/repeat{repeat}.tsv",
    params:
        settings=lambda w: benchmark_settings(w.dataset, w.task, w.method),
        data_dir=lambda w, input: str(Path(input.data[0]).parent),
        encoder=benchmark_trained_encoder,
    threads: BENCH["threads"]
    log:
        "logs/benchmarks/{dataset}/{task}/{method}/repeat{repeat}.log",
    benchmark:
        "benchmarks/benchmarks/{dataset}/{task}/{method}/repeat{repeat}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/run_benchmark.py"


rule summarise_benchmarks:
    input:
        benchmark_results(),
    output:
        summary="results/benchmarks/summary.tsv",
        comparison="results/benchmarks/paper_comparison.tsv",
        results="results/benchmarks/all_repeats.tsv",
        scores=report(
            "results/benchmarks/figures/scores.png",
            caption="../report/benchmark_scores.rst",
            category="Benchmarks",
        ),
        curves=report(
            "results/benchmarks/figures/filter_curves.png",
            caption="../report/benchmark_filter_curves.rst",
            category="Benchmarks",
        ),
    log:
        "logs/benchmarks/summarise_benchmarks.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/summarise_benchmarks.py"


rule benchmark_summary:
    input:
        rules.summarise_benchmarks.output,
