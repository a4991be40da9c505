"""core.jobs on a job of no kind in particular (what a third kind, sweeps, would build on):
status under a lock, one spawn, one liveness check with a start-up grace, cancel, lines."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from core import jobs
from core.errors import StorageError

WAIT_S = 60  # a guard against hanging, not a timing assertion


@pytest.fixture
def job(lab_home) -> Path:
    folder = lab_home / "sweeps" / "s1"
    folder.mkdir(parents=True)
    jobs.write_status(folder, status="queued")
    return folder


def test_status_changes_merge_and_an_ended_job_keeps_its_end(job):
    jobs.write_status(job, status="running", step=1)
    jobs.write_status(job, step=2)
    assert jobs.read_status(job)["status"] == "running" and jobs.read_status(job)["step"] == 2
    jobs.write_status(job, status="succeeded")
    kept = jobs.write_status(job, unless=jobs.FINAL, status="crashed")
    assert kept["status"] == "succeeded" and jobs.read_status(job)["status"] == "succeeded"


def test_a_spawned_job_runs_in_the_lab_s_environment_and_its_end_is_noticed(job, lab_home):
    pid = jobs.spawn(job, ["--help"])  # a process that ends at once, recording nothing
    assert jobs.read_status(job)["pid"] == pid
    deadline = time.monotonic() + WAIT_S
    while jobs.process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    status = jobs.settle(job, "Start it again.")
    assert status["status"] == "crashed" and status["problem"] == jobs.STOPPED
    assert "usage: python -m core" in (job / "log.txt").read_text()  # its output, in its log
    assert jobs.lab_environment()["PROMPTTUNE_HOME"] == str(lab_home)


def test_a_live_job_without_a_process_waits_out_the_grace_then_never_started(job):
    assert jobs.settle(job, "fix")["status"] == "queued"  # its process may be starting
    then = time.time() - jobs.SPAWN_GRACE_S - 1
    os.utime(job / "status.json", (then, then))
    assert jobs.queue_order([job]) == []  # no longer in anybody's way
    status = jobs.settle(job, "Start it again.")
    assert status["status"] == "crashed" and status["problem"] == jobs.NEVER_STARTED


def test_a_pid_reused_by_another_process_is_not_the_job_s(job):
    me = os.getpid()
    assert jobs.process_alive(me, jobs.create_time(me))
    assert not jobs.process_alive(me, jobs.create_time(me) - 100)  # another process, same pid


def test_queue_order_is_the_order_jobs_were_queued_in(lab_home):
    folders = []
    for name, at in (("late", 30.0), ("early", 10.0), ("middle", 20.0)):
        folder = lab_home / name
        folder.mkdir(parents=True)
        jobs.write_status(folder, status="queued", queued_at=at, pid=os.getpid(),
                          pid_started=jobs.create_time(os.getpid()))
        folders.append(folder)
    assert jobs.queue_order(folders) == ["early", "middle", "late"]


def test_cancel_and_lines(job):
    assert not jobs.cancel_requested(job)
    jobs.request_cancel(job, "cancel the sweep")
    assert jobs.cancel_requested(job)
    path = job / "progress.jsonl"
    path.write_text('{"done": 1}\n{"do')  # torn by a kill mid-append
    jobs.append_line(path, {"done": 2})
    lines, offset = jobs.read_lines(path)
    assert lines == [{"done": 1}, {"done": 2}] and offset == path.stat().st_size
    assert jobs.last_line(path, lambda line: "done" in line) == {"done": 2}


def test_a_status_that_cannot_be_written_is_a_storage_error_and_the_old_one_stays(job, monkeypatch):
    before = (job / "status.json").read_bytes()

    def full(self, *args, **kwargs):
        raise OSError(28, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(StorageError, match="disk is full"):
        jobs.write_status(job, status="running")
    assert (job / "status.json").read_bytes() == before
    assert not list(job.glob("*.tmp"))
    assert json.loads(before)["status"] == "queued"
