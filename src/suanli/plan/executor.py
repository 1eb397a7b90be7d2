"""Where sweep work runs: in this process, on a local process pool (the default), or on Ray.

`run_map(fn, ask, extra, batches)` calls fn(ask, extra, batch) for every batch and returns the results in batch
order, whichever backend runs them, so the plan is identical. The pool forks on Linux (fast, and scripts need no
`if __name__ == "__main__"` guard), but uses a fork server with suanli preloaded when this process runs threads
(a web server's, Ray's: forking a threaded process is unsafe), and spawns elsewhere. Ray is an optional extra
(`pip install 'suanli[ray]'`), imported only when asked for: `ray="local"` starts a local instance, `"auto"`
joins the running cluster (RAY_ADDRESS or a local head) or starts one, anything else is a cluster address
(`ray://head:10001`). An instance already initialised in this process is used as it is.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from suanli.schema import SuanliError

_POOL_PRELOAD = ["suanli.plan.sweep", "suanli.plan.confirm"]


def workers_default() -> int:
    return max(1, os.cpu_count() or 1)


def describe(backend: str, workers: int, ray_address: str | None = None) -> str:
    if backend == "ray":
        return f"Ray ({ray_address or 'local'})"
    return {"serial": "this process", "pool": f"local process pool ({workers} workers)"}.get(backend, backend)


def run_map(fn: Callable, ask: Any, extra: Any, batches: list, backend: str = "pool", workers: int | None = None,
            ray_address: str | None = None, tick: Callable[[int], None] | None = None) -> list:
    """`tick(1)` is called as each batch finishes (a progress bar), in whatever order they finish."""
    tick = tick or (lambda n=1: None)
    if not batches:
        return []
    if backend == "ray":
        return _ray_map(fn, ask, extra, batches, ray_address or "local", tick)
    workers = workers or workers_default()
    if backend == "serial" or workers <= 1 or len(batches) <= 1:
        out = []
        for b in batches:
            out.append(fn(ask, extra, b))
            tick(1)
        return out
    if backend != "pool":
        raise SuanliError(f"executor: {backend!r} is not allowed; allowed: serial, pool, ray")
    return _pool_map(fn, ask, extra, batches, workers, tick)


def _pool_map(fn: Callable, ask: Any, extra: Any, batches: list, workers: int, tick: Callable) -> list:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if sys.platform.startswith("linux"):
        ray = sys.modules.get("ray")
        threaded = threading.active_count() > 1 or (ray is not None and getattr(ray, "is_initialized", bool)())
        ctx = mp.get_context("forkserver" if threaded else "fork")
        if threaded:
            ctx.set_forkserver_preload(_POOL_PRELOAD)
    else:
        ctx = mp.get_context("spawn")
    from concurrent.futures import as_completed

    with ProcessPoolExecutor(max_workers=min(workers, len(batches)), mp_context=ctx) as ex:
        futures = [ex.submit(fn, ask, extra, b) for b in batches]
        for _ in as_completed(futures):
            tick(1)
        return [f.result() for f in futures]


def _ray_map(fn: Callable, ask: Any, extra: Any, batches: list, address: str, tick: Callable) -> list:
    ray = ray_init(address)
    remote = ray.remote(fn)
    ask_ref, extra_ref = ray.put(ask), ray.put(extra)
    refs = [remote.remote(ask_ref, extra_ref, b) for b in batches]
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        tick(len(done))
    return ray.get(refs)


def ray_init(address: str = "local"):
    """Import Ray and connect (or start a local instance); a one-line error when Ray is missing or unreachable."""
    try:
        import ray
    except ImportError:
        raise SuanliError("ray: Ray is not installed; pip install 'suanli[ray]' (or drop --ray to use the local "
                          "process pool)") from None
    if ray.is_initialized():
        return ray
    # quiet: no banners or info lines in suanli's output (Ray's own logger at ERROR, workers' logs not forwarded)
    opts = dict(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False, configure_logging=True,
                logging_level=logging.ERROR)
    try:
        if address == "local":
            ray.init(**opts)
        elif address == "auto":
            try:
                ray.init(address="auto", **opts)
            except (ConnectionError, RuntimeError):
                ray.init(**opts)
        else:
            ray.init(address=address, **opts)
    except Exception as e:  # Ray raises many kinds; the user needs the one line
        raise SuanliError(f"ray: cannot start or reach Ray at {address!r} ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else 'no detail'})") from None
    return ray
