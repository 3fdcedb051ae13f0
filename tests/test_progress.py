"""The progress sinks: plain lines at a steady pace for logs, JSON events, nothing when quiet."""

from __future__ import annotations

import io
import json
import time

from curate import progress


def run_task(sink, n=5, sleep=0.0, **detail):
    with progress.use(sink):
        with progress.task("task2vec: batches", total=n, unit="batches", **detail) as t:
            for i in range(n):
                time.sleep(sleep)
                t.advance(batch=f"{i + 1}/{n}")
        progress.note("gsm8k: 8 batches cached")


def test_lines_say_step_source_count_elapsed_and_eta():
    buf = io.StringIO()
    run_task(progress.LineSink(buf, interval=0, heartbeat=0), n=4, sleep=0.01, source="gsm8k")
    lines = buf.getvalue().splitlines()
    status = [x for x in lines if "/4 batches" in x]
    assert status and all("gsm8k" in x and "elapsed" in x for x in status)
    assert any("ETA" in x for x in status)
    assert lines[-1] == "gsm8k: 8 batches cached"


def test_lines_are_throttled_to_one_per_interval():
    buf = io.StringIO()
    run_task(progress.LineSink(buf, interval=3600, heartbeat=0), n=200, source="s")
    assert buf.getvalue().splitlines() == ["gsm8k: 8 batches cached"]  # 200 advances, no status line yet


def test_heartbeat_while_a_unit_takes_long():
    buf = io.StringIO()
    sink = progress.LineSink(buf, interval=3600, heartbeat=0.2)
    with progress.use(sink):
        with progress.task("train: step", total=2, unit="steps"):
            time.sleep(1.5)
    sink.close()
    assert "train: step  0/2 steps" in buf.getvalue() and "(working)" in buf.getvalue()


def test_json_events_and_quiet():
    buf = io.StringIO()
    run_task(progress.JsonSink(buf), n=3, source="a")
    events = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["start", "advance", "advance", "advance", "end", "note"]
    assert events[2]["done"] == 2 and events[2]["total"] == 3 and events[2]["detail"]["source"] == "a"
    assert events[-1]["message"] == "gsm8k: 8 batches cached"
    assert progress.make_sink("quiet") is None
    run_task(None)  # nothing installed: nothing shown, nothing fails


def test_auto_picks_lines_off_a_terminal():
    assert isinstance(progress.make_sink("auto", io.StringIO()), progress.LineSink)
