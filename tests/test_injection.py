"""Shell injection through config values, run for real (not dry runs).

Every rule runs one `shell:` line into which Snakemake puts the interpreter, the rule's
config slice as JSON, and paths made from `run`, `compare.out` and `compare.runs`. Proven
here: shell payloads ($(...), backticks, `;`, single and double quotes, spaces, and newlines
where validation lets them through) in every free-form string that reaches a shell line
(`dataset.path` inside the settings JSON, `compare.out`, `compare.runs`) run as plain text:
the rules read and write exactly the named files, no payload's MARK file appears, and
nothing is written outside results/ and .snakemake/. The values that validation restricts
(`run`, `search.operators`, line breaks in the compare paths) are rejected naming the key
before any job. An interpreter whose path holds a space runs the rules, quoted.

Also proven: a compare path starting with '-' is not read as an option, and braces in
`dataset.path` are not read by Snakemake as a wildcard.
"""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
import venv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from popnas_steps.config import ConfigError, validate

from .workflow import ROOT, bare_env, snakemake

# Each payload, were a shell to run it, touches its own MARK (an absolute path).
PAYLOADS = {
    # first: these fire while bash expands the arguments, before `set -e` stops at a broken command
    "single-quote-dollar": "'$(touch {mark})'",
    "double-quote-dollar": '"$(touch {mark})"',
    "dollar": "$(touch {mark})",
    "backtick": "`touch {mark}`",
    "semicolon": "; touch {mark}",
    "single-quote": "' ; touch {mark}; '",
    "double-quote": '" ; touch {mark}; "',
}
OPERATORS = ["3x3 conv", "identity"]  # 10 one-block cells: little for select_b1 and compare to read


def payload(marks: Path, key: str, newline: bool = False) -> str:
    """One string holding every payload, with runs of spaces, each payload's MARK named for
    `key`; with a line break and a payload on the next line where `newline`."""
    text = "x  " + "  ".join(template.format(mark=marks / f"{key}.{kind}") for kind, template in PAYLOADS.items())
    if newline:
        text += f"\ntouch {marks / f'{key}.newline'}\n"
    return text + " y"


def listing(root: Path) -> set[str]:
    """Every file and folder under `root`, relative, symlinks not followed."""
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


def without_sidecars(paths: set[str]) -> set[str]:
    """`paths` less each output's hidden lock (`.<name>.lock`) and table checksum
    (`.<name>.sha256`), each of which must stand beside a path of the set."""
    sidecars = {path for path in paths if Path(path).name.startswith(".")}
    for sidecar in sidecars:
        name = Path(sidecar).name
        owner = str(Path(sidecar).with_name(name[1:].removesuffix(".lock").removesuffix(".sha256")))
        assert name.endswith((".lock", ".sha256")) and owner in paths, f"{sidecar} sidecars no output"
    return paths - sidecars


