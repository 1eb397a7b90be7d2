"""What-if chips: a catalog chip with some figures changed, usable by every command once saved.

`--set` takes comma-separated `field=value` pairs. Fields are chip fields by dotted path (`memory.bandwidth_gb_s`,
`matrix_tflops.bf16`, `tdp_w`) or short names (`memory.bandwidth`, `compute.bf16`, `tdp`). Values take units
(`6TB/s`, `141GB`, `1.2PFLOPS`, `1kW`, `$25k`) or a factor of the base figure (`x1.5`). A derived chip keeps the
base's sources for the figures it did not change and cites "what-if" for the ones it did; `save` writes it to the
user catalog ($SUANLI_HOME/catalog/chips/<id>.yaml) so that `--system 1x<id>` or `8x<id>` work everywhere.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from suanli.catalog.loader import catalog, user_catalog_dir
from suanli.schema import Chip, SuanliError
from suanli.schema.errors import validated
from suanli.schema.precision import MATRIX_DTYPES

# short name -> (canonical dotted path, unit family)
SCALARS = {
    "memory.bandwidth_gb_s": "bandwidth", "memory.capacity_gb": "bytes", "memory.stacks": "count",
    "tdp_w": "power", "idle_w": "power", "price_usd": "money", "die_area_mm2": "area", "node_nm": "nm",
    "sram_mb": "mb", "dies": "count", "scale_up.bandwidth_gb_s": "bandwidth", "scale_out.bandwidth_gb_s": "bandwidth",
    "host_link.bandwidth_gb_s": "bandwidth",
}
SHORT = {
    "memory.bandwidth": "memory.bandwidth_gb_s", "bandwidth": "memory.bandwidth_gb_s", "hbm.bandwidth":
    "memory.bandwidth_gb_s", "memory.capacity": "memory.capacity_gb", "capacity": "memory.capacity_gb",
    "memory.stacks": "memory.stacks", "stacks": "memory.stacks", "tdp": "tdp_w", "power": "tdp_w", "idle": "idle_w",
    "price": "price_usd", "die_area": "die_area_mm2", "area": "die_area_mm2", "node": "node_nm", "sram": "sram_mb",
    "scale_up.bandwidth": "scale_up.bandwidth_gb_s", "scale_out.bandwidth": "scale_out.bandwidth_gb_s",
    "host_link.bandwidth": "host_link.bandwidth_gb_s",
}
UNITS = {
    "bandwidth": {"": 1, "gb/s": 1, "gbps": 1, "tb/s": 1e3, "tbps": 1e3, "mb/s": 1e-3},
    "bytes": {"": 1, "gb": 1, "tb": 1e3, "gib": 1.073741824},
    "compute": {"": 1, "tflops": 1, "tops": 1, "pflops": 1e3, "pops": 1e3, "gflops": 1e-3},
    "power": {"": 1, "w": 1, "kw": 1e3},
    "money": {"": 1, "usd": 1, "$": 1, "k": 1e3, "kusd": 1e3},
    "area": {"": 1, "mm2": 1, "mm^2": 1},
    "nm": {"": 1, "nm": 1},
    "mb": {"": 1, "mb": 1, "gb": 1e3},
    "count": {"": 1},
}


def canonical(field: str) -> tuple[str, str]:
    """(dotted chip path, unit family) for a field name; unknown names raise with the allowed ones."""
    f = field.strip().lower()
    f = SHORT.get(f, f)
    m = re.fullmatch(r"(compute|matrix|matrix_tflops|vector|vector_tflops)\.(\w+)", f)
    if m:
        dtype = m.group(2)
        if dtype not in MATRIX_DTYPES:
            raise SuanliError(f"set: unknown dtype {dtype!r} in {field!r}; allowed: {', '.join(MATRIX_DTYPES)}")
        kind = "vector_tflops" if m.group(1).startswith("vector") else "matrix_tflops"
        return f"{kind}.{dtype}", "compute"
    if f in MATRIX_DTYPES:
        return f"matrix_tflops.{f}", "compute"
    if f in SCALARS:
        return f, SCALARS[f]
    allowed = sorted({*SHORT, *SCALARS, "compute.<dtype>", "vector.<dtype>"})
    raise SuanliError(f"set: unknown field {field!r}; allowed: {', '.join(allowed)}")


def parse_value(text: str, family: str, base: float | None, field: str) -> float:
    """'6TB/s' -> 6000 (GB/s); 'x1.5' -> 1.5 x base."""
    t = text.strip().replace(",", "").lower()
    m = re.fullmatch(r"[x*]\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?)", t)
    if m:
        if base is None:
            raise SuanliError(f"set: {field}={text}: the base chip has no {field} to scale; give a value")
        v = float(m.group(1)) * base
        if not 0 < v < float("inf"):
            raise SuanliError(f"set: {field}={text!r} is not allowed; the factor must be > 0 and finite")
        return v
    m = re.fullmatch(r"\$?\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?)\s*([a-z/^$2]*)", t)
    units = UNITS[family]
    if not m or m.group(2) not in units:
        raise SuanliError(f"set: {field}={text!r} is not a value; give a number with an optional unit "
                          f"({', '.join(u for u in units if u)}) or a factor like x1.5")
    v = float(m.group(1)) * units[m.group(2)]
    if not 0 < v < float("inf"):
        raise SuanliError(f"set: {field}={text!r} is not allowed; the value must be > 0 and finite")
    return v


def parse_sets(spec: str) -> list[tuple[str, str, str]]:
    """'a=1,b=2' -> [(path, family, raw value)]."""
    out = []
    for part in (p for p in spec.split(",") if p.strip()):
        if "=" not in part:
            raise SuanliError(f"set: {part.strip()!r} is not field=value "
                              "(e.g. memory.bandwidth=6TB/s,compute.bf16=500)")
        k, v = part.split("=", 1)
        path, family = canonical(k)
        out.append((path, family, v))
    if not out:
        raise SuanliError("set: give at least one field=value")
    return out


def _get(d: dict, path: str):
    for p in path.split(".")[:-1]:
        d = d.get(p) or {}
    return d.get(path.split(".")[-1])


def _put(d: dict, path: str, value) -> None:
    parts = path.split(".")
    for p in parts[:-1]:
        if d.get(p) is None:
            d[p] = {}
        d = d[p]
    d[parts[-1]] = value


def derive(base: Chip, spec: str, new_id: str | None = None) -> tuple[Chip, list[dict]]:
    """The base chip with the fields in `spec` changed; and the list of changes (field, from, to)."""
    data = base.model_dump(exclude_none=True)
    changes = []
    for path, family, raw in parse_sets(spec):
        old = _get(data, path)
        new = parse_value(raw, family, old, path)
        if family == "count" or path == "dies":
            new = round(new)
        _put(data, path, new)
        changes.append({"field": path, "from": old, "to": new})
    cid = (new_id or f"{base.id}-whatif").lower()
    what = ", ".join(f"{c['field']}={c['to']:g}" for c in changes)
    data.update(id=cid, name=f"{base.name} (what-if: {what})", aliases=[], status="roadmap",
                notes=f"what-if chip derived from {base.id} by `suanli design --set {spec}`; unchanged figures keep "
                      f"{base.id}'s sources. {base.notes}".strip())
    data["sources"] = {**base.sources, "whatif": f"what-if figure set with `suanli design --base {base.id}` "
                                                 "(hypothetical, not a published figure)"}
    data["cite"] = {**base.cite, **{c["field"]: "whatif" for c in changes}}
    return validated(Chip, data, f"what-if chip {cid}"), changes


def chip_file(chip_id: str) -> Path:
    return user_catalog_dir() / "chips" / f"{chip_id}.yaml"


def save(chip: Chip) -> Path:
    """Write the chip to the user catalog (replacing an earlier what-if of the same id) and reload the catalog."""
    path = chip_file(chip.id)
    try:
        taken = catalog().resolve("chip", chip.id)
    except SuanliError:
        taken = None
    if taken is not None and not (taken == chip.id and path.exists()):
        raise SuanliError(f"save: chip id {chip.id!r} already names catalog chip {taken!r}; choose another id")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump([chip.model_dump(mode="json", exclude_none=True)], sort_keys=False))
    catalog.cache_clear()
    return path


def design_report(base_id: str, spec: str, ask=None, system: str | None = None, chips: int | None = None,
                  save_id: str | None = None) -> dict:
    """A what-if chip against its base: the changes, datasheet PPA of both, and (with a model) the predicted gain
    on the workload, each chip on the fewest chips from `chips` (default 8) up that hold the model."""
    from suanli.econ.defaults import Ledger
    from suanli.econ.ppa import chip_serving_w, datasheet_ppa
    from suanli.econ.report import run_summary
    from suanli.econ.run import fit_chips

    cat = catalog()
    base = cat.chip(base_id)
    derived, changes = derive(base, spec, save_id)
    out: dict = {"base": base.id, "id": derived.id, "changes": changes,
                 "ppa": {"base": datasheet_ppa(base), "derived": datasheet_ppa(derived)}}
    if ask is not None:
        sys_ = cat.system(system) if system else None
        if sys_ is not None and sys_.chip != base.id:
            raise SuanliError(f"system: {sys_.id} is built from {sys_.chip}, not the base chip {base.id}")
        runs = {}
        start = chips or (sys_.chips if sys_ else 8)
        for role, chip, s in (("base", base, sys_),
                              ("derived", derived, sys_.model_copy(update={"chip": derived.id}) if sys_ else None)):
            run = fit_chips(ask, chip, s, start=start)
            start = run.prediction.chips
            led = Ledger()
            watts = chip_serving_w(run, led)
            per_chip = run.prediction.output_tok_s / run.prediction.chips
            runs[role] = {**run_summary(run), "chip_power_w": watts,
                          "tok_s_per_w": per_chip / watts if watts else None, "assumptions": led.as_dict()}
        b, d = runs["base"], runs["derived"]
        out["workload"] = runs
        out["gain"] = {k: d[k] / b[k] for k in ("output_tok_s_per_chip", "output_tok_s", "tpot_ms", "ttft_ms")}
        if b["tok_s_per_w"] and d["tok_s_per_w"]:
            out["gain"]["tok_s_per_w"] = d["tok_s_per_w"] / b["tok_s_per_w"]
    out["saved"] = str(save(derived)) if save_id else None
    return out
