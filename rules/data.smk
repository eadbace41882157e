rule prepare_data:
    input:
        provenance_checked,
    output:
        metadata=f"{RUN}/data/metadata.json",
        train=f"{RUN}/data/train.npz",
        val=f"{RUN}/data/val.npz",
        test=f"{RUN}/data/test.npz",
    log:
        f"{RUN}/logs/prepare_data.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
        settings=config_slice(*RECIPES["data"]),
    shell:
        "{params.python:q} -m popnas_steps.cli.datasets prepare --settings {params.settings:q} "
        '--out "$(dirname {output.metadata:q})" > {log:q} 2>&1'
