"""What arrives at a deployment: request arrival times and lengths, from distributions or a trace, and SLOs.

Everything is drawn from one seeded numpy Generator, so the same seed gives the same requests. Strings follow the
CLI: `--input-dist lognormal:mean=1500,sigma=0.8`, `uniform:low=100,high=2000`, `fixed:1024`,
`empirical:path.csv` (one length per line or a column named `tokens`); `--slo ttft_p99=2s,tpot_p99=60ms`.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from suanli.schema import SuanliError

MAX_TOKENS = 10_000_000  # a prompt or output longer than any model's context (the Workload schema's bound)

DISTS = ("fixed", "uniform", "lognormal", "empirical")


@dataclass(frozen=True)
class LengthDist:
    kind: str
    params: dict[str, float]
    values: tuple[int, ...] = ()

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "fixed":
            return np.full(n, int(self.params["value"]))
        if self.kind == "uniform":
            return rng.integers(int(self.params["low"]), int(self.params["high"]) + 1, n)
        if self.kind == "lognormal":
            mean, sigma = self.params["mean"], self.params["sigma"]
            mu = math.log(mean) - sigma * sigma / 2  # so that the distribution's mean is `mean`
            return np.clip(np.rint(rng.lognormal(mu, sigma, n)), 1, MAX_TOKENS).astype(int)
        return rng.choice(np.array(self.values), n)

    @property
    def mean(self) -> float:
        if self.kind == "fixed":
            return self.params["value"]
        if self.kind == "uniform":
            return (self.params["low"] + self.params["high"]) / 2
        if self.kind == "lognormal":
            return self.params["mean"]
        return float(np.mean(self.values))


def parse_dist(text: str, field: str) -> LengthDist:
    """`fixed:N` (or a bare N), `uniform:low=A,high=B`, `lognormal:mean=M,sigma=S`, `empirical:FILE`."""
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        text = f"fixed:{text}"
    kind, _, rest = text.partition(":")
    kind = kind.lower()
    if kind not in DISTS:
        raise SuanliError(f"{field}: unknown distribution {kind!r}; allowed: {', '.join(DISTS)}")
    if kind == "empirical":
        return LengthDist(kind, {}, _read_lengths(Path(rest), field))
    if kind == "fixed":
        value = _num(rest.replace("value=", ""), field, "value")
        _positive(value, field, "value")
        return LengthDist(kind, {"value": value})
    params = {}
    for part in filter(None, rest.split(",")):
        key, _, val = part.partition("=")
        params[key.strip()] = _num(val, field, key.strip())
    need = {"uniform": ("low", "high"), "lognormal": ("mean", "sigma")}[kind]
    for k in need:
        if k not in params:
            raise SuanliError(f"{field}: {kind} needs {' and '.join(need)} (e.g. {kind}:{need[0]}=..,{need[1]}=..)")
    if kind == "uniform" and not 1 <= params["low"] <= params["high"]:
        raise SuanliError(f"{field}: uniform needs 1 <= low <= high, got low={params['low']:g} high={params['high']:g}")
    if kind == "lognormal":
        _positive(params["mean"], field, "mean")
        if not 0 <= params["sigma"] <= 5:
            raise SuanliError(f"{field}: lognormal sigma={params['sigma']:g} is not allowed; give 0 to 5")
    return LengthDist(kind, params)


def _num(text: str, field: str, key: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise SuanliError(f"{field}: {key}={text!r} is not a number") from None
    if not math.isfinite(v) or abs(v) > MAX_TOKENS:
        raise SuanliError(f"{field}: {key}={text!r} is not allowed; give a finite number up to {MAX_TOKENS:,}")
    return v


def _positive(x: float, field: str, key: str) -> None:
    if x < 1:
        raise SuanliError(f"{field}: {key}={x:g} must be at least 1 token")


def _read_lengths(path: Path, field: str) -> tuple[int, ...]:
    if not path.exists():
        raise SuanliError(f"{field}: file {str(path)!r} not found")
    out = []
    with path.open(newline="") as fh:
        for line_no, row in enumerate(csv.reader(fh), 1):
            if not row or (line_no == 1 and not row[0].strip().isdigit()):
                continue
            try:
                v = int(float(row[0]))
            except ValueError:
                raise SuanliError(f"{field}: {path.name} line {line_no}: {row[0]!r} is not a token count") from None
            if v < 1:
                raise SuanliError(f"{field}: {path.name} line {line_no}: {v} must be at least 1")
            out.append(v)
    if not out:
        raise SuanliError(f"{field}: {path.name} holds no lengths")
    return tuple(out)


@dataclass(frozen=True)
class Arrivals:
    kind: str  # poisson | gamma | constant | concurrency | trace
    rate: float = 0.0  # requests per second (poisson, gamma, constant)
    cv: float = 1.0  # coefficient of variation of inter-arrival times (gamma)
    clients: int = 0  # closed loop: concurrent clients

    def times(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "poisson":
            gaps = rng.exponential(1.0 / self.rate, n)
        elif self.kind == "constant":  # a load generator's fixed schedule, 1/rate apart (guidellm's sweep)
            gaps = np.full(n, 1.0 / self.rate)
        else:  # gamma with mean 1/rate and the given CV: shape k = 1/cv^2
            k = 1.0 / (self.cv * self.cv)
            gaps = rng.gamma(k, 1.0 / (self.rate * k), n)
        return np.cumsum(gaps)


def arrivals(kind: str, rate: float | None, cv: float | None, clients: int | None) -> Arrivals:
    kind = kind.lower()
    if kind not in ("poisson", "gamma", "constant", "concurrency"):
        raise SuanliError(f"arrival: {kind!r} is not allowed; allowed: poisson, gamma, constant, concurrency (or "
                          "--trace)")
    if kind == "concurrency":
        if not clients or clients < 1:
            raise SuanliError(f"concurrency: {clients} clients; closed-loop arrivals need --concurrency >= 1")
        return Arrivals(kind, clients=clients)
    if rate is None or not rate > 0 or math.isinf(rate):
        raise SuanliError(f"rate: {rate} req/s is not allowed; give a finite rate > 0 (--rate)")
    if kind == "gamma" and (cv is None or cv <= 0):
        raise SuanliError(f"cv: {cv} is not allowed; gamma arrivals need --cv > 0 (1 = Poisson, > 1 = bursty)")
    return Arrivals(kind, rate=rate, cv=0.0 if kind == "constant" else cv or 1.0)


@dataclass(frozen=True)
class Trace:
    arrival_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray


def read_trace(path: str | Path) -> Trace:
    """A CSV with columns arrival_s (or timestamp), input_tokens, output_tokens; times must not decrease."""
    p = Path(path)
    if not p.exists():
        raise SuanliError(f"trace: file {str(p)!r} not found")
    names = {"arrival": ("arrival_s", "arrival", "timestamp", "time_s"), "input": ("input_tokens", "input", "prompt"),
             "output": ("output_tokens", "output", "completion")}
    with p.open(newline="") as fh:
        reader = csv.DictReader(fh)
        cols = {k.strip().lower(): k for k in (reader.fieldnames or [])}
        chosen = {}
        for key, options in names.items():
            hit = next((cols[o] for o in options if o in cols), None)
            if hit is None:
                raise SuanliError(f"trace: {p.name} lacks a column for {key} (one of {', '.join(options)})")
            chosen[key] = hit
        t, a, b = [], [], []
        for line_no, row in enumerate(reader, 2):
            try:
                ti, ai, bi = float(row[chosen["arrival"]]), int(float(row[chosen["input"]])), int(
                    float(row[chosen["output"]]))
            except (TypeError, ValueError):
                raise SuanliError(f"trace: {p.name} line {line_no}: non-numeric value in {row}") from None
            if ai < 1 or bi < 1 or ti < 0:
                raise SuanliError(f"trace: {p.name} line {line_no}: lengths must be >= 1 and time >= 0")
            if t and ti < t[-1]:
                raise SuanliError(f"trace: {p.name} line {line_no}: arrival {ti} is before the previous one "
                                  f"({t[-1]}); rows must be sorted by time")
            t.append(ti), a.append(ai), b.append(bi)
    if not t:
        raise SuanliError(f"trace: {p.name} holds no requests")
    return Trace(np.array(t), np.array(a), np.array(b))


SLO_KEYS = ("ttft_p50", "ttft_p90", "ttft_p99", "ttft_mean", "tpot_p50", "tpot_p90", "tpot_p99", "tpot_mean",
            "e2e_p50", "e2e_p90", "e2e_p99", "e2e_mean")


def parse_slo(text: str | None) -> dict[str, float]:
    """`ttft_p99=2s,tpot_p99=60ms` -> {"ttft_p99": 2.0, "tpot_p99": 0.06} (seconds)."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        key, sep, val = part.strip().partition("=")
        key = key.strip().lower()
        if not sep or key not in SLO_KEYS:
            raise SuanliError(f"slo: {part.strip()!r} is not understood; use e.g. ttft_p99=2s,tpot_p99=60ms "
                              f"(keys: {', '.join(SLO_KEYS)})")
        m = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s)?\s*", val)
        if not m:
            raise SuanliError(f"slo: {key}={val!r} needs a time like 2s or 60ms")
        seconds = float(m.group(1)) / (1000.0 if m.group(2) == "ms" else 1.0)
        if seconds <= 0:
            raise SuanliError(f"slo: {key}={val!r} must be positive")
        out[key] = seconds
    return out
