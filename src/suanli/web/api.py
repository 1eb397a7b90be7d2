"""HTTP endpoints for predict, compare, catalog, simulate, validate, plan and background jobs.

Each endpoint is the CLI command of the same name: the same parameters (see `schemas.py`), the same function
underneath and the same JSON as `--json`. User mistakes raise suanli's one-line `SuanliError`, which `app.py` turns
into HTTP 422 `{"detail": line}`. A prediction that does not fit is also a 422 (its line names what it needs and
the fewest chips that would fit) and carries the prediction in `result`, so the page can draw the memory that
does not fit. Long work is submitted to `/api/jobs/{kind}` and polled; its parameters are checked first, so a
bad request is refused at once rather than failing in the background.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from suanli.schema import SuanliError
from suanli.web import guard, tasks
from suanli.web.schemas import CompareIn, PredictIn, ReportIn, SimulateIn, StackIn, ValidateIn, as_list

router = APIRouter(prefix="/api")


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "model_dump"):
        return _clean(x.model_dump())
    return x


class J(Response):
    """JSON without FastAPI's encoder pass (fast), infinities and NaN as null."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(_clean(content), separators=(",", ":"), default=str).encode()


ERRORS: dict[int | str, dict[str, Any]] = {422: {"description": "a user mistake: `{\"detail\": one line naming the "
                                                 "field, the value and what is allowed}`"}}


@router.get("/health", tags=["meta"])
def health(request: Request) -> J:
    from suanli.web.planning import missing

    return J({"ok": True, "planner": missing() is None, "workers": request.app.state.workers.view()})


@router.post("/predict", tags=["perf"], responses=ERRORS)
def predict(req: PredictIn) -> J:
    """`suanli predict --json`: TTFT, TPOT, throughput, memory fit and the op-by-op breakdown of one deployment."""
    from suanli.api import predict as run
    from suanli.perf.predict import not_fit_message

    arch = None
    if req.config is not None:  # a posted config.json: read here, never a path on this server
        name, arch = guard.config_arch(req.config, req.model)
    else:
        guard.model_name(req.model)
        name = req.model
    guard.resolve("system", req.system)
    p = run(name, req.system, tp=req.tp, pp=req.pp, ep=req.ep, dp=req.dp, precision=req.precision,
            kv_precision=req.kv_precision, engine=req.engine, batch=req.batch, input=req.input, output=req.output,
            speculative=_speculative(req.speculative), images=req.images, arch=arch, power_limit=req.power_limit)
    d = p.to_dict()
    if not p.fits:
        return J({"detail": not_fit_message(p), "result": d}, status_code=422)
    return J(d)


def _speculative(text: str | None) -> str | None:
    """A speculative-decoding request whose draft model, if any, is a catalog id (no paths over HTTP)."""
    if text and "=" in text.split(":")[0]:
        guard.model_name(text.split(":")[0].partition("=")[2], "speculative")
    return text


@router.post("/compare", tags=["perf"], responses=ERRORS)
def compare(req: CompareIn) -> J:
    """`suanli compare --json`: systems ranked on one model and request shape, each with its best layout and batch.
    With `detail`, every row also has power, $/Mtok, tok/s per W and `explain` (how its numbers were made)."""
    from suanli.api import compare as run

    guard.model_name(req.model)
    if req.images and (req.detail or req.whatif is not None):
        raise SuanliError("images: not with detail or whatif yet (their power and cost figures are of text "
                          "prompts); ask without them")
    names = as_list(req.systems)
    for s in names:
        guard.resolve("system", s)
    rows = run(req.model, names, input=req.input, output=req.output, precision=req.precision,
               kv_precision=req.kv_precision, engine=req.engine, batch=req.batch, chips=req.chips,
               tpot_limit_ms=req.tpot_max, rank_by=req.rank_by, speculative=_speculative(req.speculative),
               images=req.images, power_limit=req.power_limit)
    if req.detail or req.whatif is not None:
        from suanli.web.explain import board

        rows = board(req, rows)
    return J({"model": req.model, "input": req.input, "output": req.output, "precision": req.precision,
              "rank_by": req.rank_by, "systems": rows})


@router.post("/stack", tags=["perf"], responses=ERRORS)
def stack(req: StackIn) -> J:
    """`suanli stack --json`: the same work on one system across engines and versions, with what each costs."""
    from suanli.api import compare_stacks

    guard.model_name(req.model)
    guard.resolve("system", req.system)
    names = as_list(req.engines) if req.engines else None
    rows = compare_stacks(req.model, req.system, names, input=req.input, output=req.output, precision=req.precision,
                          kv_precision=req.kv_precision, batch=req.batch, tpot_limit_ms=req.tpot_max)
    return J({"model": req.model, "system": req.system, "input": req.input, "output": req.output,
              "precision": req.precision, "engines": rows})


