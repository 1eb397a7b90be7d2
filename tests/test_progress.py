"""Progress on long commands (issue 24): every batch of a sweep ticks once, on any backend; no bar off a terminal."""

from __future__ import annotations

import pytest

from suanli.plan.executor import run_map
from suanli.report.progress import progress


def _double(ask, extra, batch):
    return [ask * x for x in batch]


@pytest.mark.parametrize("backend", ["serial", "pool"])
def test_run_map_ticks_once_per_batch_and_keeps_order(backend):
    ticks = []
    out = run_map(_double, 2, None, [[1, 2], [3], [4, 5, 6]], backend, workers=2, tick=ticks.append)
    assert out == [[2, 4], [6], [8, 10, 12]] and sum(ticks) == 3


def test_no_bar_off_a_terminal(capsys):
    with progress("work", 10) as tick:  # pytest's stderr is not a terminal
        tick(5)
    assert capsys.readouterr().err == ""