def write_npz(path: Path) -> None:
    """A tiny 3-class data set, as tests/conftest.py's tiny_npz (np.savez would add '.npz')."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 30)
    x = (rng.integers(0, 60, size=(90, 8, 8, 3)) + 80 * y[:, None, None, None]).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        np.savez(handle, x=x, y=y)


def finished_run(steps: Path) -> None:
    """The smallest step folder `compare` reads: trained tables of b=0 and b=1, each cell's
    result.json in ../cells, and report/summary.csv (the rule's input)."""
    from popnas_steps import tables
    from popnas_steps.space import Cell, one_block_cells

    from .synthetic import synthetic_training

    for b, (cells, origin) in enumerate([([Cell()], "thrust"), (one_block_cells(OPERATORS), "b1")]):
        (steps / f"b{b}").mkdir(parents=True)
        trained = synthetic_training(tables.selection_table(cells, origin), b, OPERATORS, steps.parent / "cells")
        trained.to_csv(steps / f"b{b}" / "trained.csv", index=False)
    (steps / "report").mkdir()
    (steps / "report" / "summary.csv").write_text("networks\n11\n")


def test_shell_payloads_in_config_values_run_as_plain_text(tmp_path):
    marks, inputs, work = tmp_path / "marks", tmp_path / "inputs", tmp_path / "work"
    for folder in (marks, inputs, work):
        folder.mkdir()
    npz = inputs / (payload(marks, "dataset.path", newline=True) + ".npz")
    write_npz(npz)
    runs = [
        str(inputs / payload(marks, f"compare.runs[{i}]") / strategy) for i, strategy in enumerate(["popnas", "pnas"])
    ]
    for run in runs:
        finished_run(Path(run))
    out = "results/" + payload(marks, "compare.out")
    config = {
        "run": "inj",
        "seed": 7,
        "dataset": {"source": "npz", "path": str(npz)},
        "search": {"operators": OPERATORS},
        "compare": {"runs": runs, "out": out},
    }
    assert validate(config)["compare"] == {**config["compare"], "out_outside_workdir": False}  # kept as written
    (inputs / "config.yaml").write_text(yaml.safe_dump(config))
    before, parent_before = listing(tmp_path), set(os.listdir(tmp_path.parent))

    targets = ["prepare_data", "select_thrust", "select_b1", "compare"]
    run = snakemake(work, *targets, "--cores", "1", "--configfile", str(inputs / "config.yaml"))

    assert sorted(os.listdir(marks)) == [], "a payload ran"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert set(os.listdir(tmp_path.parent)) == parent_before
    new = listing(tmp_path) - before
    stray = sorted(path for path in new if not path.startswith(("work/results", "work/.snakemake")))
    assert stray == []
    written = {os.path.relpath(path, "work/results") for path in new if (tmp_path / path).is_file()}
    written = {path for path in written if not path.startswith("..")}  # results/ only, not .snakemake/
    compare_out = os.path.relpath(out, "results")
    written = without_sidecars(written | {compare_out}) - {compare_out}  # the folder's lock stands beside it
    assert written == {
        *(f"inj/data/{name}" for name in ("metadata.json", "train.npz", "val.npz", "test.npz")),
        "inj/logs/prepare_data.log",
        *(f"inj/popnas/{name}" for name in ("b0/selected.csv", "b1/selected.csv", "logs/select_b0.log")),
        "inj/popnas/logs/select_b1.log",
        *(
            os.path.join(compare_out, name)
            for name in ("summary.csv", "top_networks.csv", "anytime.png", "compare.log")
        ),
    }
    # the payload paths reached the commands whole: the npz was read, each run folder and its cells
    assert sum(json.loads((work / "results/inj/data/metadata.json").read_text())["sizes"].values()) == 90
    assert len(pd.read_csv(work / "results/inj/popnas/b1/selected.csv")) == 10
    summary = pd.read_csv(work / out / "summary.csv")
    assert summary["run"].tolist() == [f"{Path(run).parent.name}/{Path(run).name}" for run in runs]
    assert summary["networks"].tolist() == [11, 11] and summary["search_wall_seconds"].notna().all()


@pytest.mark.parametrize("kind", [*PAYLOADS, "space", "newline", "final-newline"])
def test_payloads_in_run_and_operators_are_rejected_naming_the_key(tmp_path, kind):
    mark = tmp_path / "MARK"
    text = {"space": "my run", "newline": f"a\ntouch {mark}", "final-newline": "default\n"}.get(kind)
    text = text or PAYLOADS[kind].format(mark=mark)
    with pytest.raises(ConfigError, match=r"^config key 'run': "):
        validate({"run": text})
    with pytest.raises(ConfigError, match=r"^config key 'search.operators\[1\]': "):
        validate({"search": {"operators": ["3x3 conv", f"3x3 conv {text}"]}})
    assert not mark.exists()


def test_payloads_that_validation_rejects_stop_the_workflow_before_any_job(tmp_path):
    marks, work = tmp_path / "marks", tmp_path / "work"
    marks.mkdir()
    work.mkdir()
    config = {
        "run": "r" + payload(marks, "run"),
        "search": {"operators": ["3x3 conv", "identity " + payload(marks, "search.operators")]},
        "compare": {
            "runs": [str(tmp_path / payload(marks, "compare.runs", newline=True))],
            "out": "results/" + payload(marks, "compare.out", newline=True),
        },
    }
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    run = snakemake(work, "prepare_data", "select_b1", "--cores", "1", "--configfile", str(tmp_path / "bad.yaml"))
    output = run.stdout + run.stderr
    assert run.returncode != 0
    for key in ("run", "search.operators[1]", "compare.runs[0]", "compare.out"):
        assert f"config key '{key}'" in output
    assert "Building DAG of jobs" not in output
    assert sorted(os.listdir(marks)) == []
    assert {path.split(os.sep)[0] for path in listing(work)} <= {".snakemake"}


def test_an_interpreter_whose_path_holds_a_space_runs_the_rules(tmp_path):
    folder = tmp_path / "my venv"
    venv.create(folder, with_pip=False)
    python = folder / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the test environment's packages (with popnas' editable install) and the project
    (Path(site) / "popnas-test-environment.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n{ROOT}\n"
    )
    # what bash would run for an unquoted `.../my venv/bin/python -m ...`
    mark = tmp_path / "MARK"
    trap = tmp_path / "my"
    trap.write_text(f"#!/bin/sh\ntouch '{mark}'\n")
    trap.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    command = [python, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work)]
    command += ["select_thrust", "select_b1", "--cores", "1", "--config", "search={operators: [3x3 conv, identity]}"]
    run = subprocess.run(command, capture_output=True, text=True, cwd=work, env=bare_env())
    assert not mark.exists(), "bash ran the path before the space"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"'{python}' -m popnas_steps.cli.select_cells b1" in run.stdout + run.stderr  # the job's interpreter
    assert len(pd.read_csv(work / "results/default/popnas/b1/selected.csv")) == 10
    assert {path.split(os.sep)[0] for path in listing(work)} == {"results", ".snakemake"}
    assert sorted(os.listdir(tmp_path)) == ["my", "my venv", "work"]


