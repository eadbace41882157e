# Final training of the best cells (paper 4.3), evaluated on the test split and exported.
# FINAL (the folder) and the input functions final_drawings and final_metrics are in
# rules/common.smk; a final cell's JSON is looked up by its id (cell_spec), as a search's is.


checkpoint select_final:
    input:
        ALL_TRAINED,
    output:
        selected=f"{FINAL}/selected.csv",
    log:
        f"{STEPS}/logs/select_final.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
        settings=config_slice("final.top"),
    shell:
        "{params.python:q} -m popnas_steps.cli.final select --settings {params.settings:q} "
        "--out {output.selected:q} {input:q} > {log:q} 2>&1"


rule train_final:
    # Writes its model and metrics as soon as it has trained, nothing optional after; keeps a
    # checkpoint per epoch in final/<cell_id>/checkpoint/, so a rerun after a kill or a SLURM
    # time limit (exit status 3) resumes from the last completed epoch. It depends on its
    # cell, the data and the final recipe only: a new final selection (final.top) that keeps
    # the cell trains nothing again.
    input:
        provenance_checked,
        data=rules.prepare_data.output.metadata,
    output:
        metrics=f"{FINAL}/{{cell_id}}/metrics.json",
        model=f"{FINAL}/{{cell_id}}/model.keras",
    log:
        f"{FINAL}/{{cell_id}}/train.log",
    conda:
        "../environment.yml"
    resources:
        gpu=1,
    params:
        python=PYTHON,
        settings=config_slice(*RECIPES["final"]),
        cell=cell_spec,
    shell:
        "{params.python:q} -m popnas_steps.cli.final train --settings {params.settings:q} "
        '--data "$(dirname {input.data:q})" --cell {params.cell:q} '
        '--out "$(dirname {output.metrics:q})" > {log:q} 2>&1'


rule draw_final_cell:
    # The cell's drawing (PNG with matplotlib, DOT text for graphviz users) runs after the
    # training as its own job: whatever fails here, the trained model and metrics stay.
    input:
        metrics=rules.train_final.output.metrics,
    output:
        png=f"{FINAL}/{{cell_id}}/cell.png",
        dot=f"{FINAL}/{{cell_id}}/cell.dot",
    log:
        f"{FINAL}/{{cell_id}}/draw.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
        cell=cell_spec,
    shell:
        "{params.python:q} -m popnas_steps.cli.report draw --cell {params.cell:q} "
        "--out {output.png:q} > {log:q} 2>&1"


rule export_final:
    # The final network as ONNX and LiteRT files, each checked against Keras on the test
    # split and timed at batch 1 (popnas_steps.deploy). Its own job after the training, as
    # the drawing: a format that cannot be made (the deploy extra missing, an op a converter
    # cannot take, a native crash: each format is made in a child process) is recorded in
    # export.json with its reason, printed as one line, and nothing here can cost the trained
    # model. It first removes the files of an earlier export; a damaged export.json is made
    # again (results.stale_artefacts).
    input:
        model=rules.train_final.output.model,
        metrics=rules.train_final.output.metrics,
        data=rules.prepare_data.output.metadata,
    output:
        export=f"{FINAL}/{{cell_id}}/export.json",
    log:
        f"{FINAL}/{{cell_id}}/export.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
        settings=config_slice("seed", "deploy"),
    shell:
        "{params.python:q} -m popnas_steps.cli.deploy export --settings {params.settings:q} "
        '--data "$(dirname {input.data:q})" --model {input.model:q} --out {output.export:q} > {log:q} 2>&1 '
        "&& {{ grep '^popnas: no ' {log:q} >&2 || true; }}"


rule report_final:
    input:
        metrics=final_metrics,
        exports=final_exports,  # read beside each metrics.json
    output:
        report(f"{REPORT}/final.csv", caption="../report/tables.rst", category="Tables"),
    log:
        f"{STEPS}/logs/report_final.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
    shell:
        "{params.python:q} -m popnas_steps.cli.report final --out {output:q} {input.metrics:q} > {log:q} 2>&1"
