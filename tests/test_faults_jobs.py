"""Faults of the job system (core.jobs) that training runs and comparisons share: the app killed
between creating a job and starting its process, a missing or corrupt status.json, two app
processes on one data folder, and a process killed while it writes.

What a user would notice: the queue never stalls, every list and page still renders, and a job
that cannot be what it was says why. Kills of a running training or comparison process are in
tests/test_faults.py; full disks and read-only folders in tests/test_faults_storage.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from core import compare_runs, jobs, runs
from core.compare import CompareConfig, VariantSpec
from core.config import ModelSpec
from core.paths import history_db_path
from tests.core.test_runs import tiny_config, wait_for
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 180  # a guard against hanging, not a timing assertion


def prompt_only() -> CompareConfig:
    """A comparison that needs no model to be created (it is never evaluated here)."""
    return CompareConfig("review-sentiment", (VariantSpec("zero-shot", "zero-shot"),), n_examples=5)


def age(folder: Path, seconds: float) -> None:
    """Let ``seconds`` pass for the job in ``folder``: its last status was written that long ago."""
    then = time.time() - seconds
    os.utime(folder / "status.json", (then, then))


def in_thread(work, what: str):
    """Run ``work`` and return its value, failing (not hanging) if it blocks past WAIT_S."""
    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("value", work()), daemon=True)
    thread.start()
    thread.join(WAIT_S)
    assert not thread.is_alive(), f"{what} is still blocked after {WAIT_S} s"
    return out["value"]


# -- 1. the app killed between creating a job and spawning it ------------------------------------


def test_a_run_created_but_never_started_says_so_and_does_not_hold_up_the_next(tiny_model_dir):
    stranded = runs.create_run(tiny_config(tiny_model_dir))  # the app died before _spawn
    assert runs.get_run(stranded.name).status == "queued"  # within the grace: being started
    age(stranded, jobs.SPAWN_GRACE_S + 5)
    run = runs.get_run(stranded.name)
    assert run.status == "crashed" and "never started" in run.problem.lower()
    assert "lab stopped before it could start it" in run.problem and run.fix
    assert run.queue_position is None

    second = runs.start_run(tiny_config(tiny_model_dir))  # a real process, which must not wait
    done = wait_for(lambda: runs.get_run(second).status in runs.FINAL and runs.get_run(second),
                    "the next run to train")
    assert done.status == "succeeded", (done.run_dir / "log.txt").read_text()[-2000:]
    assert {r.id: r.status for r in runs.list_runs()} == {stranded.name: "crashed",
                                                          second: "succeeded"}


def test_a_comparison_created_but_never_started_says_so_in_the_list_and_the_index():
    comparison_id, folder = compare_runs.create_comparison(prompt_only())
    assert compare_runs.get_comparison(comparison_id).live
    age(folder, jobs.SPAWN_GRACE_S + 5)
    [listed] = compare_runs.list_comparisons()
    assert listed.status == "crashed" and not listed.live
    assert "never started" in listed.problem.lower() and "again" in listed.fix
    with closing(sqlite3.connect(history_db_path())) as conn:  # the index stops calling it live
        assert conn.execute("SELECT status FROM comparisons WHERE id = ?",
                            (comparison_id,)).fetchone() == ("crashed",)


def test_a_process_that_died_reads_stopped_unexpectedly_not_never_started(tiny_model_dir):
    run_dir = runs.create_run(tiny_config(tiny_model_dir))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    runs.write_status(run_dir, pid=dead.pid, pid_started=time.time() - 1)
    run = runs.get_run(run_dir.name)
    assert run.status == "crashed" and "stopped unexpectedly" in run.problem


# -- 2. a missing or corrupt status.json ---------------------------------------------------------


DAMAGE = {"missing": None, "empty": "", "cut short": '{"status": "runn', "a list": "[]",
          "an unknown state": '{"status": "paused"}',
          "a pid of text": '{"status": "running", "pid": "1234"}'}


def damage(folder: Path, how: str) -> None:
    if DAMAGE[how] is None:
        (folder / "status.json").unlink()
    else:
        (folder / "status.json").write_text(DAMAGE[how])


@pytest.mark.parametrize("how", DAMAGE)
def test_one_run_with_a_bad_status_lists_as_damaged_with_its_reason(how, tiny_model_dir):
    good = runs.create_run(tiny_config(tiny_model_dir))
    runs.write_status(good, status="succeeded")
    bad = runs.create_run(tiny_config(tiny_model_dir))
    damage(bad, how)
    listed = {r.id: r for r in runs.list_runs()}
    assert listed[good.name].status == "succeeded"
    broken = listed[bad.name]
    assert broken.status == "damaged" and "status.json" in broken.problem
    assert str(bad) in broken.problem and "Delete" in broken.fix
    assert broken.queue_position is None  # it holds up no queue
    runs.delete_run(bad.name)  # the fix the page offers works
    assert [r.id for r in runs.list_runs()] == [good.name]


@pytest.mark.parametrize("how", ["missing", "cut short"])
def test_one_comparison_with_a_bad_status_lists_as_damaged_with_its_reason(how):
    good, _ = compare_runs.create_comparison(prompt_only())
    bad, folder = compare_runs.create_comparison(prompt_only())
    damage(folder, how)
    listed = {c.id: c for c in compare_runs.list_comparisons()}
    assert listed[good].live and listed[bad].status == "damaged"
    assert "status.json" in listed[bad].problem and str(folder) in listed[bad].fix


@pytest.fixture
def damaged_lab(tiny_model_dir):
    """A lab with one good and one damaged job of each kind."""
    good = runs.create_run(tiny_config(tiny_model_dir))
    runs.write_status(good, status="succeeded")
    bad_run = runs.create_run(tiny_config(tiny_model_dir, name="broken run"))
    damage(bad_run, "cut short")
    compare_runs.create_comparison(prompt_only())
    bad_id, folder = compare_runs.create_comparison(prompt_only())
    damage(folder, "missing")
    return bad_run.name, bad_id


@pytest.mark.parametrize("page", ["pages/7_Compare.py", "pages/6_Runs.py", "pages/0_Tour.py"])
def test_every_page_renders_beside_damaged_jobs(page, damaged_lab, tiny_model_dir):
    at = _page(page, ModelSpec(source=str(tiny_model_dir), dtype="float32"))
    assert not at.exception, at.exception
    if page == "pages/0_Tour.py":  # the Tour looks for its own comparison only
        return
    bad_run, bad_comparison = damaged_lab
    key, bad = ("cmp_selected", bad_comparison) if "Compare" in page else ("runs_selected", bad_run)
    assert any("damaged" in option for option in at.selectbox(key=key).options)  # listed
    at.selectbox(key=key).set_value(bad).run()  # the damaged one, picked: its reason and fix
    assert not at.exception, at.exception
    reason = "status.json is missing" if "Compare" in page else "status.json is not valid JSON"
    assert reason in _text(at) and "Delete" in _text(at)


# -- 3. two app processes on one data folder -----------------------------------------------------


TWO_APPS = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from core import compare_runs, jobs, runs
    from core.compare import CompareConfig, VariantSpec
    from core.config import GenerationParams
    from core.generation import Completion
    from core.history import count_generations, record_generation
    from core.train_config import TrainConfig

    me, shared, model, go = sys.argv[1], Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    config = CompareConfig("review-sentiment", (VariantSpec("z", "zero-shot"),), n_examples=5)
    while not go.exists():
        time.sleep(0.01)
    for i in range(20):
        jobs.write_status(shared, **{f"{me}-{i}": i})
        record_generation("p", GenerationParams(), Completion("x", 1, 1, 0.1, "stop", "e", "m"))
        if i % 4 == 0:
            compare_runs.create_comparison(config)
            runs.create_run(TrainConfig(model=model, task="review-sentiment"))
            compare_runs.list_comparisons(), runs.list_runs()
    print(json.dumps({"generations": count_generations()}))
""")


