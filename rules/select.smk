rule select_thrust:
    # b=0 of Algorithm 1: the empty cell alone.
    output:
        selected=f"{STEPS}/b0/selected.csv",
    log:
        f"{STEPS}/logs/select_b0.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
    shell:
        "{params.python:q} -m popnas_steps.cli.select_cells thrust --out {output.selected:q} > {log:q} 2>&1"


rule select_b1:
    # b=1: every unique one-block cell.
    output:
        selected=f"{STEPS}/b1/selected.csv",
    log:
        f"{STEPS}/logs/select_b1.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
        settings=config_slice("search.operators"),
    shell:
        "{params.python:q} -m popnas_steps.cli.select_cells b1 --settings {params.settings:q} "
        "--out {output.selected:q} > {log:q} 2>&1"


# The caps that can empty a step's fronts, passed to select only when set (its log names
# them; a run without caps keeps the params it had): T needs a time predictor.
CAP_KEYS = objectives.cap_keys(config["search"], STRATEGY.fits_time_predictor)


checkpoint select:
    # b>=2: the Pareto front plus the exploration front; which cells is known only now.
    # The settings (K, J, B) serve the forecast line it logs (popnas_steps.status); with a
    # budget, the selection is cut to what it still pays for, measured on the trainings of
    # the steps before b (their trained.csv: every result they read is finished).
    input:
        pareto=f"{STEPS}/b{{b}}/pareto.csv",
        exploration=f"{STEPS}/b{{b}}/exploration.csv",
        trained=trained_before if BUDGET_KEYS else [],
    output:
        selected=f"{STEPS}/b{{b}}/selected.csv",
        dropped=f"{STEPS}/b{{b}}/dropped.csv",
    log:
        f"{STEPS}/logs/select_b{{b}}.log",
    wildcard_constraints:
        b="[2-9]|[1-9][0-9]+",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
        settings=config_slice(
            "search.strategy",
            "search.max_blocks",
            "search.beam",
            "search.exploration",
            *BUDGET_KEYS,
            *CAP_KEYS,
        ),
    shell:
        "{params.python:q} -m popnas_steps.cli.step select --settings {params.settings:q} --b {wildcards.b} "
        "--pareto {input.pareto:q} --exploration {input.exploration:q} --out {output.selected:q} "
        "--dropped {output.dropped:q} > {log:q} 2>&1"
