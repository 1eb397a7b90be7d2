"""The Compare page's board: `compare`'s rows, each with its power and cost and how its numbers were made.

For every ranked system the chosen layout and batch are run once more as a fixed deployment (the same
prediction), priced by `suanli.econ` (power, $/Mtok, tokens per joule) and explained: where a decode and a prefill
step spend their time by op class and bound, the chip figures the prediction used with their sources, and whether
the efficiency factors were calibrated for the chip family or borrowed. A what-if chip (`suanli design --set`)
adds a twin of every compared system built from its base chip (or an 8-chip node of it), ranked with the rest;
the what-if chip lives only in this request, never in the shared catalog.
"""

from __future__ import annotations

from suanli.catalog import catalog
from suanli.schema import Chip, SuanliError, System
from suanli.web import guard
from suanli.web.schemas import CompareIn, as_list

CHINA = {"huawei", "cambricon", "kunlunxin", "moore-threads", "metax", "biren", "hygon", "alibaba", "iluvatar",
         "intellifusion", "rockchip", "axera", "enflame", "baidu", "tencent"}
RANK = {"tok_s_per_chip": ("output_tok_s_per_chip", True), "tok_s": ("output_tok_s", True),
        "tok_s_per_user": ("tok_s_per_user", True), "ttft": ("ttft_ms", False), "tpot": ("tpot_ms", False)}


def group_of(chip: Chip) -> str:
    if chip.category == "edge":
        return "edge"
    if chip.category == "cpu":
        return "cpu"
    return "china" if chip.vendor in CHINA else "datacenter"


def _ask(req: CompareIn, row: dict | None = None):
    from suanli.econ.run import Ask

    lay = {k: row[k] for k in ("tp", "pp", "ep", "dp")} if row else {}
    return Ask(req.model, req.input, req.output, row["batch"] if row else req.batch, req.precision,
               req.kv_precision, req.engine, tpot_max_ms=None if row else req.tpot_max, **lay)


def chip_figures(chip: Chip, system: System, precision: str) -> list[dict]:
    """The catalog figures a prediction leans on, each with its sources."""
    from suanli.schema.precision import get_precision, matrix_dtype_for

    dtype = matrix_dtype_for(get_precision(precision), chip.available_dtypes())
    paths = [("memory.bandwidth_gb_s", "GB/s"), ("memory.capacity_gb", "GB"), (f"matrix_tflops.{dtype}", "TFLOPS"),
             ("tdp_w", "W"), ("price_usd", "USD")]
    out, figs = [], chip.figures()
    for path, unit in paths:
        value = figs.get(path)
        out.append({"figure": path, "value": value, "unit": unit, "of": chip.id,
                    "sources": chip.sources_of(path) if value is not None else []})
    up = system.scale_up
    if up is not None:
        src = system.sources_of("scale_up") or chip.sources_of("scale_up")
        out.append({"figure": "scale_up.bandwidth_gb_s", "value": up.bandwidth_gb_s, "unit": "GB/s per direction",
                    "of": system.id, "sources": src})
    return out


def _detail(run, row: dict, prices: dict) -> dict:
    from suanli.econ.report import Knobs, economics

    p = run.prediction
    d = p.to_dict()
    try:
        _, econ = economics(run, Knobs(prices=prices))
        power = econ["power_w"]
        money = {"usd_per_mtok": econ["usd_per_mtok"], "power_w": power,
                 "tok_s_per_w": p.output_tok_s / power if power else None,
                 "tokens_per_joule": econ["tokens_per_joule"], "usd_per_hour": econ["tco"]["usd_per_hour"]["total"],
                 "econ_notes": econ["notes"]}
    except SuanliError as e:
        money = {"usd_per_mtok": None, "power_w": None, "tok_s_per_w": None, "tokens_per_joule": None,
                 "usd_per_hour": None, "econ_notes": [str(e)]}
    factors = d["factors"]
    return {**row, **money, "group": group_of(run.chip), "vendor": run.chip.vendor,
            "explain": {"by_class": d["by_class"], "memory_gb_per_chip": d["memory_gb_per_chip"],
                        "figures": chip_figures(run.chip, run.system, p.deployment.precision),
                        "factors": factors, "calibrated": factors.startswith("calibrated"),
                        "calibration": d["calibration"], "notes": d["notes"]}}


def _row_of(run, system: System, chip: Chip, chips: int) -> dict:
    d = run.prediction.to_dict()
    dep = run.prediction.deployment
    return {"system": system.id, "chip": chip.id, "chips": chips, "tp": dep.tp, "pp": dep.pp, "ep": dep.ep,
            "dp": dep.dp, "batch": run.prediction.workload.batch, "ttft_batch_ms": d["ttft_ms"],
            "ttft_ms": d["ttft_loaded_ms"],
            **{k: d[k] for k in ("tpot_ms", "tok_s_per_user", "output_tok_s", "output_tok_s_per_chip",
                                 "total_tok_s", "total_tok_s_per_chip")},
            "memory_gb_per_chip": d["memory_gb_per_chip"], "notes": "; ".join(d["notes"]), "factors": d["factors"]}


def _twins(req: CompareIn, systems: list[System]) -> list[tuple[Chip, System, list[dict]]]:
    from suanli.catalog.loader import node_of
    from suanli.econ.whatif import derive

    cat = catalog()
    base = cat.chip(guard.resolve("chip", req.whatif.chip))
    chip, changes = derive(base, req.whatif.set)
    twins = [s.model_copy(update={"id": f"{s.id}+whatif", "chip": chip.id, "name": f"{s.name} (what-if)"})
             for s in systems if s.chip == base.id]
    if not twins:
        linked = any(lk and lk.bandwidth_gb_s for lk in (chip.scale_up, chip.host_link))
        n = 8 if linked else 1
        twins = [node_of(chip, n, f"{n}x{chip.id}")]
    return [(chip, t, changes) for t in twins]


def board(req: CompareIn, rows: list[dict]) -> list[dict]:
    """compare()'s rows with `detail`, plus what-if twins, re-ranked by the same key."""
    from suanli.econ.run import run_on

    cat = catalog()
    systems = [cat.systems[guard.resolve("system", s)] for s in as_list(req.systems)]
    out = []
    for row in rows:
        sys_ = cat.systems[row["system"]]
        chip = cat.chips[sys_.chip]
        if "error" in row:
            out.append({**row, "group": group_of(chip), "vendor": chip.vendor})
            continue
        out.append(_detail(run_on(_ask(req, row), chip, sys_), row, {}))
    if req.whatif is not None:
        for chip, twin, changes in _twins(req, systems):
            n = req.chips or twin.chips
            head = {"system": twin.id, "chip": chip.id, "chips": n, "whatif": changes}
            try:
                run = run_on(_ask(req), chip, twin, n)
            except SuanliError as e:
                out.append({**head, "error": str(e), "group": group_of(chip), "vendor": chip.vendor})
                continue
            row = {**_row_of(run, twin, chip, n), "whatif": changes}
            out.append(_detail(run, row, {chip.id: chip.price_usd} if chip.price_usd else {}))
    key, high = RANK.get(req.rank_by, RANK["tok_s_per_chip"])
    ok = sorted((r for r in out if "error" not in r), key=lambda r: r[key] or 0, reverse=high)
    for i, r in enumerate(ok, 1):
        r["rank"] = i
    return ok + [r for r in out if "error" in r]
