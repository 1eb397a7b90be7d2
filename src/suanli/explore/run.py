"""Exploring a design space: every structure (model, chips, TP, batch, precision) of the base chip, over the grid of
varied figures, in chunks of points evaluated as arrays; the Pareto front of the points that fit and meet the
constraints. Chunks run here, in order, or as tasks on a Ray cluster (`ray`); either way each chunk keeps its own
front and the fronts merge, so both give the same answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from suanli.catalog import catalog
from suanli.catalog.loader import node_of
from suanli.explore import derived
from suanli.explore.select import Where, objectives, pareto
from suanli.explore.space import COMPUTE_SCALE, MAX_POINTS, Space, base_chip
from suanli.explore.vector import Figures, Vectorized
from suanli.model.resolve import model_arch
from suanli.perf.deployed import Deployed, remember
from suanli.perf.hardware import hardware_of
from suanli.schema import Deployment, SuanliError, Workload

CHUNK = 32_768  # points per array evaluation: (points x steps x ops) floats stay within a few tens of MB
SAMPLE = 500  # feasible points per chunk kept for the plot


@dataclass(frozen=True)
class Structure:
    model: str
    chips: int
    tp: int
    batch: int  # sequences per replica
    precision: str

    @property
    def dp(self) -> int:
        return self.chips // self.tp


def structures(space: Space) -> tuple[list[Structure], list[str]]:
    """The deployments to try, and why the others were left out."""
    out, skipped = [], []
    for model in space.models:
        _, arch = model_arch(model)
        for n in space.chips:
            tps = space.tp or [t for t in (1, 2, 4, 8, 16, 32, 64) if t <= n]
            for tp in tps:
                if n % tp:
                    skipped.append(f"{model} on {n} chips: tp={tp} does not divide the chips")
                    continue
                for prec in space.precision:
                    for b in space.batch:
                        s = Structure(model, n, tp, b, prec)
                        try:
                            _vectorized(space, s)
                        except SuanliError as e:
                            skipped.append(f"{model} {n} chips tp={tp} {prec}: {e}")
                            break
                        out.append(s)
    if not out:
        raise SuanliError("explore: no deployment of the space can run: " + "; ".join(skipped[:3]))
    return out, skipped


def _deployment(space: Space, s: Structure) -> tuple[Deployed, Workload]:
    cat = catalog()
    chip = base_chip(space.base)
    system = cat.system(f"{s.chips}x{chip.id}")
    model_id, arch = model_arch(s.model)
    ep = s.tp if arch.is_moe and all(g.mlp.experts % s.tp == 0 for g in arch.groups if g.mlp.kind == "moe") else 1
    dep = Deployment(tp=s.tp, ep=ep, dp=s.dp, precision=s.precision, engine=space.engine)
    return Deployed(arch, chip, system, dep, model_id), Workload(input_len=space.input, output_len=space.output,
                                                                 batch=s.batch * s.dp)


_CACHE: dict[tuple, Vectorized] = {}


def _vectorized(space: Space, s: Structure) -> Vectorized:
    key = (space.token, s)
    hit = _CACHE.get(key)
    if hit is None:
        dep, wl = _deployment(space, s)
        hit = remember(_CACHE, key, Vectorized(dep, wl, _link_fields(space, dep)), 512)
    return hit


def _link_fields(space: Space, dep: Deployed) -> dict[str, str]:
    """Which chip link field feeds the system's scale-up ("up") and scale-out ("out") links: found by doubling
    each varied link figure and seeing which link moves (a chip's node takes its NVLink-class link, or its host
    link where it has none, as `catalog.node_of` builds it)."""
    out = {}
    for path in space.vary:
        if not path.endswith("bandwidth_gb_s") or path.startswith("memory"):
            continue
        link = path.split(".")[0]
        chip = dep.chip.model_copy(update={link: getattr(dep.chip, link).model_copy(
            update={"bandwidth_gb_s": getattr(dep.chip, link).bandwidth_gb_s * 2})})
        hw2 = hardware_of(chip, node_of(chip, dep.system.chips, dep.system.id), dep.factors)
        for which in ("scale_up", "scale_out"):
            a, b = getattr(dep.hw, which), getattr(hw2, which)
            if a and b and a.bandwidth != b.bandwidth:
                out["up" if which == "scale_up" else "out"] = link
    return out


def figures(space: Space, chip, idx: np.ndarray) -> tuple[Figures, dict[str, np.ndarray]]:
    """The chip figures of grid points `idx` (flat indices into the varied axes)."""
    n = len(idx)
    cols = dict(zip(space.vary, np.unravel_index(idx, space.shape), strict=False)) if space.vary else {}
    values = {p: space.vary[p][i] for p, i in cols.items()}

    def fig(path: str, base):
        return values[path] if path in values else (np.full(n, float(base)) if base is not None else None)

    scale = values.get(COMPUTE_SCALE, 1.0)
    rates = {d: fig(f"matrix_tflops.{d}" if d in chip.matrix_tflops else f"vector_tflops.{d}", v) * scale
             for d, v in chip.available_dtypes().items()}
    links = {k: values[f"{k}.bandwidth_gb_s"] for k in ("scale_up", "host_link", "scale_out")
             if f"{k}.bandwidth_gb_s" in values}
    f = Figures(rates, fig("memory.bandwidth_gb_s", chip.memory.bandwidth_gb_s),
                fig("memory.capacity_gb", chip.memory.capacity_gb), fig("tdp_w", chip.tdp_w), links)
    return f, values


def evaluate(space: Space, s: Structure, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Every field of points `idx` of structure `s`."""
    chip = base_chip(space.base)
    vec = _vectorized(space, s)
    fig, values = figures(space, chip, idx)
    r = vec.evaluate(fig)
    per_chip = r["output_tok_s"] / s.chips
    out = {p: v for p, v in values.items()}
    out.update(model=np.full(len(idx), s.model), chips=np.full(len(idx), s.chips), tp=np.full(len(idx), s.tp),
               batch=np.full(len(idx), s.batch), precision=np.full(len(idx), s.precision),
               ttft_ms=r["ttft"] * 1e3, ttft_loaded_ms=r["ttft_loaded"] * 1e3, tpot_ms=r["tpot"] * 1e3,
               tok_s_per_chip=per_chip, tok_s_per_user=1.0 / r["tpot"], output_tok_s=r["output_tok_s"],
               memory_gb=r["memory_used"] / 1e9, fits=r["fits"])
    price = values.get("price_usd", np.full(len(idx), chip.price_usd) if chip.price_usd else None)
    econ = derived.economics(per_chip, fig.tdp, price, chip, vec.dep.system)
    out.update(usd_per_mtok=econ["usd_per_mtok"], j_per_token=econ["j_per_token"],
               power_kw=econ["power_w"] * s.chips / 1e3)
    area = values.get("die_area_mm2", np.full(len(idx), chip.die_area_mm2) if chip.die_area_mm2 else None)
    node = values.get("node_nm", np.full(len(idx), chip.node_nm) if chip.node_nm else None)
    out.update(derived.silicon(area, node))
    io = _io_gb_s(chip, values, len(idx))
    stacks = chip.memory.stacks if (chip.memory.type or "").upper().startswith("HBM") else None
    out.update(derived.policy(fig.rates, area, fig.bandwidth, io, stacks))
    return out


