# Lines 5 and 7-20 of Algorithm 1: reindex, fit the predictors, expand and predict, time
# constraint, Pareto front, exploration front. Steps b >= 2; line 21 is rules/train.smk.


rule reindex:
    input:
        thrust=f"{STEPS}/b0/trained.csv",
        b1=f"{STEPS}/b1/trained.csv",
    output:
        reindex=f"{STEPS}/b1/reindex.csv",
    log:
        f"{STEPS}/logs/reindex.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
        settings=config_slice("search.operators"),
    shell:
        "{params.python:q} -m popnas_steps.cli.step reindex --settings {params.settings:q} "
        "--thrust {input.thrust:q} --b1 {input.b1:q} --out {output.reindex:q} > {log:q} 2>&1"


rule fit_predictors:
    input:
        trained=trained_before,
        reindex=rules.reindex.output.reindex,
        data=rules.prepare_data.output.metadata,
    output:
        predictors=directory(f"{STEPS}/b{{b}}/predictors"),
    log:
        f"{STEPS}/logs/fit_b{{b}}.log",
    conda:
        "../environment.yml"
    threads: 4  # scaled down by Snakemake to --cores; more does not help these small fits
    params:
        python=PYTHON,
        settings=config_slice(
            "seed",
            "network",
            "predictors",
            "search.operators",
            "search.max_blocks",
            "search.strategy",
        ),
    shell:
        "{params.python:q} -m popnas_steps.cli.step fit --settings {params.settings:q} "
        "--reindex {input.reindex:q} --data {input.data:q} --out {output.predictors:q} "
        "{input.trained:q} > {log:q} 2>&1"


rule expand:
    input:
        predictors=f"{STEPS}/b{{b}}/predictors",
        parents=lambda wildcards: trained_before(wildcards)[-1],  # b-1's, through its checkpoint
    output:
        candidates=f"{STEPS}/b{{b}}/candidates.parquet",
    log:
        f"{STEPS}/logs/expand_b{{b}}.log",
    conda:
        "../environment.yml"
    threads: 4  # scaled down by Snakemake to --cores; more does not help these small fits
    params:
        python=PYTHON,
        settings=config_slice("predictors"),
    shell:
        "{params.python:q} -m popnas_steps.cli.step expand --settings {params.settings:q} "
        "--predictors {input.predictors:q} --parents {input.parents:q} "
        "--out {output.candidates:q} > {log:q} 2>&1"


rule pareto:
    input:
        candidates=rules.expand.output.candidates,
    output:
        pareto=f"{STEPS}/b{{b}}/pareto.csv",
    log:
        f"{STEPS}/logs/pareto_b{{b}}.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
        settings=config_slice(
            "search.strategy",
            "search.beam",
            "search.time_constraint",
            "search.max_params",
            "search.max_latency_ms",
            *STRATEGY.front_reads,
            *OBJECTIVE_READS,
        ),
    shell:
        "{params.python:q} -m popnas_steps.cli.step pareto --settings {params.settings:q} "
        "--candidates {input.candidates:q} --out {output.pareto:q} > {log:q} 2>&1"


rule explore:
    input:
        candidates=rules.expand.output.candidates,
        pareto=rules.pareto.output.pareto,
    output:
        exploration=f"{STEPS}/b{{b}}/exploration.csv",
    log:
        f"{STEPS}/logs/explore_b{{b}}.log",
    conda:
        "../environment.yml"
    params:
        python=PYTHON,
        settings=config_slice(
            "search.strategy",
            "search.max_blocks",
            "search.exploration",
            "search.operators",
            "search.time_constraint",
            "search.max_params",
            "search.max_latency_ms",
            *OBJECTIVE_READS,
        ),
    shell:
        "{params.python:q} -m popnas_steps.cli.step explore --settings {params.settings:q} "
        "--b {wildcards.b} --candidates {input.candidates:q} --pareto {input.pareto:q} "
        "--out {output.exploration:q} > {log:q} 2>&1"
