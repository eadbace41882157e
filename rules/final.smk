# Final training of the best cells (paper 4.3), evaluated on the test split and exported.
FINAL = f"{STEPS}/final"


checkpoint select_final:
    input:
        ALL_TRAINED,
    output:
        selected=f"{FINAL}/selected.csv",
    params:
        settings=config_slice("final"),
    log:
        f"{STEPS}/logs/select_final.log",
    shell:
        "{PYTHON} -m popnas_steps.final select --settings {params.settings:q} --out {output.selected} {input} "
        "> {log} 2>&1"


def final_cell(wildcards):
    table = pd.read_csv(checkpoints.select_final.get().output.selected)
    return table.set_index("cell_id").loc[wildcards.cell_id, "cell"]


rule train_final:
    # Writes its model and metrics as soon as it has trained, nothing optional after; keeps a
    # checkpoint per epoch in final/<cell_id>/checkpoint/, so a rerun after a kill or a SLURM
    # time limit (exit status 3) resumes from the last completed epoch.
    input:
        data=rules.prepare_data.output.metadata,
        selected=f"{FINAL}/selected.csv",
    output:
        metrics=f"{FINAL}/{{cell_id}}/metrics.json",
        model=f"{FINAL}/{{cell_id}}/model.keras",
    params:
        settings=config_slice("seed", "network", "training", "final"),
        cell=final_cell,
    resources:
        gpu=1,
    log:
        f"{FINAL}/{{cell_id}}/train.log",
    shell:
        "{PYTHON} -m popnas_steps.final train --settings {params.settings:q} --data $(dirname {input.data}) "
        "--cell {params.cell:q} --out $(dirname {output.metrics}) > {log} 2>&1"


rule draw_final_cell:
    # The cell's drawing (PNG with matplotlib, DOT text for graphviz users) runs after the
    # training as its own job: whatever fails here, the trained model and metrics stay.
    input:
        metrics=rules.train_final.output.metrics,
        selected=f"{FINAL}/selected.csv",
    output:
        png=f"{FINAL}/{{cell_id}}/cell.png",
        dot=f"{FINAL}/{{cell_id}}/cell.dot",
    params:
        cell=final_cell,
    log:
        f"{FINAL}/{{cell_id}}/draw.log",
    shell:
        "{PYTHON:q} -m popnas_steps.report draw --cell {params.cell:q} --out {output.png:q} > {log:q} 2>&1"


def final_drawings(wildcards):
    table = pd.read_csv(checkpoints.select_final.get().output.selected)
    return [f"{FINAL}/{cell_id}/cell.png" for cell_id in table["cell_id"]]


def final_metrics(wildcards):
    table = pd.read_csv(checkpoints.select_final.get().output.selected)
    return [f"{FINAL}/{cell_id}/metrics.json" for cell_id in table["cell_id"]]


rule report_final:
    input:
        final_metrics,
    output:
        report(f"{REPORT}/final.csv", caption="../report/tables.rst", category="Tables"),
    log:
        f"{STEPS}/logs/report_final.log",
    shell:
        "{PYTHON} -m popnas_steps.report final --out {output} {input} > {log} 2>&1"