@router.get("/engines", tags=["catalog"])
def engines() -> J:
    """Engine profiles: what each serves, where it is the best-known stack, its releases and their sources."""
    from suanli.engines import profiles

    return J({"engines": [{"id": p.id, "name": p.name, "docs": p.docs, "runs_on": p.runs_on, "best_for": p.best_for,
                           "tuned_on": p.tuned_on, "releases": [r.model_dump() for r in p.releases]}
                          for p in profiles().values()]})


@router.get("/catalog/chips", tags=["catalog"], responses=ERRORS)
def catalog_chips(vendor: str | None = None, klass: Annotated[str | None, Query(alias="class")] = None,
                  family: str | None = None) -> J:
    """`suanli catalog chips --json`: chips with key figures, every figure with its sources."""
    from suanli.catalog import catalog
    from suanli.report.terminal import chip_row
    from suanli.web.explain import group_of

    if klass and klass.lower() not in ("datacenter", "edge", "cpu"):
        raise SuanliError(f"class: {klass!r} is not allowed; allowed: datacenter, edge, cpu")
    chips = [c for c in catalog().chips.values()
             if (vendor is None or c.vendor == vendor.lower()) and (klass is None or c.category == klass.lower())
             and (family is None or c.family == family.lower())]
    return J({"chips": [{**chip_row(c), "name": c.name, "group": group_of(c), "figures": c.figures(),
                         "sources": c.sources, "cite": c.cite} for c in chips]})


@router.get("/catalog/systems", tags=["catalog"])
def catalog_systems() -> J:
    """`suanli catalog systems --json` (1x<chip> systems exist for every chip and are not listed)."""
    from suanli.catalog import catalog

    return J({"systems": [s.model_dump() for s in catalog().systems.values() if not s.id.startswith("1x")
                          and not _built(s.id)]})


def _built(sid: str) -> bool:
    head = sid.split("x", 1)[0]
    return head.isdigit() and sid.startswith(f"{head}x")


@cache
def _models() -> list[dict]:
    from suanli.api import models

    return models()


@router.get("/catalog/models", tags=["catalog"])
def catalog_models() -> J:
    """`suanli catalog models --json`: models with suanli's parameter count next to the published one."""
    return J({"models": _models()})


@router.get("/catalog/show/{entry}", tags=["catalog"], responses=ERRORS)
def catalog_show(entry: str) -> J:
    """`suanli catalog show ID --json`: every figure of a chip, system or model with its sources."""
    from suanli.catalog import catalog

    cat = catalog()
    for kind in ("chip", "system", "model"):
        try:
            eid = guard.resolve(kind, entry)
        except SuanliError:
            continue
        obj = {"chip": cat.chips, "system": cat.systems, "model": cat.models}[kind][eid]
        if kind == "model":
            return J({"kind": kind, "id": eid, **obj.model_dump()})
        figs = {p: {"value": v, "sources": obj.sources_of(p)} for p, v in obj.figures().items()}
        return J({"kind": kind, "id": eid, "name": obj.name, "figures": figs, "notes": obj.notes})
    guard.resolve("chip", entry)  # raises with the nearest ids
    raise SuanliError(f"entry: unknown id {entry!r}")


async def _work(request: Request, task: str, params: dict) -> Any:
    """Run a task in a warm worker process within the server's budget (`pool.Workers`): stopped, not abandoned,
    when it runs over or the client leaves."""
    return await request.app.state.workers.run(task, params, request.is_disconnected)


@router.post("/simulate", tags=["serve"], responses=ERRORS)
async def simulate(req: SimulateIn, request: Request) -> J:
    """`suanli simulate --json` (with `series`: latency CDFs, throughput and queue length over time). A run
    estimated to take longer than the server's budget per request is refused at once (422), one that runs over it
    is stopped (503): POST the same body to /api/jobs/simulate for progress and cancel instead."""
    budget = request.app.state.workers.budget_s
    return J(await _work(request, "simulate", {**req.model_dump(), "_max_work_s": budget}))


@router.get("/validate/datasets", tags=["validate"])
def validate_datasets(request: Request) -> J:
    """Measurement files the server offers by name (`suanli web --datasets DIR`)."""
    return J({"datasets": sorted(_datasets(request))})


def _datasets(request: Request) -> dict[str, Path]:
    root = request.app.state.datasets
    if root is None or not root.is_dir():
        return {}
    return {p.stem: p for p in sorted(root.glob("*.csv")) if p.is_file()}


def _validate_params(req: ValidateIn, request: Request) -> dict:
    if (req.csv is None) == (req.dataset is None):
        raise SuanliError("data: give either `csv` (the file's content) or `dataset` (a name from "
                          "/api/validate/datasets)")
    params = req.model_dump()
    if req.dataset is not None:
        offered = _datasets(request)
        if req.dataset not in offered:
            raise SuanliError(f"dataset: {req.dataset!r} is not offered; allowed: {', '.join(offered) or 'none'}")
        params["_path"] = str(offered[req.dataset])
    else:
        guard.csv_models_safe(req.csv or "")
    return params


