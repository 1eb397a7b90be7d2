"""Warm worker processes for the synchronous endpoints' heavy work, with a time budget that really stops it.

`/api/simulate`, `/api/validate` and `/api/plan` answer in the request, but their work runs in a child process
(spawned once and kept warm: it has imported suanli, so a request pays no start-up). A request that runs past the
server's budget, or whose client leaves, has its worker killed — a thread could only be abandoned, still using
the CPU — and the next request gets a fresh one. At most `size` such requests run at once; the rest wait their
turn within their own budget. Long work belongs in `/api/jobs/...`, which has progress and cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from suanli.schema import SuanliError


class Overtime(Exception):
    """The work ran past the request's budget and was stopped (HTTP 503)."""


class Left(Exception):
    """The client went away; the work was stopped."""


def _serve(conn) -> None:
    """A worker's loop: take (task, params), answer ('done', result) or ('error', one line, status)."""
    from suanli.web.tasks import TASKS

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        task, params = msg
        try:
            conn.send(("done", TASKS[task](params)))
        except SuanliError as e:
            conn.send(("error", str(e), 422))
        except Exception as e:  # noqa: BLE001 - the server answers one line; the trace goes to its log
            traceback.print_exc()
            first = str(e).splitlines()[0][:200] if str(e) else ""
            conn.send(("error", f"internal error: {type(e).__name__}: {first}".rstrip(": "), 500))


class Worker:
    def __init__(self, ctx) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()
        child.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(2)
        self.conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.proc.join(1)
        if self.proc.is_alive():
            self.kill()


class Workers:
    """At most `size` warm workers; `run` gives a task to one and waits at most `budget_s` seconds for it."""

    def __init__(self, size: int = 2, budget_s: float = 60.0) -> None:
        self.size, self.budget_s = size, budget_s
        self._ctx = mp.get_context("spawn")
        self._idle: list[Worker] = []
        self._slots = threading.Semaphore(size)  # not asyncio's: tests and servers may run more than one loop
        self.stopped = 0  # workers killed for overtime or a client that left

    def view(self) -> dict:
        return {"size": self.size, "warm": len(self._idle), "budget_s": self.budget_s, "stopped": self.stopped}

    async def run(self, task: str, params: dict, left: Callable[[], Awaitable[bool]] | None = None) -> Any:
        deadline = time.monotonic() + self.budget_s
        if not await asyncio.to_thread(self._slots.acquire, timeout=self.budget_s):
            raise Overtime(f"{task}: every worker stayed busy for the server's {self.budget_s:g} s budget; try "
                           f"again, or POST the same body to /api/jobs/{task}")
        try:
            worker = self._idle.pop() if self._idle else await asyncio.to_thread(Worker, self._ctx)
            try:
                msg = await self._wait(worker, task, params, deadline, left)
            except asyncio.CancelledError:  # the server is stopping: so does the work
                worker.kill()
                raise
            self._idle.append(worker)
        finally:
            self._slots.release()
        if msg[0] == "done":
            return msg[1]
        if msg[2] == 422:
            raise SuanliError(msg[1])
        raise RuntimeError(msg[1])

    async def _wait(self, worker: Worker, task: str, params: dict, deadline: float,
                    left: Callable[[], Awaitable[bool]] | None) -> tuple:
        try:
            worker.conn.send((task, params))
            while not worker.conn.poll():
                if not worker.proc.is_alive():
                    raise EOFError
                if time.monotonic() > deadline or (left is not None and await left()):
                    worker.kill()
                    self.stopped += 1
                    if time.monotonic() > deadline:
                        raise Overtime(f"{task}: stopped after the server's {self.budget_s:g} s budget for one "
                                       f"request; POST the same body to /api/jobs/{task} (progress, cancel, no "
                                       "budget) or ask for less work")
                    raise Left(f"{task}: the client left; stopped")
                await asyncio.sleep(0.02)
            return worker.conn.recv()
        except (EOFError, OSError):  # the worker died (killed, out of memory, could not start)
            worker.kill()
            raise RuntimeError(f"{task}: the worker process ended without a result") from None

    def warm(self) -> None:
        """Start one worker ahead of the first request (called at server start)."""
        if not self._idle:
            self._idle.append(Worker(self._ctx))

    def shutdown(self) -> None:
        while self._idle:
            self._idle.pop().close()
