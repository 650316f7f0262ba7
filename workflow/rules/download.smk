rule download_release_file:
    input:
        # only orders the downloads after the listing: a re-fetched listing reruns no download
        [ancient(CHECKSUM_LISTING)] if CHECKSUM_LISTING else [],
    output:
        f"{config['downloads_dir']}/{{release}}/{{filename}}",
    params:
        # this file's url / size / checksum only: editing another file's entry reruns nothing here
        file=lambda w: release_file_entry(w.filename),
        checksums_url=CHECKSUMS_URL,
    log:
        "logs/download/{release}/{filename}.log",
    retries: 2
    localrule: True
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/download_release_file.py"


rule gunzip_release_file:
    input:
        f"{config['downloads_dir']}/{{release}}/{{unzipped}}.gz",
    output:
        f"{config['downloads_dir']}/{{release}}/{{unzipped}}",
    log:
        "logs/download/{release}/{unzipped}.gunzip.log",
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/gunzip_release_file.py"


rule simulate_release:
    output:
        **{
            key: f"{config['downloads_dir']}/simulated/{name}"
            for key, name in SIMULATED_FILES.items()
        },
    params:
        settings=config.get("simulation", {}),
    log:
        "logs/download/simulated/simulate_release.log",
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/simulate_release.py"


ruleorder: simulate_release > gunzip_release_file > download_release_file


if CHECKSUM_LISTING:

    rule download_checksum_listing:
        output:
            CHECKSUM_LISTING,
        params:
            checksums_url=CHECKSUMS_URL,
        log:
            f"logs/download/{RELEASE_NAME}/checksum_listing.log",
        retries: 2
        localrule: True
        conda:
            "../../envs/io.yaml"
        script:
            "../scripts/download_checksum_listing.py"
