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


rule measure_latency:
    # The inference latency of each network of step b in ONNX Runtime, at batch 1 on this
    # host's CPU (popnas_steps.latency). Latency depends on the architecture alone, so the
    # networks are written from their cells with seeded weights: no GPU, no TensorFlow, no
    # trained model, and it runs beside the step's trainings (no GPU slot waits for it).
    # Each latency is relative to a reference network timed in the same rounds, in the
    # milliseconds of the reference as b1's job calibrates it for the whole run.
    # A latency that cannot be measured is recorded with its reason, one line on stderr, and
    # never fails the job: missing (no ONNX Runtime), failed (it cannot be loaded, refuses a
    # graph, or crashes: the timing runs in a child process). A table measured without a
    # usable runtime is measured again once it loads, and a deleted one is remade
    # (results.stale_artefacts).
    input:
        selected=step_selection,
        data=rules.prepare_data.output.metadata,
        reference=latency_reference,  # the run's reference latency (none for b1, which calibrates it)
    output:
        latency=f"{STEPS}/b{{b}}/latency.csv",
    log:
        f"{STEPS}/logs/latency_b{{b}}.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
        settings=config_slice(
            "seed",
            "network",
            "deploy.threads",
            "deploy.warmup",
            "deploy.runs",
            "deploy.rounds",
            "deploy.pause",
        ),
    shell:
        "{params.python:q} -m popnas_steps.cli.latency --settings {params.settings:q} "
        "--data {input.data:q} --selected {input.selected:q} --reference={input.reference:q} "
        "--out {output.latency:q} > {log:q} 2>&1 "
        "&& {{ grep '^popnas: no ' {log:q} >&2 || true; }}"


rule collect:
    # b<b>/trained.csv: the step's selection joined with each cell's measured result and
    # its network's latency.
    input:
        selected=step_selection,
        latency=rules.measure_latency.output.latency,
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
        "--latency {input.latency:q} --out {output.trained:q} {input.results:q} > {log:q} 2>&1"
