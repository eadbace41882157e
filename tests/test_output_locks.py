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
