"""The step contract and the one conservation check."""

from __future__ import annotations

import pytest

from curate.pipeline import Accounts, Removed, Step, run_steps


class DropOdd(Step):
    name, reasons = "drop-odd", ("odd",)

    def process(self, rows):
        return ([r for r in rows if r["_row"] % 2 == 0],
                [Removed("s", r["id"], "odd", r["_row"]) for r in rows if r["_row"] % 2])


class Lossy(Step):
    name, reasons = "lossy", ("x",)

    def process(self, rows):
        return rows[1:], []  # loses a row without saying why


class Undeclared(Step):
    name, reasons = "undeclared", ()

    def process(self, rows):
        return rows[1:], [Removed("s", rows[0]["id"], "surprise", 0)]


ROWS = [{"id": f"r{i}", "_row": i} for i in range(7)]


def test_steps_account_for_every_row():
    kept, removed = run_steps([DropOdd()], [dict(r) for r in ROWS])
    assert [r["id"] for r in kept] == ["r0", "r2", "r4", "r6"] and [r.id for r in removed] == ["r1", "r3", "r5"]
    acc = Accounts(("odd",))
    acc.add_in("s", len(ROWS))
    acc.add_out("s", len(kept))
    for r in removed:
        acc.remove("s", r.reason)
    acc.check()
    acc.add_out("s")
    with pytest.raises(RuntimeError, match="accounting bug"):
        acc.check()


@pytest.mark.parametrize("step", [Lossy(), Undeclared()])
def test_a_step_that_loses_rows_or_invents_reasons_fails(step):
    with pytest.raises(RuntimeError):
        step([dict(r) for r in ROWS])