# --- bugs found: a value that reaches a command as an option, a value read as a wildcard ---


def test_a_compare_out_starting_with_a_dash_is_written_there(tmp_path):
    work = tmp_path / "work"
    finished_run(tmp_path / "inputs" / "run" / "popnas")
    work.mkdir()
    config = {"compare": {"runs": [str(tmp_path / "inputs" / "run" / "popnas")], "out": "-cmp"}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    run = snakemake(
        work, "compare", "--cores", "1", "--latency-wait", "1", "--configfile", str(tmp_path / "config.yaml")
    )
    stray = sorted(without_sidecars(set(os.listdir(work)) - {".snakemake"}) - {"-cmp"})
    assert stray == [], f"written outside compare.out: {stray}"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


def test_a_compare_run_starting_with_a_dash_is_read_as_a_folder(tmp_path):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    finished_run(tmp_path / "inputs" / "run" / "popnas")
    option = f"--out-dir={elsewhere}"
    finished_run(work / option)  # a folder of that name in the working directory, holding a run
    config = {"compare": {"runs": [str(tmp_path / "inputs" / "run" / "popnas"), option]}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    run = snakemake(
        work, "compare", "--cores", "1", "--latency-wait", "1", "--configfile", str(tmp_path / "config.yaml")
    )
    assert not elsewhere.exists(), f"written outside the working directory: {sorted(os.listdir(elsewhere))}"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


def test_braces_in_the_dataset_path_are_read_or_rejected_naming_the_key(tmp_path):
    npz, work = tmp_path / "inputs" / "data {log}.npz", tmp_path / "work"
    write_npz(npz)
    work.mkdir()
    config = {"dataset": {"source": "npz", "path": str(npz)}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    run = snakemake(work, "prepare_data", "--cores", "1", "--configfile", str(tmp_path / "config.yaml"))
    output = run.stdout + run.stderr
    assert run.returncode == 0 or "config key 'dataset.path'" in output, output[-3000:]