def _io_gb_s(chip, values: dict, n: int) -> np.ndarray | None:
    """Chip-to-chip I/O both directions (scale-up fabric plus host link, `econ.policy.io_bidirectional_gb_s`)."""
    links = []
    for name in ("scale_up", "host_link"):
        link = getattr(chip, name)
        base = link.bandwidth_gb_s if link and link.bandwidth_gb_s else None
        v = values.get(f"{name}.bandwidth_gb_s", np.full(n, base) if base else None)
        if v is not None:
            links.append(v)
    return 2 * sum(links) if links else None


def run_chunk(space: Space, s_index: int, lo: int, hi: int, where: str | None, goals: list[tuple[str, bool]],
              keep_all: bool = False) -> dict:
    """One chunk: its counts, its local front (every field), and all its points when asked."""
    s = structures_of(space)[s_index]
    pts = evaluate(space, s, np.arange(lo, hi))
    ok = pts["fits"] & Where(where).mask(pts)
    vals = np.stack([pts[f] if up else -pts[f] for f, up in goals], axis=1)
    vals[~ok] = np.nan
    front = pareto(vals)
    feasible = np.flatnonzero(ok)
    pick = np.random.default_rng(s_index * 1_000_003 + lo).permutation(feasible)[:SAMPLE]
    return {"points": hi - lo, "fits": int(pts["fits"].sum()), "feasible": int(ok.sum()),
            "front": {k: v[front] for k, v in pts.items()}, "all": pts if keep_all else None,
            "sample": {f: pts[f][pick].tolist() for f, _ in goals}}


