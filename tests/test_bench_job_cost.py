import json

import pytest

from bench import bench_job_cost


@pytest.mark.slow
def test_the_job_cost_bench_runs_real_jobs_fresh_and_warm(tmp_path):
    out = tmp_path / "job_cost.json"
    assert bench_job_cost.main(["--cells", "2", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    fresh, warm = report["summary"]["fresh"], report["summary"]["warm"]
    assert [job["warm_worker"] for job in fresh["jobs"]] == [None, None]
    pids = {job["warm_worker"] for job in warm["jobs"]}
    assert len(pids) == 1 and None not in pids  # one worker trained both cells
    assert warm["import_seconds_median"] < 0.1 < fresh["import_seconds_median"]
    assert all(job["fixed"] > 0 and job["t"] > 0 for job in fresh["jobs"] + warm["jobs"])
    assert set(report["ratios"]) == {"warm/fresh"}
