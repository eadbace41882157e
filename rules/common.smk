# Shared helpers of the rules: paths, config slices and input functions.
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

from snakemake.settings.types import DeploymentMethod

from snakemake.logging import logger

from popnas_steps import objectives, tables
from popnas_steps.slices import WATCH_ENVIRONMENT, params_text, watch_settings
from popnas_steps.devices import DEVICES_ENVIRONMENT
from popnas_steps.latency import CALIBRATION_STEP
from popnas_steps.layout import RunLayout
from popnas_steps.macro import NetworkSpec
from popnas_steps.network import kernel_warnings
from popnas_steps.provenance import RECIPES
from popnas_steps.results import stale_artefacts
from popnas_steps.space import Cell, cell_id, one_block_cells
from popnas_steps.strategies import strategy_of

# The interpreter of every step, passed to each rule as `params.python`. Without
# `--sdm conda`: the interpreter running Snakemake, so a venv needs no activation. With it:
# the `python` of the rule's conda environment (environment.yml), which Snakemake activates.
# A Path, not a str: Snakemake records only plain values (str, numbers, containers) of
# params for its rerun trigger, so running from another venv, or moving it, reruns nothing.
_settings = getattr(workflow, "deployment_settings", None)
_conda = _settings is not None and DeploymentMethod.CONDA in _settings.deployment_method
PYTHON = Path("python" if _conda else sys.executable)

# The run's files (popnas_steps.layout); the rules' patterns are written over these folders.
LAYOUT = RunLayout(Path("results") / config["run"], config["search"]["strategy"])
RUN = str(LAYOUT.run_dir)  # data/ and cells/ (shared by strategies: a cell trains once)
STEPS = str(LAYOUT.steps)  # b<b>/ folders of this strategy
FINAL = str(LAYOUT.final)  # the final training of the best cells (rules/final.smk)
B = config["search"]["max_blocks"]
STRATEGY = strategy_of(config["search"]["strategy"])
# What the fronts read to make the costs of search.objective and the caps (a column no
# predictor makes: params' network and operators), left out where no objective in use
# needs them, so that the fronts of a run that uses none keep their params.
OBJECTIVE_READS = objectives.reads(config["search"])
OPERATORS = config["search"]["operators"]

# The report's folder and files, and the trained tables of every step (rules/report.smk,
# rules/final.smk and the Snakefile's targets).
REPORT = str(LAYOUT.report)
ALL_TRAINED = [str(LAYOUT.table(b, "trained")) for b in range(B + 1)]
REPORT_FILES = [f"{REPORT}/pareto_b{b}.png" for b in range(2, B + 1)] + [
    f"{REPORT}/{name}"
    for name in (
        "time_predictor.png", "accuracy_predictor.png", "latency_predictor.png", "predictor_quality.csv", "usage.png", "anytime.png",
        "summary.csv", "top_networks.csv", "time_ablation.csv", "top_cells.png",
    )
]  # fmt: skip
# The search's TensorBoard event file, only when TensorBoard is on.
if config["training"]["tensorboard"]:
    REPORT_FILES.append(f"{REPORT}/tensorboard")

EMPTY_CELL_ID = cell_id(Cell())
B1_CELLS = {cell.cell_id: cell.to_json() for cell in one_block_cells(OPERATORS)}


# A damaged or missing result, a damaged table, and data, results or final trainings made
# with other settings or data than the config's are made again with everything made from
# them, as `--forcerun FILE` would: Snakemake alone would take a damaged file for a finished
# one, would not rebuild a missing file that only finished files were made from, and keeps
# its record of params in .snakemake/, which a copied run lacks (popnas_steps.provenance).
# Checked by the Snakemake that plans the run (a SLURM job runs only its own rule).
STALE, _reasons = (
    stale_artefacts(LAYOUT, config) if workflow.is_main_process else (set(), [])
)
for _reason in _reasons:
    logger.warning(f"popnas: {_reason}")


def force_stale():
    """Force the jobs of STALE's files (called by input functions, as the DAG is built: the
    files are forced where the plan needs them, and not added to it)."""
    if STALE and workflow.dag is not None:
        workflow.dag.forcefiles.update(STALE)


def provenance_checked(wildcards):
    """No input file: forces STALE's files in a plan that holds the writers of the data, the
    cells and the finals but no collect (a target named by hand)."""
    force_stale()
    return []


# A kernel larger than the feature maps it meets mostly convolves padding: said once the
# data is prepared (and in the train.log of each cell that uses it).
if workflow.is_main_process and LAYOUT.metadata.is_file():
    with open(LAYOUT.metadata) as _handle:
        _shape = json.load(_handle)["input_shape"]
    for _warning in kernel_warnings(
        OPERATORS, _shape, NetworkSpec(**config["network"])
    ):
        logger.warning(f"popnas: {_warning}")


wildcard_constraints:
    cell_id="[0-9a-f]{12}",
    b="[0-9]+",