@router.post("/validate", tags=["validate"], responses=ERRORS)
async def validate(req: ValidateIn, request: Request) -> J:
    """`suanli validate --json` on uploaded CSV text or an offered dataset (rows also carry hardware family)."""
    return J(await _work(request, "validate", _validate_params(req, request)))


@router.get("/plan/status", tags=["plan"])
def plan_status() -> J:
    from suanli.web.planning import missing

    why = missing()
    return J({"available": why is None, "detail": why})


@router.post("/plan", tags=["plan"], responses=ERRORS)
async def plan(body: dict[str, Any], request: Request) -> J:
    """`suanli plan --json` (when the planner is in this build; else 501 with the reason)."""
    from suanli.web.planning import PlannerMissing, missing

    why = missing()
    if why:
        raise PlannerMissing(why)
    return J(await _work(request, "plan", {**body, "_max_work_s": request.app.state.workers.budget_s}))


EXPLORE_POINTS_PER_S = 100_000  # a conservative rate (benchmarks/bench_explore.py measures 100,000-450,000)


@router.post("/explore", tags=["plan"], responses=ERRORS)
async def explore(body: dict[str, Any], request: Request) -> J:
    """`suanli explore --json` (body: the CLI's option names; `vary` a list of FIELD=LO:HI:STEPS), with `sample`,
    feasible points' objectives for the plot. Spaces the server's budget cannot cover are refused at once."""
    limit = int(request.app.state.workers.budget_s * EXPLORE_POINTS_PER_S)
    return J(await _work(request, "explore", {**body, "_max_points": limit}))


@router.post("/plan/emit", tags=["plan"], responses=ERRORS)
def plan_emit(body: dict[str, Any]) -> J:
    """`suanli plan --emit ENGINE`: the launch files of a plan's chosen deployment, as {"files": {name: text}}.
    Body: {"engine": "vllm", "plan": <the /api/plan result>, "system": optional}."""
    from suanli.catalog import catalog
    from suanli.report.launch import launch_files

    engine, plan_ = body.get("engine"), body.get("plan")
    if not isinstance(engine, str) or not isinstance(plan_, dict) or not isinstance(plan_.get("systems"), list):
        raise SuanliError("emit: give engine (e.g. vllm) and plan (a /api/plan result)")
    model = str(plan_.get("model", ""))
    source = catalog().model(guard.model_name(model) or model).source
    try:
        files = launch_files(engine, plan_, source, body.get("system"))
    except (KeyError, TypeError) as e:
        raise SuanliError(f"plan: not a /api/plan result ({type(e).__name__}: {e})") from None
    return J({"files": files})


@router.post("/jobs/{kind}", tags=["jobs"], responses=ERRORS, status_code=202)
def submit(kind: str, body: dict[str, Any], request: Request) -> J:
    """Run simulate, validate or plan in the background; poll GET /api/jobs/{id}, cancel with POST .../cancel."""
    if kind == "simulate":
        req = SimulateIn.model_validate(body)
        params = {**req.model_dump(), "series": True}
        if req.trace_csv is None:  # a 50-request dry run refuses what the job would fail on, at once
            tasks.simulate({**params, "requests": min(req.requests, 50), "series": False})
        else:
            guard.resolve("model", req.model), guard.resolve("system", req.system)
    elif kind == "validate":
        params = _validate_params(ValidateIn.model_validate(body), request)
    elif kind == "plan":
        from suanli.web.planning import PlannerMissing, missing

        if why := missing():
            raise PlannerMissing(why)
        params = body
    else:
        raise SuanliError(f"kind: {kind!r} is not allowed; allowed: simulate, validate, plan")
    from suanli.web.jobs import QueueFull

    try:
        job = request.app.state.jobs.submit(kind, params)
    except QueueFull as e:
        return J({"detail": str(e)}, status_code=429)
    return J(job.view(), status_code=202)


@router.get("/jobs", tags=["jobs"])
def jobs(request: Request) -> J:
    return J({"jobs": [j.view(with_result=False) for j in request.app.state.jobs.all()]})


def _job(request: Request, job_id: str):
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise SuanliError(f"job: unknown id {job_id!r} (jobs are kept in memory until the server stops)")
    return job


@router.get("/jobs/{job_id}", tags=["jobs"], responses=ERRORS)
def job(job_id: str, request: Request) -> J:
    return J(_job(request, job_id).view())


@router.post("/jobs/{job_id}/cancel", tags=["jobs"], responses=ERRORS)
def cancel(job_id: str, request: Request) -> J:
    _job(request, job_id)
    return J(request.app.state.jobs.cancel(job_id).view(with_result=False))


@router.post("/report", tags=["meta"], response_class=HTMLResponse)
def report(req: ReportIn) -> HTMLResponse:
    """A self-contained HTML report (plotly inlined) of the figures and tables a page sends."""
    from suanli.web.report import render

    return HTMLResponse(render(req), headers={"Content-Disposition": 'attachment; filename="suanli-report.html"'})
