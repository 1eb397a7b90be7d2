"""Design-space chunks on a Ray cluster: the space goes to the object store once, each task evaluates one chunk
(building its deployments once per worker process) and sends back its counts and its local front; results are
taken as they finish, so progress and the output file move while the cluster works."""

from __future__ import annotations

from collections.abc import Callable

from suanli.explore.space import Space
from suanli.plan.executor import ray_init


def _task(space: Space, s_index: int, lo: int, hi: int, where: str | None, goals: list, keep_all: bool) -> dict:
    from suanli.explore.run import run_chunk

    return run_chunk(space, s_index, lo, hi, where, goals, keep_all)


def run_ray(space: Space, tasks: list[tuple[int, int, int]], where: str | None, goals: list, address: str,
            on_chunk: Callable | None, keep_all: bool) -> list[dict]:
    ray = ray_init(address)
    remote = ray.remote(_task)
    ref = ray.put(space)
    futures = {remote.remote(ref, *t, where, goals, keep_all): i for i, t in enumerate(tasks)}
    results: list = [None] * len(tasks)
    pending = list(futures)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for d in done:
            res = ray.get(d)
            results[futures[d]] = res
            if on_chunk:
                on_chunk(res)
    return results
