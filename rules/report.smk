# Figures and tables from cached artefacts only: no rule here trains a network.


rule report_pareto:
    input:
        trained=f"{STEPS}/b{{b}}/trained.csv",
    output:
        report(
            f"{REPORT}/pareto_b{{b}}.png",
            caption="../report/pareto.rst",
            category="Pareto fronts",
            subcategory="b = {b}",
        ),
    log:
        f"{STEPS}/logs/report_pareto_b{{b}}.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
        settings=config_slice("search.objective"),  # one panel per cost
    shell:
        "{params.python:q} -m popnas_steps.cli.report pareto --trained {input.trained:q} "
        "--settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule report_predictors:
    input:
        ALL_TRAINED,
    output:
        time=report(
            f"{REPORT}/time_predictor.png",
            caption="../report/predictors.rst",
            category="Predictors",
        ),
        accuracy=report(
            f"{REPORT}/accuracy_predictor.png",
            caption="../report/predictors.rst",
            category="Predictors",
        ),
        latency=report(
            f"{REPORT}/latency_predictor.png",
            caption="../report/predictors.rst",
            category="Predictors",
        ),
        table=report(
            f"{REPORT}/predictor_quality.csv",
            caption="../report/tables.rst",
            category="Tables",
        ),
    log:
        f"{STEPS}/logs/report_predictors.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
    shell:
        "{params.python:q} -m popnas_steps.cli.report predictors --out-time {output.time:q} "
        "--out-accuracy {output.accuracy:q} --out-latency {output.latency:q} --out-table {output.table:q} "
        "{input:q} > {log:q} 2>&1"


rule report_usage:
    input:
        ALL_TRAINED,
    output:
        report(f"{REPORT}/usage.png", caption="../report/usage.rst", category="Search"),
    log:
        f"{STEPS}/logs/report_usage.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
        settings=config_slice("search.operators"),
    shell:
        "{params.python:q} -m popnas_steps.cli.report usage --settings {params.settings:q} "
        "--out {output:q} {input:q} > {log:q} 2>&1"


rule report_anytime:
    input:
        ALL_TRAINED,
    output:
        report(
            f"{REPORT}/anytime.png", caption="../report/anytime.rst", category="Search"
        ),
    log:
        f"{STEPS}/logs/report_anytime.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
    shell:
        "{params.python:q} -m popnas_steps.cli.report anytime --out {output:q} {input:q} > {log:q} 2>&1"


rule report_tensorboard:
    # The search's TensorBoard event file (only with training.tensorboard). A directory: Snakemake
    # removes it before the job, so a rerun replaces the event file instead of adding one.
    input:
        ALL_TRAINED,
    output:
        directory(f"{REPORT}/tensorboard"),
    log:
        f"{STEPS}/logs/report_tensorboard.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
    shell:
        "{params.python:q} -m popnas_steps.cli.report tensorboard --out {output:q} {input:q} > {log:q} 2>&1"


rule report_tables:
    input:
        trained=ALL_TRAINED,
        results=all_results,
        dropped=[f"{STEPS}/b{b}/dropped.csv" for b in range(2, B + 1)],
    output:
        summary=report(
            f"{REPORT}/summary.csv", caption="../report/tables.rst", category="Tables"
        ),
        top=report(
            f"{REPORT}/top_networks.csv",
            caption="../report/tables.rst",
            category="Tables",
        ),
    log:
        f"{STEPS}/logs/report_tables.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
    shell:
        "{params.python:q} -m popnas_steps.cli.report summary --out-summary {output.summary:q} "
        "--out-top {output.top:q} --results {input.results:q} --trained {input.trained:q} --dropped {input.dropped:q} > {log:q} 2>&1"


rule report_ablation:
    # Paper Table 1: NNLS, Ridge, XGBoost and CatBoost (and ours) refit on the cached results.
    input:
        trained=ALL_TRAINED,
        reindex=rules.reindex.output.reindex,
        data=rules.prepare_data.output.metadata,
    output:
        report(
            f"{REPORT}/time_ablation.csv",
            caption="../report/tables.rst",
            category="Tables",
        ),
    log:
        f"{STEPS}/logs/report_ablation.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
        settings=config_slice("seed", "network", "predictors", "search.operators"),
    shell:
        "{params.python:q} -m popnas_steps.cli.report ablation --settings {params.settings:q} "
        "--reindex {input.reindex:q} --data {input.data:q} --out {output:q} {input.trained:q} > {log:q} 2>&1"


rule report_cells:
    input:
        top=rules.report_tables.output.top,
    output:
        report(
            f"{REPORT}/top_cells.png", caption="../report/cells.rst", category="Search"
        ),
    log:
        f"{STEPS}/logs/report_cells.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
    shell:
        "{params.python:q} -m popnas_steps.cli.report cells --top {input.top:q} "
        "--out {output:q} > {log:q} 2>&1"


rule compare:
    # Paper Tables 4 and 5 and the anytime curves of finished runs, side by side:
    #   snakemake compare --cores 1 --config 'compare={runs: [results/default/popnas, results/default/pnas]}'
    input:
        [f"{run}/report/summary.csv" for run in config["compare"]["runs"]],
    output:
        summary=report(
            f"{config['compare']['out']}/summary.csv",
            caption="../report/tables.rst",
            category="Compare",
        ),
        top=f"{config['compare']['out']}/top_networks.csv",
        anytime=f"{config['compare']['out']}/anytime.png",
    log:
        f"{config['compare']['out']}/compare.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
        out=lambda wildcards, output: os.path.dirname(output.summary),
        runs=config["compare"]["runs"],
    shell:
        # `=` and `--`: a folder whose name starts with '-' is not read as an option
        "{params.python:q} -m popnas_steps.cli.report compare --out-dir={params.out:q} "
        "-- {params.runs:q} > {log:q} 2>&1"
