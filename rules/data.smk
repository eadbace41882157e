rule prepare_data:
    output:
        metadata=f"{RUN}/data/metadata.json",
        train=f"{RUN}/data/train.npz",
        val=f"{RUN}/data/val.npz",
        test=f"{RUN}/data/test.npz",
    params:
        settings=config_slice("dataset", "seed"),
    log:
        f"{RUN}/logs/prepare_data.log",
    shell:
        "{PYTHON} -m popnas_steps.datasets prepare --settings {params.settings:q} "
        "--out $(dirname {output.metadata}) > {log} 2>&1"
