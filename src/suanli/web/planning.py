"""The bridge to the planner (`suanli.plan.plan`), which may not be installed in this build yet.

`missing()` says why the planner cannot be used (None when it can); the endpoints answer 501 with that line and
the Plan page shows it. `run_plan` calls the planner with the parameters its signature takes (the same names as
`suanli plan`'s options), one system at a time when it takes a list of systems, so that a sweep over several
systems shows progress, and merges their per-system lists (`systems`, `pareto`). The result is made JSON-ready
whatever the planner returns (a dict, a pydantic model, an object with `to_dict`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from math import inf
from typing import Any

from suanli.schema import SuanliError
from suanli.web import guard
from suanli.web.schemas import as_list


class PlannerMissing(RuntimeError):
    """The planner is not part of this build."""


def _planner() -> Callable[..., Any]:
    try:
        from suanli.plan import plan
    except ImportError as e:
        raise PlannerMissing(f"the planner (suanli.plan) is not in this build yet: {e}") from None
    return plan


def missing() -> str | None:
    try:
        _planner()
    except PlannerMissing as e:
        return str(e)
    return None


def jsonable(x: Any) -> Any:
    if hasattr(x, "model_dump"):
        return jsonable(x.model_dump())
    if hasattr(x, "to_dict"):
        return jsonable(x.to_dict())
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "__dataclass_fields__"):
        from dataclasses import asdict

        return jsonable(asdict(x))
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    return x if isinstance(x, (str, int, float, bool)) or x is None else str(x)


# What one served plan may ask for: every option that multiplies the search is bounded before it starts
MAX_SYSTEMS = 16
LIMITS = {"confirm": (0, 10), "runners_up": (0, 10), "max_chips": (1, 131_072), "input": (1, 10_000_000),
          "output": (1, 10_000_000)}
LISTS = {"batches": (1, 65_536), "budgets": (1, 1_048_576)}


def _check_sizes(params: dict) -> None:
    for key, (lo, hi) in LIMITS.items():
        v = params.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi):
            raise SuanliError(f"{key}: {v!r} is not allowed; give a whole number from {lo:,} to {hi:,}")
    for key, (lo, hi) in LISTS.items():
        v = params.get(key)
        if v is None:
            continue
        if not isinstance(v, list) or not 1 <= len(v) <= 32 or not all(
                isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi for x in v):
            raise SuanliError(f"{key}: {str(v)[:60]} is not allowed; give 1 to 32 whole numbers from {lo:,} to "
                              f"{hi:,}")
        params[key] = tuple(v)
    ratios = params.get("ratios")
    if ratios is not None:
        ok = isinstance(ratios, list) and 1 <= len(ratios) <= 32 and all(
            isinstance(r, list | tuple) and len(r) == 2 and all(isinstance(x, int) and 1 <= x <= 64 for x in r)
            for r in ratios)
        if not ok:
            raise SuanliError(f"ratios: {str(ratios)[:60]} is not allowed; give 1 to 32 [prefill, decode] pairs "
                              "from 1 to 64")
        params["ratios"] = tuple(tuple(r) for r in ratios)


def run_plan(params: dict, report: Callable[..., None]) -> dict:
    plan = _planner()
    params = dict(params)
    limit = params.pop("_max_work_s", inf)  # a synchronous request's budget (set by the server); jobs have none
    for key in ("max_work_s", "progress"):
        if key in params:
            raise SuanliError(f"{key}: not allowed over HTTP (the server sets it)")
    guard.model_name(str(params.get("model", "")))
    for key in ("config", "calibration", "trace", "out", "save", "plot"):  # path-taking options are not served
        if params.get(key):
            raise SuanliError(f"{key}: not allowed over HTTP (it names a file)")
    if params.get("ray") or params.get("executor") == "ray":  # an address to connect to is not a user's to name
        raise SuanliError("executor: 'ray' is not allowed over HTTP; allowed: pool, serial")
    if isinstance(params.get("workers"), int) and not 1 <= params["workers"] <= (os.cpu_count() or 1):
        raise SuanliError(f"workers: {params['workers']} is not allowed; give 1 to {os.cpu_count() or 1}")
    sig = inspect.signature(plan)
    names = set(sig.parameters)
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    unknown = [k for k in params if k not in names and not accepts_any and k not in ("systems", "system")]
    if unknown:
        allowed = ", ".join(sorted(n for n in names if n not in ("self",)))
        raise SuanliError(f"{unknown[0]}: unknown plan option; allowed: {allowed}")
    _check_sizes(params)
    systems = list(dict.fromkeys(as_list(params.pop("systems", None) or params.pop("system", None))))
    if not systems:
        raise SuanliError("systems: give at least one system id")
    if len(systems) > MAX_SYSTEMS:
        raise SuanliError(f"systems: {len(systems)} systems is not allowed; plan at most {MAX_SYSTEMS} at a time")
    for s in systems:
        guard.resolve("system", s)
    merged: dict = {}
    for i, s in enumerate(systems):
        report(i / len(systems), f"planning {s} ({i + 1} of {len(systems)})")
        one = [s] if "systems" in names or ("system" not in names and accepts_any) else s
        key = "systems" if "systems" in names or ("system" not in names and accepts_any) else "system"
        out = jsonable(plan(**params, **{key: one}, max_work_s=limit))
        if not isinstance(out, dict):
            out = {"systems": out if isinstance(out, list) else [out]}
        if not merged:
            merged = {k: list(v) if isinstance(v, list) else v for k, v in out.items()}
            continue
        for k, v in out.items():  # per-system lists (systems, pareto) add up; the rest is the first call's
            if isinstance(v, list) and isinstance(merged.get(k), list):
                merged[k].extend(v)
    return merged
