"""The workflow's code meets the Snakemake workflow catalogue's standards: formatted by
snakefmt and clean under `snakemake --lint` (README.md, "Workflow standards")."""

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
