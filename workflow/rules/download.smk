rule download_release_file:
    output:
        f"{config['downloads_dir']}/{{release}}/{{filename}}",
    params:
        url=lambda w: FILES_BY_NAME[w.filename].url,
        checksum=lambda w: FILES_BY_NAME[w.filename].checksum,
        size=lambda w: FILES_BY_NAME[w.filename].size,
    log:
        "logs/download/{release}/{filename}.log",
    retries: 2
    localrule: True
    script:
        "../scripts/download_release_file.py"
