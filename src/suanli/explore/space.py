"""A design space: a base chip, the figures that vary and over what values, and the deployments to try.

`--vary FIELD=LO:HI:STEPS` takes the field names and units of `design --set` (`memory.bandwidth=1TB/s:8TB/s:100`,
`compute.bf16=x0.5:x2:20`, a factor of the base's figure); `:log` spaces the steps geometrically;
`FIELD=A,B,C` lists values (`node=7,5,3`). The grid is every combination of the varied values, for every
structure (model x chips x TP x batch x precision). A YAML file (`--space`) holds the same keys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from math import prod
from pathlib import Path

import numpy as np
import yaml

from suanli.catalog import catalog
from suanli.econ.whatif import _get, canonical, parse_value
from suanli.schema import Chip, SuanliError

MAX_POINTS = 20_000_000  # a few minutes on two cores; beyond that, narrow the space or use --ray
MAX_STEPS = 100_000
PERF = {"matrix_tflops", "vector_tflops", "memory.bandwidth_gb_s", "memory.capacity_gb", "tdp_w",
        "scale_up.bandwidth_gb_s", "host_link.bandwidth_gb_s", "scale_out.bandwidth_gb_s"}
OTHER = {"price_usd", "die_area_mm2", "node_nm"}
COMPUTE_SCALE = "compute_scale"  # every dense rate of the base chip times this factor


@dataclass
class Space:
    base: str
    models: list[str]
    chips: list[int]
    tp: list[int] | None  # None: every power of two up to the chips that the model takes
    batch: list[int]
    precision: list[str]
    input: int
    output: int
    engine: str | None = None
    vary: dict[str, np.ndarray] = field(default_factory=dict)  # chip path -> values

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.vary.values()) or (1,)

    @property
    def grid_points(self) -> int:
        return prod(self.shape)

    @cached_property
    def token(self) -> str:
        """A digest of the space's content: caches key on it (the same in every process of a Ray cluster)."""
        h = hashlib.sha256(repr((self.base, self.models, self.chips, self.tp, self.batch, self.precision,
                                 self.input, self.output, self.engine)).encode())
        for k, v in self.vary.items():
            h.update(k.encode() + np.ascontiguousarray(v).tobytes())
        return h.hexdigest()[:16]


def base_chip(cid: str) -> Chip:
    cat = catalog()
    return cat.chips[cat.resolve("chip", cid)]


def parse_vary(spec: str, chip: Chip) -> tuple[str, np.ndarray]:
    """'memory.bandwidth=1TB/s:8TB/s:100' -> ('memory.bandwidth_gb_s', array of 100 values in GB/s)."""
    if "=" not in spec:
        raise SuanliError(f"vary: {spec!r} is not FIELD=LO:HI:STEPS or FIELD=A,B,C")
    name, raw = (s.strip() for s in spec.split("=", 1))
    if name.lower() in ("compute", "compute.all"):  # every rate by one factor: x0.1:x1:10 (or 0.1:1:10)
        path, family, base = COMPUTE_SCALE, "count", 1.0
        return path, _values(name, raw, family, base, path)
    path, family = canonical(name)
    kind = path.split(".")[0] if path.startswith(("matrix_", "vector_")) else path
    if kind not in PERF | OTHER:
        raise SuanliError(f"vary: {name!r} does not change what explore computes; allowed: compute (every rate "
                          "by a factor), compute.<dtype>, "
                          "memory.bandwidth, memory.capacity, tdp, price, die_area, node, scale_up.bandwidth, "
                          "host_link.bandwidth, scale_out.bandwidth")
    base = _get(chip.model_dump(exclude_none=True), path)
    if path.endswith("bandwidth_gb_s") and "." in path and path.split(".")[0] in ("scale_up", "host_link",
                                                                                   "scale_out") and base is None:
        raise SuanliError(f"vary: {chip.id} has no {path.split('.')[0]} link to vary")
    values = _values(name, raw, family, base, path)
    if path == "node_nm":
        from suanli.econ.silicon import node_key

        for v in values:
            node_key(float(v))  # every node must have a wafer price (one line with the allowed ones if not)
    return path, values


def _values(name: str, raw: str, family: str, base: float | None, path: str) -> np.ndarray:
    parts = raw.split(":")
    if len(parts) in (3, 4):
        lo, hi = (parse_value(p, family, base, path) for p in parts[:2])
        try:
            steps = int(parts[2])
        except ValueError:
            raise SuanliError(f"vary: {name}: steps {parts[2]!r} is not a whole number") from None
        if not 1 <= steps <= MAX_STEPS:
            raise SuanliError(f"vary: {name}: {steps} steps is not allowed; give 1 to {MAX_STEPS:,}")
        if len(parts) == 4 and parts[3].strip().lower() not in ("log", "lin"):
            raise SuanliError(f"vary: {name}: {parts[3]!r}: the fourth part is log or lin")
        if hi < lo:
            raise SuanliError(f"vary: {name}: {hi:g} < {lo:g}; give LO:HI with LO <= HI")
        log = len(parts) == 4 and parts[3].strip().lower() == "log"
        values = np.geomspace(lo, hi, steps) if log else np.linspace(lo, hi, steps)
    else:
        values = np.array([parse_value(p, family, base, path) for p in raw.split(",") if p.strip()])
        if not 1 <= len(values) <= MAX_STEPS:
            raise SuanliError(f"vary: {name}: give 1 to {MAX_STEPS:,} values")
    return values


def from_options(base: str, vary: list[str], *, models: list[str], chips: list[int], tp: list[int] | None,
                 batch: list[int], precision: list[str], input: int, output: int, engine: str | None = None,
                 file: str | None = None) -> Space:
    """A space from CLI options, or from a YAML file whose keys are the options' names (options win)."""
    data: dict = {}
    if file:
        p = Path(file)
        if not p.is_file():
            raise SuanliError(f"space: {file!r} is not a file")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise SuanliError(f"space: {file}: not YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise SuanliError(f"space: {file}: give a mapping of options (base, vary, models, ...)")
        unknown = set(data) - {"base", "vary", "models", "chips", "tp", "batch", "precision", "input", "output",
                               "engine"}
        if unknown:
            raise SuanliError(f"space: {file}: unknown key {sorted(unknown)[0]!r}")
    chip = base_chip(base or data.get("base") or "")
    specs = list(vary) or [f"{k}={v}" for k, v in (data.get("vary") or {}).items()]
    axes = dict(parse_vary(s, chip) for s in specs)
    space = Space(chip.id, models or _list(data.get("models")), chips or _list(data.get("chips"), int) or [8],
                  tp or _list(data.get("tp"), int) or None, batch or _list(data.get("batch"), int) or [64],
                  precision or _list(data.get("precision")) or ["bf16"], int(data.get("input", input)),
                  int(data.get("output", output)), engine or data.get("engine"), axes)
    if not space.models:
        raise SuanliError("model: give at least one model (--model)")
    for key, values, hi in (("chips", space.chips, 131_072), ("batch", space.batch, 65_536)):
        if not values or any(not 1 <= v <= hi for v in values):
            raise SuanliError(f"{key}: {values} is not allowed; give whole numbers from 1 to {hi:,}")
    if not 1 <= space.input <= 10_000_000 or not 1 <= space.output <= 10_000_000:
        raise SuanliError("input/output: give 1 to 10,000,000 tokens")
    return space


def _list(v, kind=str) -> list:
    if v is None:
        return []
    items = v if isinstance(v, list) else str(v).split(",")
    try:
        return [kind(x) for x in items]
    except ValueError:
        raise SuanliError(f"space: {v!r} is not a list of {kind.__name__}") from None
