"""The workflow's code meets the Snakemake workflow catalogue's standards: formatted by
snakefmt and clean under `snakemake --lint` (docs/architecture.md, "Workflow standards")."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from .workflow import ROOT, bare_env


def test_snakefiles_are_formatted_by_snakefmt():
    if importlib.util.find_spec("snakefmt") is None:
        pytest.skip('snakefmt is not installed (it is in the test extra: pip install -e ".[test]")')
    run = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "--diff", "Snakefile", "rules/"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0, "run `snakefmt Snakefile rules/` and review:\n" + (run.stdout + run.stderr)[-5000:]


@pytest.mark.parametrize("configfile", [None, "tiny.yaml", "cifar10.yaml"])
def test_snakemake_lint_is_clean(tmp_path, configfile):
    args = [] if configfile is None else ["--configfile", str(ROOT / "config" / configfile)]
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
         "--lint", "--cores", "1", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=bare_env(),
    )  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    assert "Congratulations" in run.stdout + run.stderr


# Snakemake reruns a job whose shell command changed (its `code` rerun trigger), so editing
# the command of a training rule retrains every cached cell of every run, a search's whole
# cost. These are the commands the cached results were made with; change one only on purpose,
# and say so in the release notes.
TRAINING_COMMANDS = {
    "rules/train.smk": (
        "{params.python:q} -m popnas_steps.cli.train_cell --settings {params.settings:q} "
        '--data "$(dirname {input.data:q})" --cell {params.cell:q} '
        '--out "$(dirname {output.result:q})" > {log:q} 2>&1'
    ),
    "rules/final.smk": (
        "{params.python:q} -m popnas_steps.cli.final train --settings {params.settings:q} "
        '--data "$(dirname {input.data:q})" --cell {params.cell:q} '
        '--out "$(dirname {output.metrics:q})" > {log:q} 2>&1'
    ),
}


@pytest.mark.parametrize("path", sorted(TRAINING_COMMANDS))
def test_training_commands_are_those_cached_results_were_made_with(path):
    text = (ROOT / path).read_text()
    lines = [line.strip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith('"{params.python:q} -m popnas_steps.cli.train_cell') or line.startswith(
            '"{params.python:q} -m popnas_steps.cli.final train'
        ):
            command = "".join(part.strip()[1:-1] for part in lines[i : i + 3])
            assert command == TRAINING_COMMANDS[path]
            return
    pytest.fail(f"no training command found in {path}")
