# Lines 5-17 of Algorithm 1: reindex, fit the predictors, expand and predict, Pareto front,
# exploration front. Steps b >= 2.


rule reindex:
    input:
        thrust=f"{STEPS}/b0/trained.csv",
        b1=f"{STEPS}/b1/trained.csv",
    output:
        reindex=f"{STEPS}/b1/reindex.csv",
    params:
        settings=config_slice("search.operators"),
    log:
        f"{STEPS}/logs/reindex.log",
    shell:
        "{PYTHON} -m popnas_steps.step reindex --settings {params.settings:q} --thrust {input.thrust} "
        "--b1 {input.b1} --out {output.reindex} > {log} 2>&1"


rule fit_predictors:
    input:
        trained=trained_before,
        reindex=rules.reindex.output.reindex,
    output:
        predictors=directory(f"{STEPS}/b{{b}}/predictors"),
    params:
        settings=config_slice(
            "seed", "network", "predictors", "search.operators", "search.max_blocks", "search.strategy"
        ),
    threads: 4  # scaled down by Snakemake to --cores; more does not help these small fits
    log:
        f"{STEPS}/logs/fit_b{{b}}.log",
    shell:
        "{PYTHON} -m popnas_steps.step fit --settings {params.settings:q} --reindex {input.reindex} "
        "--out {output.predictors} {input.trained} > {log} 2>&1"


rule expand:
    input:
        predictors=f"{STEPS}/b{{b}}/predictors",
        parents=lambda wildcards: f"{STEPS}/b{int(wildcards.b) - 1}/trained.csv",
    output:
        candidates=f"{STEPS}/b{{b}}/candidates.parquet",
    params:
        settings=config_slice("predictors"),
    threads: 4  # scaled down by Snakemake to --cores; more does not help these small fits
    log:
        f"{STEPS}/logs/expand_b{{b}}.log",
    shell:
        "{PYTHON} -m popnas_steps.step expand --settings {params.settings:q} --predictors {input.predictors} "
        "--parents {input.parents} --out {output.candidates} > {log} 2>&1"


rule pareto:
    input:
        candidates=rules.expand.output.candidates,
    output:
        pareto=f"{STEPS}/b{{b}}/pareto.csv",
    params:
        settings=config_slice("search.strategy", "search.beam", "search.time_constraint"),
    log:
        f"{STEPS}/logs/pareto_b{{b}}.log",
    shell:
        "{PYTHON} -m popnas_steps.step pareto --settings {params.settings:q} --candidates {input.candidates} "
        "--out {output.pareto} > {log} 2>&1"


rule explore:
    input:
        candidates=rules.expand.output.candidates,
        pareto=rules.pareto.output.pareto,
    output:
        exploration=f"{STEPS}/b{{b}}/exploration.csv",
    params:
        settings=config_slice(
            "search.strategy",
            "search.max_blocks",
            "search.exploration",
            "search.operators",
            "search.time_constraint",
        ),
    log:
        f"{STEPS}/logs/explore_b{{b}}.log",
    shell:
        "{PYTHON} -m popnas_steps.step explore --settings {params.settings:q} --b {wildcards.b} "
        "--candidates {input.candidates} --pareto {input.pareto} --out {output.exploration} > {log} 2>&1"
