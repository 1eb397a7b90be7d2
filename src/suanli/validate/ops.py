"""Kernel and collective micro-benchmarks (the `ops.csv` format): physical factors measured directly.

Columns: id, source, url, hardware, n_accel, op, dtype, m, n, k, size_bytes, metric, value, unit, notes.
What is read today, each as the median over rows per chip family:
* `comm_bandwidth`: large all-reduces (`op` all_reduce, `metric` busbw_gb_s, at least 1 GiB) inside one node of
  4 to 8 chips, where the bus bandwidth NCCL/RCCL reach has settled on its asymptote, divided by the chip's
  scale-up bandwidth per direction.
* `gemm_memory`: decode-shaped GEMMs (`op` gemm, `metric` bandwidth_gb_s, at most 128 rows) whose weight matrix
  is at least 25 MB, so that launch and tail costs are small next to streaming it, divided by the chip's memory
  bandwidth: how fast a tuned kernel streams weights.
* `moe_memory`: the least-loaded grouped GEMMs (`op` grouped_gemm, `metric` bandwidth_gb_s, at most 256 rows
  per group, at least 25 MB of expert weights per call), over the chip's memory bandwidth: how fast a tuned
  grouped kernel streams expert weights. Decode hands experts fewer rows still, so this is a floor on streaming.
* `moe_compute`: compute-bound grouped GEMMs (`op` grouped_gemm, `metric` achieved_tflops, at least 1024 rows per
  group) over the chip's peak, times (1 + k0 / K) with the family's measured `gemm_k0`: the expert-GEMM efficiency
  before the cost model's own K penalty.
* `gemm_k0`: compute-bound GEMMs (`op` gemm or grouped_gemm, `metric` achieved_tflops, at least 1024 rows) of
  several reduction lengths K on one chip family: achieved / peak = e x K / (K + k0) fitted in log space (k0 on a
  grid of 16, e profiled out). k0 is what one output tile's prologue and epilogue cost in steps of K.
* `roofline_n`: how a GEMM near the ridge point combines compute and memory time, t = (tc^n + tm^n)^(1/n), from
  every GEMM of a family with `gemm_k0` and `gemm_memory` measured (grouped GEMMs of 256-1024 rows per group sit
  at the ridge and run 20-35% slower than the larger of the two times).
* `a2a_us`, `a2a_bandwidth`: the expert-parallel exchange's all-to-alls (`validate.exchange`).
Those factors are then measured properties of the chip and its libraries, not something end-to-end rows may
bend: `calibrate` puts them under `physical` and leaves them alone.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
from collections import defaultdict
from pathlib import Path

from suanli.catalog import catalog
from suanli.schema import SuanliError

OPS_COLUMNS = ("hardware", "n_accel", "op", "metric", "value")
LARGE_BYTES = 1 << 30  # from here all-reduce bus bandwidth is flat to within a few percent (ops.csv b200 sweep)
NODE_GROUP = (4, 8)  # chips in one all-reduce: every link of an 8-chip mesh is busy only with all 8
DECODE_ROWS = 128  # a GEMM with at most this many rows streams its weights (decode, small batches)
GROUPED_STREAM_ROWS = 256  # rows per group of the least-loaded grouped GEMMs measured (DeepGEMM masked layout)
LARGE_WEIGHTS = 25e6  # bytes of weights from which launch and tail costs stay under ~10%


def is_ops_file(path: str | Path) -> bool:
    """A micro-benchmark file has an `op` column; an end-to-end file has `model` and `scenario`."""
    with Path(path).open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), [])
    return "op" in [h.strip() for h in header]


def measured_factors(path: str | Path) -> dict[str, dict[str, float]]:
    """{family: {factor: value}} for every factor an ops file measures (see the module's doc)."""
    out: dict[str, dict[str, float]] = {}
    k0s = gemm_k0s(path)
    memory = gemm_fractions(path)
    moe_compute = moe_compute_fractions(path, {f: v["gemm_k0"] for f, v in k0s.items()})
    for name, table in (("comm_bandwidth", comm_fractions(path)), ("gemm_memory", memory), ("gemm_k0", k0s),
                        ("moe_memory", moe_fractions(path)), ("moe_compute", moe_compute)):
        for fam, m in table.items():
            out.setdefault(fam, {})[name] = m[name]
    sharp = roofline_sharpness(path, {f: v["gemm_k0"] for f, v in k0s.items()},
                               {f: v["peak_fraction"] for f, v in k0s.items()},
                               {f: v["gemm_memory"] for f, v in memory.items()})
    for fam, m in sharp.items():
        out.setdefault(fam, {})["roofline_n"] = m["roofline_n"]
    from suanli.validate.exchange import exchange_factors  # it reads rows with this module's helpers

    for fam, m in exchange_factors(path).items():
        out.setdefault(fam, {}).update({k: m[k] for k in ("a2a_us", "a2a_bandwidth") if k in m})
    return out


def _read(path: str | Path) -> tuple[str, list[dict]]:
    p = Path(path)
    if not p.exists():
        raise SuanliError(f"data: file {str(p)!r} not found")
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in OPS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SuanliError(f"data: {p.name} lacks column(s) {', '.join(missing)} of the micro-benchmark format")
        return p.name, list(reader)


def _num(name: str, line: int, value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        raise SuanliError(f"data: {name} line {line}: {value!r} is not a number") from None


def gemm_fractions(path: str | Path) -> dict[str, dict]:
    """{family: {"gemm_memory": median fraction, "rows": n, "chips": [...]}} from decode-shaped GEMMs."""
    return _stream_fractions(path, "gemm", DECODE_ROWS, "gemm_memory")


def moe_fractions(path: str | Path) -> dict[str, dict]:
    """{family: {"moe_memory": median fraction, ...}} from the least-loaded grouped GEMMs measured: expert weights
    streamed by a tuned grouped kernel (decode gives experts even fewer rows, so they stream at least as well)."""
    return _stream_fractions(path, "grouped_gemm", GROUPED_STREAM_ROWS, "moe_memory")


def _stream_fractions(path: str | Path, op: str, max_rows: float, factor: str) -> dict[str, dict]:
    name, rows = _read(path)
    cat = catalog()
    found: dict[str, list[float]] = defaultdict(list)
    chips: dict[str, set[str]] = defaultdict(set)
    for line, r in enumerate(rows, 2):
        if r["op"].strip() != op or r["metric"].strip() != "bandwidth_gb_s":
            continue
        m, n, k = (_num(name, line, r.get(c)) for c in ("m", "n", "k"))
        bits = BITS.get((r.get("dtype") or "").strip().lower())
        groups = re.search(r"(\d+) groups?", r.get("notes") or "")
        weights = n * k * (bits or 0) / 8 * (int(groups.group(1)) if groups else 1)
        if not (0 < m <= max_rows) or not bits or weights < LARGE_WEIGHTS:
            continue
        try:
            chip = cat.chips[cat.resolve("chip", r["hardware"].strip())]
        except SuanliError:
            continue
        bw = chip.memory.bandwidth_gb_s
        if not bw or not chip.family:
            continue
        found[chip.family].append(min(1.0, _num(name, line, r["value"]) / bw))
        chips[chip.family].add(chip.id)
    return {fam: {factor: round(statistics.median(v), 3), "rows": len(v), "chips": sorted(chips[fam])}
            for fam, v in sorted(found.items())}


COMPUTE_ROWS = 1024  # from here a GEMM is compute-bound on every chip here; its K sets the efficiency


def fit_k0(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(k0, e) minimising the squared log error of e x K / (K + k0) against (K, fraction of peak) points."""
    best = (math.inf, 0.0, 0.0)
    for k0 in range(0, 4097, 16):
        logs = [math.log(y) - math.log(k / (k + k0)) for k, y in points]
        log_e = statistics.fmean(logs)
        err = sum((v - log_e) ** 2 for v in logs)
        if err < best[0] - 1e-12:
            best = (err, float(k0), math.exp(log_e))
    return best[1], best[2]


def gemm_k0s(path: str | Path) -> dict[str, dict]:
    """{family: {"gemm_k0": k0, "peak_fraction": e, "rows": n, "chips": [...]}} from compute-bound GEMMs of at
    least three reduction lengths."""
    name, rows = _read(path)
    cat = catalog()
    points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    chips: dict[str, set[str]] = defaultdict(set)
    for line, r in enumerate(rows, 2):
        if r["op"].strip() not in ("gemm", "grouped_gemm") or r["metric"].strip() != "achieved_tflops":
            continue
        m, k = _num(name, line, r.get("m")), _num(name, line, r.get("k"))
        dtype = (r.get("dtype") or "").strip().lower()
        if m < COMPUTE_ROWS or k <= 0 or "best shape" in (r.get("notes") or ""):
            continue  # the best of a shape search says how high a chip gets, not how K costs
        try:
            chip = cat.chips[cat.resolve("chip", r["hardware"].strip())]
        except SuanliError:
            continue
        peak = (chip.matrix_tflops or {}).get(dtype)
        if not peak or not chip.family:
            continue
        sweep = (chip.family, chip.id, dtype, (r.get("source") or "").strip())
        points[sweep].append((k, min(1.0, _num(name, line, r["value"]) / peak)))
    per_family: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for (fam, chip_id, _, _), pts in sorted(points.items()):
        if len({k for k, _ in pts}) < 3:
            continue  # one sweep of one chip, dtype and source; fewer than 3 lengths cannot separate k0 from e
        k0, e = fit_k0(pts)
        per_family[fam].append((k0, e, len(pts)))
        chips[fam].add(chip_id)
    return {fam: {"gemm_k0": statistics.median(k for k, _, _ in v), "peak_fraction": round(
        statistics.median(e for _, e, _ in v), 3), "rows": sum(n for _, _, n in v), "chips": sorted(chips[fam])}
        for fam, v in sorted(per_family.items())}


def _chip_and_peak(cat, r: dict):
    """The catalog chip of a micro-benchmark row and its peak at the row's dtype (TFLOP/s), or None."""
    try:
        chip = cat.chips[cat.resolve("chip", r["hardware"].strip())]
    except SuanliError:
        return None
    peak = (chip.matrix_tflops or {}).get((r.get("dtype") or "").strip().lower())
    return (chip, peak) if peak and chip.family else None


def best_gemm_fractions(path: str | Path, k0: float) -> dict[str, float]:
    """{family: median best-shape GEMM efficiency}: the maximum achievable matmul rate a shape search found (notes
    "best shape", e.g. Stas Bekman's mamf-finder table) over the chip's peak, with the short-reduction cost taken
    out (x (1 + k0 / K)) and capped at 1: how high a chip's tuned GEMM library gets, per family."""
    name, rows = _read(path)
    cat = catalog()
    found: dict[str, list[float]] = defaultdict(list)
    for line, r in enumerate(rows, 2):
        if r["op"].strip() != "gemm" or r["metric"].strip() != "achieved_tflops" \
                or "best shape" not in (r.get("notes") or ""):
            continue
        hit, k = _chip_and_peak(cat, r), _num(name, line, r.get("k"))
        if hit and k > 0:
            chip, peak = hit
            found[chip.family].append(min(1.0, _num(name, line, r["value"]) / peak * (1 + k0 / k)))
    return {fam: round(statistics.median(v), 3) for fam, v in sorted(found.items())}


def moe_compute_fractions(path: str | Path, k0: dict[str, float]) -> dict[str, dict]:
    """{family: {"moe_compute": median, ...}}: compute-bound grouped GEMMs (at least 1024 rows per group) as a
    fraction of peak, with the short-reduction cost taken out (x (1 + k0 / K), the family's measured k0): what a
    tuned grouped kernel sustains on expert GEMMs, before the K penalty the cost model applies per op."""
    name, rows = _read(path)
    cat = catalog()
    found: dict[str, list[float]] = defaultdict(list)
    chips: dict[str, set[str]] = defaultdict(set)
    for line, r in enumerate(rows, 2):
        if r["op"].strip() != "grouped_gemm" or r["metric"].strip() != "achieved_tflops":
            continue
        m, k = _num(name, line, r.get("m")), _num(name, line, r.get("k"))
        if m < COMPUTE_ROWS or k <= 0:
            continue
        hit = _chip_and_peak(cat, r)
        if not hit or hit[0].family not in k0:
            continue
        chip, peak = hit
        found[chip.family].append(min(1.0, _num(name, line, r["value"]) / peak * (1.0 + k0[chip.family] / k)))
        chips[chip.family].add(chip.id)
    return {fam: {"moe_compute": round(statistics.median(v), 3), "rows": len(v), "chips": sorted(chips[fam])}
            for fam, v in sorted(found.items())}


def _groups(notes: str) -> int:
    m = re.search(r"(\d+) groups", notes or "")
    return int(m.group(1)) if m else 1


def roofline_sharpness(path: str | Path, k0: dict[str, float], e: dict[str, float], memory: dict[str, float]
                       ) -> dict[str, dict]:
    """{family: {"roofline_n": n, "rows": r}}: how GEMMs near the ridge point combine their compute and memory
    times, t = (tc^n + tm^n)^(1/n) (n -> infinity is the plain roofline maximum). tc from the family's k0 and peak
    fraction e, tm from its weight-streaming fraction; n on a grid of 0.25 in [1.5, 8] by squared log error over
    every GEMM of the family; at least 3 rows within a factor of 2 of the ridge, or n is not identified."""
    name, rows = _read(path)
    cat = catalog()
    pts: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for line, r in enumerate(rows, 2):
        if r["op"].strip() not in ("gemm", "grouped_gemm") or r["metric"].strip() != "achieved_tflops":
            continue
        if "best shape" in (r.get("notes") or ""):
            continue
        m, n, k = (_num(name, line, r.get(c)) for c in ("m", "n", "k"))
        bits = BITS.get((r.get("dtype") or "").strip().lower())
        try:
            chip = cat.chips[cat.resolve("chip", r["hardware"].strip())]
        except SuanliError:
            continue
        fam = chip.family
        peak = (chip.matrix_tflops or {}).get((r.get("dtype") or "").strip().lower())
        bw = chip.memory.bandwidth_gb_s if chip.memory else None
        if not (fam in k0 and fam in memory and peak and bw and bits and m > 0 and n > 0 and k > 0):
            continue
        g = _groups(r.get("notes") or "")
        flops = 2.0 * m * n * k * g
        moved = g * (n * k * bits / 8 + m * k * bits / 8 + m * n * 2.0)  # weights and inputs in, bf16 out
        tc = flops / (peak * 1e12 * e[fam] * k / (k + k0[fam]))
        tm = moved / (bw * 1e9 * memory[fam])
        pts[fam].append((tc, tm, flops / (_num(name, line, r["value"]) * 1e12)))
    out = {}
    for fam, p in sorted(pts.items()):
        if sum(1 for tc, tm, _ in p if 0.5 < tc / tm < 2.0) < 3:
            continue
        best = (math.inf, 0.0)
        for i in range(27):
            nn = 1.5 + 0.25 * i
            err = sum(math.log((tc ** nn + tm ** nn) ** (1 / nn) / t) ** 2 for tc, tm, t in p)
            if err < best[0] - 1e-12:
                best = (err, nn)
        out[fam] = {"roofline_n": best[1], "rows": len(p)}
    return out


BITS = {"fp8": 8, "int8": 8, "bf16": 16, "fp16": 16, "fp4": 4, "int4": 4, "fp32": 32}


def comm_fractions(path: str | Path) -> dict[str, dict]:
    """{family: {"comm_bandwidth": median fraction, "rows": n, "chips": [...]}} from large in-node all-reduces."""
    p = Path(path)
    if not p.exists():
        raise SuanliError(f"data: file {str(p)!r} not found")
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in OPS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SuanliError(f"data: {p.name} lacks column(s) {', '.join(missing)} of the micro-benchmark format")
        rows = list(reader)
    cat = catalog()
    found: dict[str, list[float]] = defaultdict(list)
    chips: dict[str, set[str]] = defaultdict(set)
    for line, r in enumerate(rows, 2):
        if r["op"].strip() != "all_reduce" or r["metric"].strip() != "busbw_gb_s":
            continue
        try:
            n = int(r["n_accel"])
            size = float(r.get("size_bytes") or 0)
            busbw = float(r["value"])
        except ValueError as exc:
            raise SuanliError(f"data: {p.name} line {line}: not a number ({exc})") from None
        if size < LARGE_BYTES or not NODE_GROUP[0] <= n <= NODE_GROUP[1]:
            continue
        try:
            chip = cat.chips[cat.resolve("chip", r["hardware"].strip())]
        except SuanliError:
            continue
        link = chip.scale_up.bandwidth_gb_s if chip.scale_up else None
        if not link or not chip.family:
            continue
        found[chip.family].append(min(1.0, busbw / link))
        chips[chip.family].add(chip.id)
    return {fam: {"comm_bandwidth": round(statistics.median(v), 3), "rows": len(v), "chips": sorted(chips[fam])}
            for fam, v in sorted(found.items())}
