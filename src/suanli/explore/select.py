"""Constraints (`--where`) and objectives over design points, and the Pareto front.

`--where` is a boolean expression over the point's fields: comparisons joined by `and` / `or`, parentheses
allowed, numbers with units where the field has one (`tpot<50ms`, `ttft<2s`, `tdp<=700W`), strings for classes
(`class_2023 == 'below'`). Names are fields (`suanli explore --fields`) or their short forms (`tpot` = `tpot_ms`).
It is parsed with Python's `ast` and evaluated by walking that tree over numpy arrays: nothing is executed.
"""

from __future__ import annotations

import ast
import re

import numpy as np

from suanli.schema import SuanliError

FIELDS = {  # name -> (unit, what it is)
    "ttft_ms": ("ms", "time to first token, one batch of prompts (as predict's ttft_ms)"),
    "ttft_loaded_ms": ("ms", "time to first token of a prompt joining the running batch"),
    "tpot_ms": ("ms", "mean time per output token"),
    "tok_s_per_chip": ("tok/s", "output tokens per second per chip"),
    "tok_s_per_user": ("tok/s", "output tokens per second each sequence sees (1 / TPOT)"),
    "output_tok_s": ("tok/s", "output tokens per second of the deployment"),
    "memory_gb": ("GB", "weights + KV cache + activations per chip"),
    "fits": ("", "the model and batch fit the chip's memory"),
    "usd_per_mtok": ("$", "dollars per million output tokens (capex, facility, energy; cost's defaults)"),
    "j_per_token": ("J", "joules per output token at full load"),
    "power_kw": ("kW", "power of the deployment's chips and their share of the hosts, at full load"),
    "die_cost_usd": ("$", "cost per good die"),
    "die_yield": ("", "die yield (default yield model)"),
    "tpp": ("", "total processing performance (3A090)"),
    "pd": ("", "performance density: TPP / die area (mm^2)"),
    "class_2023": ("", "3A090 class under the Oct 2023 thresholds (kept in Dec 2024): 3A090.a, 3A090.b, below"),
    "class_2022": ("", "3A090 class under the Oct 2022 rule (TPP >= 4,800 and chip-to-chip I/O >= 600 GB/s): 3A090, "
                       "below"),
    "hbm_3a090c": ("", "the memory's HBM stacks exceed the Dec 2024 3A090.c density (where the stack count is known)"),
    "under_caps": ("", "under the case-by-case caps (TPP < 21,000 and DRAM < 6,500 GB/s)"),
}
SHORT = {"ttft": "ttft_ms", "tpot": "tpot_ms", "throughput": "tok_s_per_chip", "memory": "memory_gb",
         "cost": "usd_per_mtok", "energy": "j_per_token", "class": "class_2023"}
UNITS = {"ms": {"us": 1e-3, "ms": 1.0, "s": 1e3}, "GB": {"gb": 1.0, "tb": 1e3}, "$": {"usd": 1.0, "k": 1e3},
         "J": {"j": 1.0, "mj": 1e-3}, "kW": {"w": 1e-3, "kw": 1.0, "mw": 1e3}}
_QUANTITY = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?(?:e[+-]?\d+)?)\s*(us|ms|s|gb|tb|usd|k|mj|j|w|kw|mw)\b", re.I)
TAILS = ("p50", "p90", "p99")


def field_of(name: str, what: str = "where") -> str:
    n = SHORT.get(name.lower(), name.lower())
    base = re.sub(r"_(p50|p90|p99)$", "", n)
    if base != n and base.replace("_ms", "") in ("ttft", "tpot"):
        raise SuanliError(f"{what}: {name!r}: explore predicts mean latencies at a fixed batch (no queue); tails "
                          f"come from `suanli simulate` or `plan`; use {base.replace('_ms', '')} (the mean)")
    if n not in FIELDS:
        raise SuanliError(f"{what}: unknown field {name!r}; allowed: {', '.join([*FIELDS, *SHORT])}")
    return n


