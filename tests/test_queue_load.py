"""benchmarks/queue_load.py's arithmetic on made-up queue records (the browser run is
tests/test_engine_browser.py): queue waits, total time, order checks and the recorded section."""

from __future__ import annotations

from benchmarks.queue_load import QueueLoadResult, SessionView, markdown, report

T0 = 1_000_000.0


def _job(job_id: str, created: float, started: float | None, finished: float | None, status: str = "completed"):
    return {"job_id": job_id, "submitter": f"guest-{job_id}", "created_ns": int(created * 1e9),
            "started_at": started, "finished_at": finished, "status": status, "error": None}


def _result(jobs) -> QueueLoadResult:
    result = QueueLoadResult(sessions=len(jobs), train_images=300, warm_engine=False, jobs=jobs)
    result.views = [SessionView(i, label=job["submitter"], clicked_at=job["created_ns"] / 1e9 - 0.2,
                                job_id=job["job_id"], submitted_position=i + 1, positions_seen=[i + 1],
                                saw_training=True, finished_status=job["status"])
                    for i, job in enumerate(jobs)]
    return result


def test_waits_total_and_order_of_a_queue_that_ran_in_order():
    result = _result([_job("a", T0, T0 + 20, T0 + 30), _job("b", T0 + 0.5, T0 + 31, T0 + 40),
                      _job("c", T0 + 1.0, T0 + 41, T0 + 50)])
    s = result.summary()
    assert s["completed"] == 3 and s["errors"] == 0
    assert s["waits_s"] == [20.0, 30.5, 40.0]
    assert s["wait_median_s"] == 30.5 and s["wait_max_s"] == 40.0
    assert abs(s["total_s"] - 50.2) < 1e-6  # first Start (0.2 s before the first submission) to the last finish
    assert s["started_in_order"] and s["finished_in_order"]
    assert s["train_s_median"] == 9.0
    assert abs(s["queued_spread_s"] - 1.0) < 1e-6
    assert s["note_position_is_rank"] == 3 and s["saw_own_job_end"] == 3
    text = markdown(result, "python -m benchmarks --jobs", "1.00 / 1.00 / 1.00 (1 / 5 / 15 min)")
    assert "| Jobs completed | 3 of 3 |" in text and "median 30.5 s, max 40.0 s" in text
    assert "load average 1.00 / 1.00 / 1.00" in text
    assert "1. a by guest-a" in report(result)


def test_out_of_order_and_unfinished_jobs_are_reported():
    result = _result([_job("a", T0, T0 + 20, T0 + 60), _job("b", T0 + 0.5, T0 + 10, T0 + 30),
                      _job("c", T0 + 1.0, None, None, status="failed")])
    s = result.summary()
    assert s["completed"] == 2 and s["saw_own_job_end"] == 2
    assert not s["started_in_order"] and not s["finished_in_order"]