def config_slice(*keys):
    """The named config entries ("section" or "section.key") as canonical JSON, less the
    keys that change no result (slices.WATCH_KEYS: training.tensorboard; see WATCH_ENVIRONMENT)
    and the recipe keys added later while at their default (slices.LATER_KEYS:
    training.augment_on_device), so that upgrading popnas retrains no cached cell.

    Each rule passes only what it reads, so a config change reruns only the rules whose
    slice changed (the profile's rerun trigger on params, which records a function's value).
    A function, not the text: Snakemake would read `{name}` in a value, such as a dataset
    path, as a wildcard.
    """
    text = params_text(config, *keys)
    return lambda wildcards: text


# The keys that say how a training is watched (training.tensorboard) reach the trainings
# through the environment, not their command line or params: Snakemake reruns a job whose
# shell command or recorded params changed, so either would retrain every cached cell when
# TensorBoard is turned on (or when popnas is upgraded). Every Snakemake process parses this
# file, a cluster job's included, so each sets it for the jobs it runs.
os.environ.update(
    {WATCH_ENVIRONMENT: json.dumps(watch_settings(config), sort_keys=True)}
)
# Likewise how trainings share the machine (devices: trainings per GPU, warm workers).
os.environ.update({DEVICES_ENVIRONMENT: json.dumps(config["devices"], sort_keys=True)})


_selected_cache = {}


def cell_spec(wildcards):
    """The JSON of a cell from its id: the thrust, b=1, or the selection of a step b >= 2.

    Looked up in the selections written so far rather than declared as an input: a cell's
    result depends on the cell, the data and the recipe alone, so a new selection of the
    same step must not retrain it, and a remote job (SLURM) may not call a checkpoint from
    a params function.
    """
    if wildcards.cell_id == EMPTY_CELL_ID:
        return "[]"
    if wildcards.cell_id in B1_CELLS:
        return B1_CELLS[wildcards.cell_id]
    for path in sorted(map(str, LAYOUT.step_files("selected").values())):
        key = (path, os.path.getmtime(path))
        if key not in _selected_cache:
            table = tables.read("selected", path)
            _selected_cache[key] = dict(zip(table["cell_id"], table["cell"]))
        if wildcards.cell_id in _selected_cache[key]:
            return _selected_cache[key][wildcards.cell_id]
    raise ValueError(f"cell {wildcards.cell_id} is in no selection of {STEPS}")


def step_selection(wildcards):
    force_stale()
    b = int(wildcards.b)
    if b >= 2:
        return checkpoints.select.get(b=wildcards.b).output.selected
    return str(LAYOUT.table(b, "selected"))


def step_results(wildcards):
    """result.json of every cell selected at step b (after its selection checkpoint)."""
    b = int(wildcards.b)
    if b == 0:
        ids = [EMPTY_CELL_ID]
    elif b == 1:
        ids = list(B1_CELLS)
    else:
        ids = tables.read("selected", step_selection(wildcards))["cell_id"]
    return [str(LAYOUT.result(i)) for i in ids]


def all_results(wildcards):
    """result.json of every cell of every step (after each step's selection checkpoint)."""
    return [
        path for b in range(B + 1) for path in step_results(SimpleNamespace(b=str(b)))
    ]


def latency_reference(wildcards):
    """The latency table whose reference latency step b's job reads: b1's, which calibrates
    it (none for b1 itself)."""
    if int(wildcards.b) == CALIBRATION_STEP:
        return []
    return str(LAYOUT.table(CALIBRATION_STEP, "latency"))


def trained_before(wildcards):
    """trained.csv of every step before b: the data the predictors of step b fit on.

    Each step b' >= 2 is reached through its select checkpoint, so that the job is planned
    again once that checkpoint has run: Snakemake keeps the reason "updated by another job"
    of a job planned downstream of a checkpoint that reruns, even when the checkpoint makes
    the same selection again and `collect` has nothing to do; a new search.objective would
    then fit every later step's predictors again."""
    for before in range(2, int(wildcards.b)):
        checkpoints.select.get(b=str(before))
    return [str(LAYOUT.table(i, "trained")) for i in range(int(wildcards.b))]


# search.budget_hours reaches only the selections of steps b >= 2, and only when set, so a
# run without a budget keeps the params and inputs it had before the key existed.
BUDGET_KEYS = (
    ["search.budget_hours"] if config["search"].get("budget_hours") is not None else []
)


def final_selection():
    """The final selection's table (its checkpoint must have run)."""
    return tables.read("final_selected", checkpoints.select_final.get().output.selected)


def final_drawings(wildcards):
    """The drawing of every cell of the final selection (after its checkpoint)."""
    force_stale()
    return [
        str(LAYOUT.final / cell_id / "cell.png")
        for cell_id in final_selection()["cell_id"]
    ]


def final_metrics(wildcards):
    """The test metrics of every cell of the final selection (after its checkpoint)."""
    force_stale()
    return [
        str(LAYOUT.final / cell_id / "metrics.json")
        for cell_id in final_selection()["cell_id"]
    ]


def final_exports(wildcards):
    """The deployment exports of every cell of the final selection (after its checkpoint)."""
    force_stale()
    return [
        str(LAYOUT.final / cell_id / "export.json")
        for cell_id in final_selection()["cell_id"]
    ]