class Where:
    """A parsed `--where` expression; `mask(points)` is True where it holds, `names` the fields it reads."""

    def __init__(self, text: str | None):
        self.text = (text or "").strip()
        self.names: set[str] = set()
        self.tree = None
        if self.text:
            if len(self.text) > 2000:
                raise SuanliError("where: the expression is longer than 2,000 characters")
            src = _QUANTITY.sub(lambda m: f"__q({m.group(1)}, {m.group(2).lower()!r})", self.text)
            src = re.sub(r"\bclass\b(?!_)", "class_2023", src)  # a Python keyword, so not a name ast can read
            try:
                self.tree = ast.parse(src, mode="eval").body
            except SyntaxError:
                raise SuanliError(f"where: {self.text!r} is not an expression; e.g. \"tpp<4800 and pd<5.92\", "
                                  "\"tpot<50ms\"") from None
            self._check(self.tree)

    def _check(self, node) -> None:
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                self._check(v)
        elif isinstance(node, ast.Compare):
            items = [node.left, *node.comparators]
            for i, part in enumerate(items):
                if isinstance(part, ast.Name):
                    self.names.add(field_of(part.id))
                elif _is_quantity(part):
                    near = [x for x in items[max(0, i - 1):i + 2] if isinstance(x, ast.Name)]
                    self._value(part, near[0] if near else part, {})  # a unit the field cannot take fails now
                elif not isinstance(part, ast.Constant):
                    raise SuanliError(f"where: {ast.unparse(part)!r} is neither a field nor a value")
        elif isinstance(node, ast.Name):
            self.names.add(field_of(node.id))
        else:
            raise SuanliError(f"where: {ast.unparse(node)!r} is not a comparison (use <, <=, >, >=, ==, != joined "
                              "by and / or)")

    def mask(self, pts: dict[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(pts.values())))
        return np.ones(n, bool) if self.tree is None else np.asarray(self._eval(self.tree, pts), bool)

    def _eval(self, node, pts):
        if isinstance(node, ast.BoolOp):
            vals = [self._eval(v, pts) for v in node.values]
            out = vals[0]
            for v in vals[1:]:
                out = (out & v) if isinstance(node.op, ast.And) else (out | v)
            return out
        if isinstance(node, ast.Compare):
            left, out = None, None
            items = [node.left, *node.comparators]
            for i, op in enumerate(node.ops):
                a, b = (left if left is not None else self._value(items[i], items[i + 1], pts),
                        self._value(items[i + 1], items[i], pts))
                res = _compare(op, a, b)
                out = res if out is None else (out & res)
                left = b
            return out
        return np.asarray(pts[field_of(node.id)], bool)

    def _value(self, node, other, pts):
        if isinstance(node, ast.Name):
            return pts[field_of(node.id)]
        if isinstance(node, ast.Constant):
            return node.value
        number, unit = node.args[0].value, node.args[1].value
        field = field_of(other.id) if isinstance(other, ast.Name) else ""
        table = UNITS.get(FIELDS.get(field, ("",))[0], {})
        if unit not in table:
            raise SuanliError(f"where: {number:g}{unit} does not fit field {field or '?'} "
                              f"(unit {FIELDS.get(field, ('none',))[0] or 'none'})")
        return number * table[unit]


def _is_quantity(node) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__q"


def _compare(op, a, b):
    ops = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal,
           ast.Eq: np.equal, ast.NotEq: np.not_equal}
    fn = ops.get(type(op))
    if fn is None:
        raise SuanliError("where: only <, <=, >, >=, ==, != compare")
    return fn(a, b)


def objectives(text: str) -> list[tuple[str, bool]]:
    """'tok_s_per_chip:max,usd_per_mtok:min' -> [(field, maximise)]."""
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, sense = part.partition(":")
        sense = sense.strip().lower() or "max"
        if sense not in ("max", "min"):
            raise SuanliError(f"objectives: {part!r}: give field:max or field:min")
        field = field_of(name.strip(), "objectives")
        if field in ("fits", "class_2023", "class_2022", "hbm_3a090c", "under_caps"):
            raise SuanliError(f"objectives: {field} is not a number to optimise; use it in --where")
        out.append((field, sense == "max"))
    if not 1 <= len(out) <= 4:
        raise SuanliError("objectives: give one to four, e.g. tok_s_per_chip:max,usd_per_mtok:min")
    return out


def pareto(values: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of `values` (every column to be maximised; NaN rows excluded)."""
    ok = np.flatnonzero(~np.isnan(values).any(axis=1))
    if not len(ok):
        return ok
    v = values[ok]
    order = np.lexsort(tuple(-v[:, j] for j in reversed(range(v.shape[1]))))  # best first on the first column
    if v.shape[1] == 1:
        return ok[order[:1]]
    if v.shape[1] == 2:  # sorted by the first objective: a point survives if it beats all earlier ones on the second
        second = v[order, 1]
        before = np.maximum.accumulate(np.concatenate([[-np.inf], second[:-1]]))
        return ok[order[second > before]]
    front: list[int] = []
    for i in order:
        if not any(np.all(v[j] >= v[i]) and np.any(v[j] > v[i]) for j in front):
            front.append(i)
    return ok[np.array(front, dtype=int)]
