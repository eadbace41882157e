"""Every entry point that writes a rule's output holds that output's lock (files.output_lock):
after a SIGKILL of Snakemake, the rerun's job waits for the orphan still writing the same
output instead of writing beside it."""

import json
import subprocess
import sys

import pytest

from popnas_steps import tables
from popnas_steps.space import Cell

from .conftest import tiny_config
from .test_files import holder, line_within, release
from .test_report import trained_steps


def start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def settings(**overrides) -> str:
    return json.dumps(tiny_config(**overrides))


def commands(tmp_path) -> dict[str, tuple[list[str], str]]:
    """Each entry point: (its command line, the output whose lock it takes)."""
    trained = tmp_path / "b2" / "trained.csv"
    tables.write("trained", trained_steps(), trained)
    metrics = tmp_path / "final" / "abc" / "metrics.json"
    metrics.parent.mkdir(parents=True)
    data = tmp_path / "data"
    return {
        "prepare_data": (
            ["popnas_steps.cli.datasets", "prepare", "--settings", settings(), "--out", str(data)],
            str(data / "metadata.json"),
        ),
        "select_thrust": (
            ["popnas_steps.cli.select_cells", "thrust", "--out", str(tmp_path / "b0" / "selected.csv")],
            str(tmp_path / "b0" / "selected.csv"),
        ),
        "select_final": (
            [
                "popnas_steps.cli.final",
                "select",
                "--settings",
                settings(),
                "--out",
                str(tmp_path / "final" / "selected.csv"),
                str(trained),
            ],
            str(tmp_path / "final" / "selected.csv"),
        ),  # fmt: skip
        "train_final": (
            [
                "popnas_steps.cli.final",
                "train",
                "--settings",
                settings(),
                "--data",
                str(data),
                "--cell",
                Cell().to_json(),
                "--out",
                str(metrics.parent),
            ],
            str(metrics),
        ),  # fmt: skip
        "report_pareto": (
            ["popnas_steps.cli.report", "pareto", "--trained", str(trained), "--out", str(tmp_path / "pareto.png")],
            str(tmp_path / "pareto.png"),
        ),
        "report_predictors": (
            [
                "popnas_steps.cli.report",
                "predictors",
                "--out-time",
                str(tmp_path / "time.png"),
                "--out-accuracy",
                str(tmp_path / "accuracy.png"),
                "--out-table",
                str(tmp_path / "quality.csv"),
                str(trained),
            ],
            str(tmp_path / "quality.csv"),
        ),  # fmt: skip
    }


@pytest.mark.parametrize(
    "entry", ["prepare_data", "select_thrust", "select_final", "train_final", "report_pareto", "report_predictors"]
)
def test_each_writer_waits_for_the_holder_of_its_output(tmp_path, entry):
    command, output = commands(tmp_path)[entry]
    first = holder(output)
    assert line_within(first.stdout) == "held\n"
    second = start(command)
    try:
        assert line_within(second.stderr, seconds=120).startswith(f"waiting for process {first.pid}, which is writing")
        assert second.poll() is None  # still waiting: nothing written beside the holder
        if entry == "train_final":
            return  # it would train next: the wait is what this checks
        release(first)
        assert first.wait(timeout=30) == 0
        _, errors = second.communicate(timeout=120)
        assert second.returncode == 0, errors
    finally:
        for process in (first, second):
            process.kill()
            process.wait()


def finished_metrics(config: dict, cell: Cell, data) -> dict:
    from popnas_steps import provenance
    from popnas_steps.datasets import data_sha256

    return {"cell_id": cell.cell_id, "test_accuracy": 0.5, "test_macro_f1": 0.4, "resumed_from_epoch": 3,
            "settings": provenance.recipe(config, "final"), "data_sha256": data_sha256(data)}  # fmt: skip


def test_a_final_training_finished_while_the_rerun_waited_is_kept_not_trained_again(tiny_data, tmp_path):
    config, cell = tiny_config(), Cell.from_json([[-1, "3x3 conv", -2, "identity"]])
    out = tmp_path / "final" / cell.cell_id
    first = holder(out / "metrics.json")  # the orphan of a killed Snakemake
    assert line_within(first.stdout) == "held\n"
    command = ["popnas_steps.cli.final", "train", "--settings", json.dumps(config), "--data", str(tiny_data),
               "--cell", cell.to_json(), "--out", str(out)]  # fmt: skip
    second = start(command)
    try:
        assert line_within(second.stderr, seconds=120).startswith(f"waiting for process {first.pid}")
        (out / "model.keras").write_bytes(b"the orphan's model")
        (out / "metrics.json").write_text(json.dumps(finished_metrics(config, cell, tiny_data)))
        release(first)
        printed, errors = second.communicate(timeout=120)
        assert second.returncode == 0, errors
        assert f"the final training of {cell.cell_id} was finished while this job waited; it is kept" in printed
        assert (out / "model.keras").read_bytes() == b"the orphan's model"
    finally:
        for process in (first, second):
            process.kill()
            process.wait()


def test_only_a_finished_final_training_of_this_cell_recipe_and_data_is_kept(tiny_data, tmp_path):
    from popnas_steps.final import finished_final

    config, cell = tiny_config(), Cell.from_json([[-1, "3x3 conv", -2, "identity"]])
    out = tmp_path / "final"
    out.mkdir()
    metrics = finished_metrics(config, cell, tiny_data)
    (out / "metrics.json").write_text(json.dumps(metrics))
    assert finished_final(config, cell, tiny_data, out) is None  # no model: not finished
    (out / "model.keras").write_bytes(b"model")
    assert finished_final(config, cell, tiny_data, out) == metrics
    assert finished_final(config, Cell(), tiny_data, out) is None  # another cell
    assert finished_final(tiny_config(final={"epochs": 7}), cell, tiny_data, out) is None  # another recipe
    (out / "metrics.json").write_text(json.dumps({**metrics, "data_sha256": "0" * 64}))
    assert finished_final(config, cell, tiny_data, out) is None  # another split
    (out / "metrics.json").write_text(json.dumps(metrics)[:40])
    assert finished_final(config, cell, tiny_data, out) is None  # cut
