rule train_cell:
    # One network on the run's fixed split. A failure (NaN, out of memory, exception, a
    # training process killed by a signal) is a `failed` result, recorded by train_cell,
    # which supervises the training process; a bad input (exit status 2) stops the job.
    input:
        provenance_checked,
        data=rules.prepare_data.output.metadata,
    output:
        result=f"{RUN}/cells/{{cell_id}}/result.json",
    log:
        f"{RUN}/cells/{{cell_id}}/job.log",
    conda:
        "../environment.yml"
    resources:
        gpu=1,
    params:
        python=PYTHON,
        settings=config_slice(*RECIPES["cell"]),
        cell=cell_spec,
    shell:
        "{params.python:q} -m popnas_steps.cli.train_cell --settings {params.settings:q} "
        '--data "$(dirname {input.data:q})" --cell {params.cell:q} '
        '--out "$(dirname {output.result:q})" > {log:q} 2>&1'


rule collect:
    # b<b>/trained.csv: the step's selection joined with each cell's measured result.
    input:
        selected=step_selection,
        results=step_results,
    output:
        trained=f"{STEPS}/b{{b}}/trained.csv",
    log:
        f"{STEPS}/logs/collect_b{{b}}.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
    shell:
        "{params.python:q} -m popnas_steps.cli.collect --b {wildcards.b} --selected {input.selected:q} "
        "--out {output.trained:q} {input.results:q} > {log:q} 2>&1"
