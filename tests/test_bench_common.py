"""bench/common.py: the machine record, the results' JSON and the Snakemake log every benchmark shares."""

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from bench import common

ROOT = Path(__file__).resolve().parent.parent

LOG = """Building DAG of jobs...
[Sat Nov 29 10:00:00 2026]
localrule prepare:
    output: results/default/data/metadata.json, results/default/data/train.npz
    jobid: 3
    reason: Missing output files
    resources: tmpdir=/tmp

[Sat Nov 29 10:00:05 2026]
Finished jobid: 3 (Rule: prepare)
1 of 2 steps (50%) done

[Sat Nov 29 10:00:06 2026]
rule train_cell:
    input: results/default/data/metadata.json
    output: results/default/cells/abc/result.json
    jobid: 7

[Sat Nov 29 10:00:20 2026]
Finished jobid: 7 (Rule: train_cell)
2 of 2 steps (100%) done
"""


def unix(clock: str) -> float:
    return datetime.strptime(f"2026-11-29 {clock}", "%Y-%m-%d %H:%M:%S").timestamp()


def test_every_job_of_a_snakemake_log_with_its_first_output_start_and_end(tmp_path):
    log = tmp_path / "x.snakemake.log"
    log.write_text(LOG)
    jobs = common.logged_jobs(log)
    assert [(job.rule, job.output) for job in jobs] == [
        ("prepare", "results/default/data/metadata.json"),
        ("train_cell", "results/default/cells/abc/result.json"),
    ]
    assert common.job_spans(log) == [
        ("prepare", unix("10:00:00"), unix("10:00:05")),
        ("train_cell", unix("10:00:06"), unix("10:00:20")),
    ]


def test_a_result_is_written_as_indented_json_in_a_new_folder_and_shown(tmp_path, capsys):
    out = tmp_path / "new" / "result.json"
    assert common.write_result(out, {"a": [1, 2]}) == out
    assert out.read_text() == json.dumps({"a": [1, 2]}, indent=2) + "\n"
    assert json.loads(capsys.readouterr().out) == {"a": [1, 2]}
    common.write_result(out, {"b": 1}, show=False)
    assert json.loads(out.read_text()) == {"b": 1} and capsys.readouterr().out == ""


def test_the_machine_is_described_without_importing_tensorflow():
    code = (
        "import sys, json; from bench.common import machine; "
        "print(json.dumps([machine(), 'tensorflow' in sys.modules]))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    described, imported = json.loads(run.stdout)
    assert not imported
    assert set(described) == {"platform", "node", "machine", "cpu_count", "python", "tensorflow", "gpu"}
    assert described["cpu_count"] > 0 and described["python"] == ".".join(map(str, sys.version_info[:3]))


def test_a_jobs_environment_keeps_off_a_searchs_devices_and_sockets(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    monkeypatch.setenv("POPNAS_DEVICES", '{"warm_workers": true}')
    env = common.job_environment(tmp_path)
    assert "CUDA_VISIBLE_DEVICES" not in env and "POPNAS_DEVICES" not in env
    assert env["TMPDIR"] == str(tmp_path) and env["PYTHONPATH"] == str(ROOT)
    warm = common.job_environment(tmp_path, Path("/old"), warm_workers=True)
    assert json.loads(warm["POPNAS_DEVICES"]) == {"warm_workers": True} and warm["PYTHONPATH"] == "/old"


def test_a_training_job_is_run_as_the_workflow_runs_it_and_its_result_read(tmp_path):
    # A stand-in for the interpreter: records the command line it got as the job's result.
    fake = tmp_path / "python"
    fake.write_text(f"""#!{sys.executable}
import json, pathlib, sys
out = pathlib.Path(sys.argv[sys.argv.index("--out") + 1])
out.mkdir()
(out / "result.json").write_text(json.dumps({{"argv": sys.argv[1:]}}))
""")
    fake.chmod(0o755)
    out = tmp_path / "jobs" / "cell"
    out.mkdir(parents=True)
    (out / "stale.txt").write_text("from an earlier run")
    result, wall = common.run_training_job(["--settings", "{}"], tmp_path / "data", "[]", out, python=str(fake))
    assert result["argv"] == ["-m", "popnas_steps.cli.train_cell", "--settings", "{}", "--data",
                              str(tmp_path / "data"), "--cell", "[]", "--out", str(out)]  # fmt: skip
    assert wall > 0 and not (out / "stale.txt").exists()
