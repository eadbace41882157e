import os
import select
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

from popnas_steps.files import output_lock

# Takes the lock of argv[1], says so, and holds it until a line comes on stdin.
HOLD = """
import sys
from popnas_steps.files import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def holder(path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def line_within(stream, seconds: float = 30) -> str:
    ready, _, _ = select.select([stream], [], [], seconds)
    assert ready, f"nothing within {seconds} s"
    return stream.readline()


@contextmanager
def first_and_waiting_second(out):
    """Two holders of `out`'s lock: the first holds it, the second has said it waits."""
    first = holder(out)
    assert line_within(first.stdout) == "held\n"
    second = holder(out)
    try:
        yield first, second, line_within(second.stderr)
    finally:
        for process in (first, second):
            process.kill()
            process.wait()


def release(process: subprocess.Popen) -> None:
    process.stdin.write("\n")
    process.stdin.flush()


def test_a_second_writer_waits_for_the_first_and_names_it(tmp_path):
    out = tmp_path / "b1" / "trained.csv"
    with first_and_waiting_second(out) as (first, second, waiting):
        assert waiting.startswith(f"waiting for process {first.pid}, which is writing '{out}'")
        time.sleep(1)
        assert second.poll() is None and not select.select([second.stdout], [], [], 0)[0]  # still waiting
        release(first)
        assert line_within(second.stdout) == "held\n"  # the first let go: the second goes on
        assert first.wait(timeout=30) == 0
        release(second)
        assert second.wait(timeout=30) == 0


def test_the_lock_is_a_hidden_file_beside_the_output_holding_the_holders_pid(tmp_path):
    out = tmp_path / "steps" / "b1" / "trained.csv"
    with output_lock(out):
        lock = tmp_path / "steps" / "b1" / ".trained.csv.lock"
        assert lock.is_file() and lock.read_text() == f"{os.getpid()}\n"
        assert not out.exists()  # the lock creates the folder, not the output
    with output_lock(str(out)):  # released: taken again at once
        pass
    assert sorted(p.name for p in out.parent.iterdir()) == [".trained.csv.lock"]


def test_a_folder_output_is_locked_beside_the_folder(tmp_path):
    out = tmp_path / "predictors"
    with first_and_waiting_second(out) as (first, second, waiting):
        assert (tmp_path / ".predictors.lock").read_text() == f"{first.pid}\n"
        assert not out.exists()
        assert f"waiting for process {first.pid}" in waiting
        release(first)
        assert line_within(second.stdout) == "held\n"
        assert (tmp_path / ".predictors.lock").read_text() == f"{second.pid}\n"


def test_a_killed_holder_releases_the_lock(tmp_path):
    out = tmp_path / "cells" / "abc" / "result.json"
    with first_and_waiting_second(out) as (first, second, waiting):
        assert f"waiting for process {first.pid}" in waiting
        os.kill(first.pid, signal.SIGKILL)  # a job killed with no chance to clean up
        assert line_within(second.stdout) == "held\n"


def test_writers_of_different_outputs_do_not_wait(tmp_path):
    first, second = holder(tmp_path / "a.csv"), holder(tmp_path / "b.csv")
    try:
        assert line_within(first.stdout) == line_within(second.stdout) == "held\n"
    finally:
        for process in (first, second):
            process.kill()
            process.wait()


def test_a_failed_run_names_the_job_logs_it_left_empty_and_the_free_space(tmp_path):
    from popnas_steps.files import failure_note

    old = tmp_path / "logs" / "old.log"
    old.parent.mkdir()
    old.write_text("")
    os.utime(old, (1000, 1000))  # empty, but from an earlier run
    since = time.time() - 1
    (tmp_path / "logs" / "written.log").write_text("Traceback ...\n")
    (tmp_path / "cells" / "abc").mkdir(parents=True)
    (tmp_path / "cells" / "abc" / "train.log").write_text("")
    note = failure_note(tmp_path, since)
    assert note.startswith("popnas: ") and " MiB free on the disk that holds " in note
    assert "1 job log(s) written by this run are empty" in note
    assert str(tmp_path / "cells" / "abc" / "train.log") in note
    assert "old.log" not in note and "written.log" not in note


def test_a_failed_run_with_its_logs_written_and_room_on_disk_has_nothing_to_add(tmp_path):
    from popnas_steps.files import failure_note

    (tmp_path / "job.log").write_text("error: bad value\n")
    assert failure_note(tmp_path, 0) is None
    assert failure_note(tmp_path / "absent", 0) is None  # failed before the run wrote anything


def test_a_failed_run_on_a_nearly_full_disk_says_so(tmp_path, monkeypatch):
    import shutil

    from popnas_steps import files

    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 2**20, 2**20))
    note = files.failure_note(tmp_path, 0)
    assert "1 MiB free" in note and "the disk is (nearly) full" in note


def test_a_failed_run_names_only_the_empty_logs_of_the_jobs_that_failed(tmp_path):
    from popnas_steps.files import failure_note

    logs = tmp_path / "popnas" / "logs"
    logs.mkdir(parents=True)
    (logs / "collect_b2.log").write_text("")  # a job that succeeded and wrote nothing
    (logs / "pareto_b3.log").write_text("error: not enough values to unpack\n")
    assert failure_note(tmp_path, 0, [logs / "pareto_b3.log"]) is None
    (logs / "fit_b3.log").write_text("")  # failed, its error lost
    note = failure_note(tmp_path, 0, [logs / "pareto_b3.log", str(logs / "fit_b3.log")])
    assert "1 job log(s) written by this run are empty" in note and "fit_b3.log" in note
    assert "collect_b2.log" not in note
