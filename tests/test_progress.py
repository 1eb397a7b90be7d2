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


def test_simulation_reports_every_finished_request():
    from suanli.api import simulate

    seen = []
    summary, _ = simulate("llama-3.1-8b", "1xh100-sxm", rate=5, requests=300, on_done=seen.append)
    assert sum(seen) == summary["completed"] == 300 and len(seen) > 1


def test_bars_show_on_a_terminal(tmp_path):
    """Under a pseudo-terminal, simulate draws its bar on stderr (and nothing of it reaches stdout)."""
    import os
    import pty
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = shutil.which("suanli") or str(Path(sys.executable).parent / "suanli")
    master, slave = pty.openpty()
    out = tmp_path / "out.txt"
    with open(out, "w") as fh:
        proc = subprocess.run([exe, "simulate", "-m", "llama-3.1-8b", "-s", "1xh100-sxm", "--rate", "5", "--requests",
                               "3000", "--output", "2000"], stdout=fh, stderr=slave, timeout=120,
                              env={**os.environ, "COLUMNS": "100"})
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    assert proc.returncode == 0
    assert b"simulating requests" in err and "simulating requests" not in out.read_text()
