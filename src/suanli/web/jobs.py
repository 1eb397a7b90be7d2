"""Background jobs: long work (large simulations, validation of a whole data set, plan sweeps) off the request path.

Each job runs in its own child process (spawned, so it shares no locks with the server's threads), which makes
cancelling real: the process is terminated. The child reports progress over a pipe as (fraction, message) or as
an estimate of the seconds left, from which `Job.view()` interpolates a fraction that keeps moving. The table is
in memory and bounded: at most `workers` jobs run at once (the rest wait, queued) and the newest `keep` finished
jobs are kept with their results. Only names of tasks in `suanli.web.tasks.TASKS` can run; their parameters are
plain JSON, already validated by the endpoint.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any

STATES = ("queued", "running", "done", "failed", "cancelled")


@dataclass
class Job:
    id: str
    kind: str
    params: dict[str, Any]
    status: str = "queued"
    progress: float = 0.0
    message: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    result: Any = None
    error: str | None = None
    eta: tuple[float, float, float] | None = None  # (fraction at the estimate, time of it, seconds it expects)
    cancel_requested: bool = False
    proc: Any = None

    def view(self, with_result: bool = True) -> dict:
        p = self.progress
        if self.status == "running" and self.eta:
            p0, t0, secs = self.eta
            p = min(0.97, p0 + (1 - p0) * (time.time() - t0) / max(secs, 1e-3))
        out = {"id": self.id, "kind": self.kind, "status": self.status, "progress": round(p, 4),
               "message": self.message, "created": self.created, "started": self.started, "finished": self.finished,
               "elapsed_s": round((self.finished or time.time()) - (self.started or self.created), 3),
               "error": self.error}
        if with_result and self.status == "done":
            out["result"] = self.result
        return out


def _child(task: str, params: dict, conn) -> None:
    """Entry point of the job process: run the task and send ('done', result) or ('error', one line). The process
    leads its own process group, so that cancelling also ends the pools a task may start."""
    if hasattr(os, "setpgrp"):
        os.setpgrp()
    from suanli.schema import SuanliError
    from suanli.web.tasks import TASKS

    def report(fraction: float | None = None, message: str = "", eta_s: float | None = None) -> None:
        conn.send(("progress", fraction, message, eta_s))

    try:
        conn.send(("done", TASKS[task](params, report)))
    except SuanliError as e:
        conn.send(("error", str(e), 422))
    except Exception as e:  # noqa: BLE001 - the parent shows one line; the trace goes to the server's log
        traceback.print_exc()
        conn.send(("error", f"internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", 500))
    finally:
        conn.close()


def _kill(proc) -> None:
    """End a job process and its process group (pool workers it started)."""
    try:
        if hasattr(os, "killpg") and proc.pid and os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGTERM)
            return
    except (ProcessLookupError, PermissionError):
        pass
    proc.terminate()


class QueueFull(Exception):
    """More jobs are waiting or running than the server takes (HTTP 429)."""


class Jobs:
    def __init__(self, workers: int = 1, keep: int = 50, pending: int = 32) -> None:
        self._pending = pending  # jobs queued or running at most: each waits on a thread
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(workers)
        self._keep = keep
        self._ctx = mp.get_context("spawn")

    def submit(self, kind: str, params: dict) -> Job:
        job = Job(uuid.uuid4().hex[:12], kind, params)
        with self._lock:
            busy = sum(1 for j in self._jobs.values() if j.status in ("queued", "running"))
            if busy >= self._pending:
                raise QueueFull(f"jobs: {busy} are queued or running, the most this server takes; wait for one "
                                "to end or cancel one (POST /api/jobs/ID/cancel)")
            self._jobs[job.id] = job
            self._trim()
        threading.Thread(target=self._run, args=(job,), name=f"job-{job.id}", daemon=True).start()
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: -j.created)

    def cancel(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        job.cancel_requested = True
        if job.status == "queued":
            self._end(job, "cancelled", "cancelled before it started")
        elif job.status == "running" and job.proc is not None:
            _kill(job.proc)
        return job

    def shutdown(self) -> None:
        for job in list(self._jobs.values()):
            if job.status in ("queued", "running"):
                self.cancel(job.id)

    def _trim(self) -> None:
        done = [j for j in self._jobs.values() if j.status in ("done", "failed", "cancelled")]
        for j in sorted(done, key=lambda j: j.created)[: max(0, len(done) - self._keep)]:
            del self._jobs[j.id]

    def _end(self, job: Job, status: str, message: str, error: str | None = None) -> None:
        job.status, job.message, job.error, job.finished = status, message, error, time.time()
        job.proc = None
        if status == "done":
            job.progress = 1.0

    def _run(self, job: Job) -> None:
        with self._slots:
            if job.status != "queued":
                return
            recv, send = self._ctx.Pipe(duplex=False)
            proc = self._ctx.Process(target=_child, args=(job.kind, job.params, send))  # may start its own pool
            job.status, job.started, job.message, job.proc = "running", time.time(), "starting", proc
            proc.start()
            send.close()
            self._watch(job, proc, recv)

    def _watch(self, job: Job, proc, recv) -> None:
        ended = False
        while not ended:
            try:
                ready = recv.poll(0.1)
            except (EOFError, OSError):
                ready = False
            if job.cancel_requested:
                _kill(proc)
                proc.join(5)
                self._end(job, "cancelled", "cancelled")
                return
            if ready:
                try:
                    msg = recv.recv()
                except (EOFError, OSError):
                    msg = None
                if msg is None:
                    ended = True
                elif msg[0] == "progress":
                    _, frac, text, eta = msg
                    if frac is not None:
                        job.progress = max(job.progress, min(float(frac), 0.99))
                    job.message = text or job.message
                    job.eta = (job.progress, time.time(), float(eta)) if eta else None
                elif msg[0] == "done":
                    job.result = msg[1]
                    self._end(job, "done", "done")
                    ended = True
                elif msg[0] == "error":
                    self._end(job, "failed", "failed", msg[1])
                    ended = True
            elif not proc.is_alive():
                ended = True
        proc.join(5)
        if job.status == "running":
            code = proc.exitcode
            self._end(job, "failed", "failed", f"the job's process ended without a result (exit code {code})")
