"""The server's work is bounded in time: a synchronous request that runs past its budget, or whose client leaves,
has its worker process stopped; work estimated past the budget is refused at once; SIGTERM stops the server in
seconds even while work runs."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import SHARED

pytest.importorskip("fastapi")
import contextlib

from fastapi.testclient import TestClient  # noqa: E402

from suanli.web.app import create_app  # noqa: E402
from suanli.web.pool import Left, Workers  # noqa: E402

DATA = SHARED / "groundtruth"  # public.csv: validating it takes about 17 s on a 2-core machine


def _datasets(tmp_path: Path) -> Path:
    d = tmp_path / "datasets"
    d.mkdir()
    shutil.copy(DATA / "public.csv", d / "public.csv")
    return d


def test_a_request_past_its_budget_is_stopped_and_the_next_is_served(tmp_path):
    app = create_app(_datasets(tmp_path), budget_s=3)
    with TestClient(app) as c:
        t = time.monotonic()
        r = c.post("/api/validate", json={"dataset": "public"})
        took = time.monotonic() - t
        detail = r.json()["detail"]
        assert r.status_code == 503 and "3 s budget" in detail and "/api/jobs/validate" in detail
        assert took < 8
        assert c.get("/api/health").json()["workers"]["stopped"] == 1
        small = {"model": "llama-3.1-8b", "system": "1xh100-sxm", "rate": 2, "requests": 20}
        assert c.post("/api/simulate", json=small).status_code == 200  # a fresh worker


def test_work_estimated_past_the_budget_is_refused_at_once():
    with TestClient(create_app(budget_s=2)) as c:
        t = time.monotonic()
        r = c.post("/api/simulate", json={"model": "llama-3.1-8b", "system": "1xh100-sxm", "rate": 50,
                                          "requests": 20000, "output": 2000})
        assert r.status_code == 422 and "about 10 s" in r.json()["detail"], r.text
        assert time.monotonic() - t < 5


def test_work_stops_when_the_client_leaves():
    pool = Workers(size=1, budget_s=120)
    gone_after = time.monotonic() + 1.0

    async def left() -> bool:
        return time.monotonic() > gone_after

    params = {"_path": str(DATA / "public.csv"), "csv": None, "dataset": "public", "by": None}
    try:
        t = time.monotonic()
        with pytest.raises(Left):
            asyncio.run(pool.run("validate", params, left))
        assert time.monotonic() - t < 10 and pool.stopped == 1 and pool.view()["warm"] == 0
    finally:
        pool.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_stops_the_server_within_seconds_while_work_runs(tmp_path):
    port = _free_port()
    exe = shutil.which("suanli") or str(Path(sys.executable).parent / "suanli")
    proc = subprocess.Popen([exe, "web", "--port", str(port), "--datasets", str(_datasets(tmp_path))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not start")

        def long_request() -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(f"{base}/api/validate", json={"dataset": "public"}, timeout=60)

        threading.Thread(target=long_request, daemon=True).start()
        time.sleep(2)  # the validation is running in a worker
        t = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        assert time.monotonic() - t < 8
    finally:
        if proc.poll() is None:
            proc.kill()
