"""Measured results in the ground-truth CSV format, read strictly: a bad file fails with the row and column.

Columns (extra ones are ignored): id, source, url, hardware, n_accel, model, weight_precision, kv_precision,
engine, tp, pp, ep, dp, scenario, input_len, output_len, concurrency, request_rate, ttft_slo_ms, tpot_slo_ms,
metric, value, unit, notes. Required: hardware, n_accel, model, scenario, metric, value.
Defaults for empty optional fields: id = "row<line>"; weight_precision = the model's released format (fp8 for
DeepSeek-V3/R1, mxfp4 for gpt-oss, else bf16); kv_precision = fp8 for TensorRT-LLM with fp8/fp4 weights
(its quantization recipes do so), else bf16; engine = none (default factors);
tp/pp/ep/dp = chosen as a tuned deployment would; input_len/output_len = the data set's published means
(`datasets.yaml`), and a row with neither is skipped with that reason.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from suanli.schema import SuanliError
from suanli.schema.files import text_of

SCENARIOS = ("offline", "server", "interactive", "concurrency", "rate", "batch")
METRICS = (
    "output_tok_s", "total_tok_s", "output_tok_s_per_accel", "total_tok_s_per_accel", "requests_s",
    "ttft_mean_ms", "ttft_median_ms", "ttft_p99_ms", "tpot_mean_ms", "tpot_median_ms", "tpot_p99_ms",
    "itl_mean_ms", "e2e_mean_s", "e2e_p99_s", "prefill_tok_s_per_accel", "decode_tok_s_per_accel",
    "prefill_tok_s", "decode_tok_s",
)
REQUIRED = ("hardware", "n_accel", "model", "scenario", "metric", "value")
INTS = ("n_accel", "tp", "pp", "ep", "dp", "input_len", "output_len", "concurrency")
FLOATS = ("request_rate", "ttft_slo_ms", "tpot_slo_ms", "value")
LAYOUT = ("tp", "pp", "ep", "dp")


@dataclass(frozen=True)
class Row:
    line: int
    id: str
    source: str
    hardware: str
    n_accel: int
    model: str
    weight_precision: str
    kv_precision: str
    engine: str
    tp: int | None
    pp: int | None
    ep: int | None
    dp: int | None
    scenario: str
    input_len: int | None
    output_len: int | None
    concurrency: int | None
    request_rate: float | None
    ttft_slo_ms: float | None
    tpot_slo_ms: float | None
    metric: str
    value: float
    notes: str
    url: str = ""

    @property
    def kind(self) -> str:
        """throughput or latency."""
        return "throughput" if self.metric.endswith(("tok_s", "_per_accel", "requests_s")) else "latency"


def load_rows(path: str | Path) -> list[Row]:
    p = Path(path)
    text = text_of(p, "data")  # a folder, a binary or non-UTF-8 file, an oversized one: one line, no traceback
    try:
        return _rows(p, io.StringIO(text, newline=""))
    except csv.Error as e:  # a field longer than the csv module's limit, a NUL byte, ...
        raise SuanliError(f"data: {p.name} is not a readable CSV ({e})") from None


def _rows(p: Path, fh: io.StringIO) -> list[Row]:
    reader = csv.DictReader(fh)
    if not reader.fieldnames:
        raise SuanliError(f"data: {p.name} is empty (no header row)")
    cols = [c.strip() for c in reader.fieldnames]
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise SuanliError(f"data: {p.name} lacks required column(s) {', '.join(missing)}; "
                          f"required: {', '.join(REQUIRED)}")
    rows = [_row(p.name, i, {k.strip(): (v or "").strip() for k, v in raw.items() if k})
            for i, raw in enumerate(reader, 2)]
    if not rows:
        raise SuanliError(f"data: {p.name} has a header but no rows")
    return rows


def _row(name: str, line: int, raw: dict[str, str]) -> Row:
    def where(col: str) -> str:
        return f"data: {name} line {line} column {col}"

    for col in REQUIRED:
        if not raw.get(col):
            raise SuanliError(f"{where(col)}: empty; a value is required")
    vals: dict[str, object] = {}
    for col in INTS:
        v = raw.get(col, "")
        if v == "":
            vals[col] = None
            continue
        try:
            f = float(v)
        except ValueError:
            raise SuanliError(f"{where(col)}: {v!r} is not a number") from None
        if f == 0 and col in LAYOUT:
            vals[col] = None  # 0 in a layout column means "not used", as some exports write it
            continue
        if f != int(f) or f < 1:
            raise SuanliError(f"{where(col)}: {v!r} must be a whole number >= 1")
        vals[col] = int(f)
    for col in FLOATS:
        v = raw.get(col, "")
        if v == "":
            vals[col] = None
            continue
        try:
            vals[col] = float(v)
        except ValueError:
            raise SuanliError(f"{where(col)}: {v!r} is not a number") from None
        if not vals[col] > 0:
            raise SuanliError(f"{where(col)}: {v!r} must be > 0")
    scenario, metric = raw["scenario"].lower(), raw["metric"].lower()
    if scenario not in SCENARIOS:
        raise SuanliError(f"{where('scenario')}: unknown scenario {raw['scenario']!r}; allowed: {', '.join(SCENARIOS)}")
    if metric not in METRICS:
        raise SuanliError(f"{where('metric')}: unknown metric {raw['metric']!r}; allowed: {', '.join(METRICS)}")
    return Row(line=line, id=raw.get("id") or f"row{line}", source=raw.get("source", ""), hardware=raw["hardware"],
               model=raw["model"], weight_precision=raw.get("weight_precision", ""),
               kv_precision=raw.get("kv_precision", ""), engine=raw.get("engine", ""), scenario=scenario,
               metric=metric, notes=raw.get("notes", ""), url=raw.get("url") or "",
               **vals)  # type: ignore[arg-type]
