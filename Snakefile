# popnas: POPNASv2 as a Snakemake workflow. Each search phase is a rule with file outputs
# under results/<run>/ (docs/outputs.md lists them; popnas_steps/layout.py builds their paths).
#
#   snakemake --cores all --resources gpu=1                         # the embedded default
#   snakemake --cores all --resources gpu=1 --configfile my.yaml    # overrides, key by key

import os
import sys
import time

from popnas_steps.config import check_config_files, validate
from popnas_steps.files import failure_note

STARTED = time.time()  # the job logs this run writes are newer (onerror)

# The embedded default, unless the user names config files (`--configfile a.yaml b.yaml`,
# later ones overriding earlier ones): a paper config then stands alone instead of being
# merged over the digits settings. Found next to this file, so `-s path/to/Snakefile` works.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


# Validate before any job runs: a typo or out-of-range value stops here, naming the key.
# Snakemake's own YAML loader keeps the last of a key given twice (two `search:` sections):
# the files it loaded are read again here, refusing that, naming the file and the key.
check_config_files(workflow.configfiles)
config.update(validate(config))


# The front page of the HTML report (`snakemake --report report.html`): the search and this
# run's settings, filled from the config.
report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/select.smk"
include: "rules/train.smk"
include: "rules/step.smk"
include: "rules/report.smk"
include: "rules/final.smk"


# On a cluster (`--executor slurm`), these run on the submit host instead of as jobs: each
# reads or writes a few tables or figures in seconds, less than a job's queueing, and
# prepare_data may download a dataset, which compute nodes often cannot. Trainings,
# predictor fitting, candidate scoring and the deployment exports (timed on a compute
# node's CPU, not a shared submit host) are the jobs. Ignored when running locally.
localrules:
    all,
    search,
    report,
    prepare_data,
    select_thrust,
    select_b1,
    collect,
    reindex,
    pareto,
    explore,
    select,
    select_final,
    report_pareto,
    report_predictors,
    report_usage,
    report_anytime,
    report_tensorboard,
    report_tables,
    report_ablation,
    report_cells,
    report_final,
    draw_final_cell,
    compare,


# A job that fails on a full disk cannot write its error to its log on that disk: say so here.
onerror:
    # Only the logs of the jobs that failed: one that succeeded may leave its log empty.
    failed = getattr(getattr(workflow, "scheduler", None), "failed", None)
    logs = None if failed is None else [log for job in failed for log in job.log]
    note = failure_note(RUN, STARTED, logs)
    if note:
        print(note, file=sys.stderr)


rule all:
    # The whole search, its figures and tables, and the final training of the best cells.
    default_target: True
    input:
        f"{STEPS}/b{B}/trained.csv",
        REPORT_FILES,
        f"{REPORT}/final.csv",
        final_drawings,


rule search:
    # The search alone: every step up to B trained and collected.
    input:
        f"{STEPS}/b{B}/trained.csv",


rule report:
    # Every figure and table (regenerate with: snakemake --cores all -R <the report rules>).
    input:
        REPORT_FILES,
        f"{REPORT}/final.csv",
        final_drawings,