_STRUCTURES: dict[str, tuple[list[Structure], list[str]]] = {}


def _structures_cached(space: Space) -> tuple[list[Structure], list[str]]:
    hit = _STRUCTURES.get(space.token)
    return hit if hit is not None else remember(_STRUCTURES, space.token, structures(space), 16)


def structures_of(space: Space) -> list[Structure]:
    return _structures_cached(space)[0]


def explore(space: Space, *, where: str | None = None, goals: str = "tok_s_per_chip:max,tok_s_per_user:max",
            ray: str | None = None, on_chunk=None, keep_all: bool = False) -> dict:
    """The front and counts of a whole space (`on_chunk(result)` sees every chunk, for progress and writing)."""
    Where(where)  # a bad expression fails before any work
    obj = objectives(goals)
    t0 = time.perf_counter()
    structs, skipped = _structures_cached(space)
    total = len(structs) * space.grid_points
    if total > MAX_POINTS:
        raise SuanliError(f"explore: {total:,} design points is more than the {MAX_POINTS:,} allowed; vary fewer "
                          "figures or fewer steps")
    tasks = [(i, lo, min(lo + CHUNK, space.grid_points)) for i in range(len(structs))
             for lo in range(0, space.grid_points, CHUNK)]
    if ray:
        from suanli.explore.distributed import run_ray

        results = run_ray(space, tasks, where, obj, ray, on_chunk, keep_all)
    else:
        results = []
        for t in tasks:
            res = run_chunk(space, *t, where, obj, keep_all)
            results.append(res)
            if on_chunk:
                on_chunk(res)
    merged = {k: np.concatenate([r["front"][k] for r in results]) for k in results[0]["front"]}
    vals = np.stack([merged[f] if up else -merged[f] for f, up in obj], axis=1)
    front = pareto(vals)
    order = np.argsort(-vals[front, 0])
    rows = [{k: _plain(merged[k][i]) for k in merged} for i in front[order]]
    wall = time.perf_counter() - t0
    return {"base": space.base, "points": total, "fits": sum(r["fits"] for r in results),
            "feasible": sum(r["feasible"] for r in results), "front": rows, "objectives": [
                {"field": f, "sense": "max" if up else "min"} for f, up in obj], "where": where or "",
            "structures": len(structs), "skipped": skipped, "varied": {k: [float(v.min()), float(v.max()), len(v)]
                                                                       for k, v in space.vary.items()},
            "wall_s": wall, "points_per_s": total / wall if wall else None, "backend": "ray" if ray else "local"}


def _plain(v):
    if isinstance(v, np.generic):
        v = v.item()
    return None if isinstance(v, float) and not np.isfinite(v) else v