def test_two_app_processes_on_one_data_folder_lose_no_status_write_and_no_row(lab_home,
                                                                              tiny_model_dir):
    shared = lab_home / "shared-job"
    shared.mkdir(parents=True)
    jobs.write_status(shared, status="running")
    go = lab_home / "go"
    apps = [subprocess.Popen([sys.executable, "-c", TWO_APPS, name, str(shared),
                              str(tiny_model_dir), str(go)], cwd=ROOT, env={**os.environ},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in ("a", "b")]
    time.sleep(0.5)
    go.touch()  # both start writing at the same moment
    outputs = [app.communicate(timeout=WAIT_S) for app in apps]
    for app, (_, err) in zip(apps, outputs):
        assert app.returncode == 0, err[-3000:]
        assert "locked" not in err and "warning" not in err and "note:" not in err, err[-3000:]
    status = jobs.read_status(shared)
    assert {k for k in status if k[:2] in ("a-", "b-")} == {f"{p}-{i}" for p in "ab"
                                                             for i in range(20)}
    assert not list(shared.glob("*.tmp"))  # every staging file was renamed into place
    assert len(compare_runs.list_comparisons()) == 10 and len(runs.list_runs()) == 10
    with closing(sqlite3.connect(history_db_path())) as conn:
        assert conn.execute("SELECT COUNT(*) FROM generations").fetchone() == (40,)
        assert conn.execute("SELECT COUNT(*) FROM comparisons").fetchone() == (10,)
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (10,)
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1


# -- 4. a process killed while it writes ---------------------------------------------------------


def test_a_staging_file_left_by_a_killed_writer_is_ignored_and_the_last_status_reads():
    comparison_id, folder = compare_runs.create_comparison(prompt_only())
    jobs.write_status(folder, status="succeeded")
    # killed between writing its staging file and renaming it: half a status, never renamed
    (folder / "status.json.4242.deadbeef.tmp").write_text('{"status": "fai')
    comparison = compare_runs.get_comparison(comparison_id)
    assert comparison.status == "succeeded" and comparison.problem is None
    assert jobs.write_status(folder, note="written after")["status"] == "succeeded"
    assert not list(folder.glob("*.tmp"))  # the next write clears what the killed one left
    assert [c.status for c in compare_runs.list_comparisons()] == ["succeeded"]


def test_a_writer_killed_holding_the_status_lock_does_not_block_the_next_write(tiny_model_dir):
    run_dir = runs.create_run(tiny_config(tiny_model_dir))
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, time
        lock = open({str(run_dir / 'status.lock')!r}, "a")
        fcntl.flock(lock, fcntl.LOCK_EX)
        print("held", flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with open(run_dir / "status.lock", "a") as probe:  # the lock is really held
        with pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.kill(holder.pid, signal.SIGKILL)  # the lock dies with its holder
    holder.wait()
    cancelled = in_thread(lambda: runs.cancel_run(run_dir.name), "cancel after the kill")
    assert cancelled.status == "cancelled"
