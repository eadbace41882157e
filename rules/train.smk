EMPTY_CELL_ID = cell_id(Cell())


rule select_thrust:
    # b=0 of Algorithm 1: the empty cell alone.
    output:
        selected=f"{RUN}/b0/selected.csv",
        cell=f"{RUN}/cells/{EMPTY_CELL_ID}/cell.json",
    log:
        f"{RUN}/logs/select_thrust.log",
    shell:
        "{PYTHON} -m popnas_steps.select_cells thrust --out {output.selected} --cells-dir {RUN}/cells > {log} 2>&1"


rule train_cell:
    # One network: trained on the run's fixed split; a failure is a result, not a crash.
    input:
        data=rules.prepare_data.output.metadata,
        cell=f"{RUN}/cells/{{cell_id}}/cell.json",
    output:
        result=f"{RUN}/cells/{{cell_id}}/result.json",
    params:
        settings=config_slice("seed", "network", "training"),
    resources:
        gpu=1,
    log:
        f"{RUN}/cells/{{cell_id}}/job.log",
    shell:
        "{PYTHON} -m popnas_steps.train_cell --settings {params.settings:q} --data $(dirname {input.data}) "
        "--cell-file {input.cell} --out $(dirname {output.result}) > {log} 2>&1"


rule collect_thrust:
    input:
        selected=rules.select_thrust.output.selected,
        results=[f"{RUN}/cells/{EMPTY_CELL_ID}/result.json"],
    output:
        trained=f"{RUN}/b0/trained.csv",
    log:
        f"{RUN}/logs/collect_b0.log",
    shell:
        "{PYTHON} -m popnas_steps.collect --b 0 --selected {input.selected} --out {output.trained} "
        "{input.results} > {log} 2>&1"
