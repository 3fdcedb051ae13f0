"""Reading a tree in worker processes gives the same records, in the same order, as a serial read."""

from __future__ import annotations

from pathlib import Path

from formal.readers import read_report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_parallel_read_of_a_tree_matches_the_serial_read():
    serial = read_report([FIXTURES], source="t")
    assert len(serial.records) > 50 and sum(serial.files.values()) > 10  # a real tree of several kinds
    seen: list[int] = []
    parallel = read_report([FIXTURES], source="t", workers=2, on_file=lambda n, total, path: seen.append(n))
    assert [r.to_row() for r in parallel.records] == [r.to_row() for r in serial.records]
    assert parallel.skipped == serial.skipped and parallel.files == serial.files
    assert seen == list(range(len(seen)))  # progress in file order
