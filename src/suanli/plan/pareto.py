"""Pareto fronts of throughput per chip against interactivity (tokens/s per user), as data and as plots.

A candidate is on a system's front when no other candidate that fits in memory gives both more output tokens/s
per chip and more tokens/s per user (1 / mean TPOT). Points come from the analytic steady state, SLO or not (each
says whether it meets the SLO). Plots: plotly HTML (`.html`), or PNG through matplotlib (`.png`, `.svg`, `.pdf`);
both libraries are optional (`pip install 'suanli[plot]'`) and imported only when a plot is asked for.
"""

from __future__ import annotations

import os
from pathlib import Path

from suanli.plan.space import Eval
from suanli.schema import SuanliError
from suanli.schema.files import output_path


def front(recs: list[Eval]) -> list[Eval]:
    """The non-dominated records (maximising tok/s per user and tok/s per chip), by falling tok/s per user."""
    pts = sorted((r for r in recs if r.out_tok_s > 0 and r.tpot_mean > 0),
                 key=lambda r: (-r.tok_s_per_user, -r.per_chip, r.key))
    out, best = [], -1.0
    for r in pts:
        if r.per_chip > best:
            out.append(r)
            best = r.per_chip
    return out


def point(r: Eval) -> dict:
    return {"tok_s_per_user": r.tok_s_per_user, "output_tok_s_per_chip": r.per_chip, "tp": r.tp, "pp": r.pp,
            "ep": r.ep, "dp": r.dp, "precision": r.precision, "kv_precision": r.kv_precision,
            "max_batch": r.max_batch, "token_budget": r.token_budget, "disaggregated": r.mode == "disaggregated",
            "prefill_decode_ratio": r.ratio, "tpot_p99_ms": r.tpot_p99 * 1e3, "ttft_p99_ms": r.ttft_p99 * 1e3,
            "meets_slo": r.status == "ok", "label": r.label()}


def _title(data: dict) -> str:
    slo = ", ".join(f"{k}={v:g} ms" for k, v in (data.get("slo_ms") or {}).items())
    return (f"{data['model']}: input {data['input']}, output {data['output']}" + (f"; SLO {slo}" if slo else "")
            + " (analytic)")


def plot_path(path: str | Path) -> Path:
    """The plot's path, checked before any planning: a writable file name with a known suffix."""
    p = output_path(path, "pareto")
    if p.suffix.lower() not in (".html", ".htm", ".png", ".svg", ".pdf"):
        raise SuanliError(f"pareto: {str(p)!r}: give a .html (plotly) or .png/.svg/.pdf (matplotlib) file name")
    return p


def write_plot(data: dict, path: str | Path) -> Path:
    """Write the fronts of a plan result (`plan(...)` output) to HTML (plotly) or an image (matplotlib), through a
    temporary file renamed over the target (a failed write leaves an earlier plot whole)."""
    p = plot_path(path)
    tmp = p.with_name(f".{p.stem}.partial{p.suffix}")
    try:
        (_plotly if p.suffix.lower() in (".html", ".htm") else _matplotlib)(data, tmp)
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def _log_y(data: dict) -> bool:
    """A log scale when the fronts span more than 30x in tok/s per chip (systems of very different size)."""
    ys = [q["output_tok_s_per_chip"] for c in data["pareto"] for q in c["points"] if q["output_tok_s_per_chip"] > 0]
    return bool(ys) and max(ys) > 30 * min(ys)


def _best_of(data: dict) -> dict[str, dict]:
    return {s["system"]: s["best"] for s in data["systems"] if s.get("best")}


def _plotly(data: dict, path: Path) -> None:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise SuanliError("pareto: an HTML plot needs plotly: pip install 'suanli[plot]'") from None
    fig = go.Figure()
    best = _best_of(data)
    for curve in data["pareto"]:
        pts = curve["points"]
        fig.add_trace(go.Scatter(
            x=[q["tok_s_per_user"] for q in pts], y=[q["output_tok_s_per_chip"] for q in pts], mode="lines+markers",
            name=curve["system"], text=[q["label"] + ("" if q["meets_slo"] else " (misses SLO)") for q in pts],
            marker={"symbol": ["circle" if q["meets_slo"] else "circle-open" for q in pts]},
            hovertemplate="%{text}<br>%{x:.1f} tok/s/user, %{y:,.0f} tok/s/chip<extra>%{fullData.name}</extra>"))
        b = best.get(curve["system"])
        if b:
            fig.add_trace(go.Scatter(x=[b["tok_s_per_user"]], y=[b["output_tok_s_per_chip"]], mode="markers",
                                     marker={"symbol": "star", "size": 14}, name=f"{curve['system']}: plan",
                                     hovertemplate="chosen plan<extra></extra>"))
    fig.update_layout(title=_title(data), xaxis_title="tokens/s per user (1 / mean TPOT)",
                      yaxis_title="output tokens/s per chip", template="plotly_white",
                      yaxis_type="log" if _log_y(data) else "linear")
    fig.write_html(str(path), include_plotlyjs=True)


def _matplotlib(data: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SuanliError("pareto: an image needs matplotlib: pip install 'suanli[plot]'") from None
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=120)
    best = _best_of(data)
    for curve in data["pareto"]:
        pts = curve["points"]
        xs = [q["tok_s_per_user"] for q in pts]
        ys = [q["output_tok_s_per_chip"] for q in pts]
        (line,) = ax.plot(xs, ys, "-", label=curve["system"], linewidth=1.6)
        ok = [(x, y) for x, y, q in zip(xs, ys, pts, strict=True) if q["meets_slo"]]
        bad = [(x, y) for x, y, q in zip(xs, ys, pts, strict=True) if not q["meets_slo"]]
        if ok:
            ax.plot(*zip(*ok, strict=True), "o", color=line.get_color(), markersize=4)
        if bad:
            ax.plot(*zip(*bad, strict=True), "o", color=line.get_color(), markersize=4, markerfacecolor="none")
        b = best.get(curve["system"])
        if b:
            ax.plot([b["tok_s_per_user"]], [b["output_tok_s_per_chip"]], "*", color=line.get_color(), markersize=15,
                    markeredgecolor="black")
    ax.set_xlabel("tokens/s per user (1 / mean TPOT)")
    ax.set_ylabel("output tokens/s per chip")
    if _log_y(data):
        ax.set_yscale("log")
    ax.set_title(_title(data), fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(title="filled: meets SLO, star: plan", fontsize=8, title_fontsize=8)
    fig.tight_layout()
    fig.savefig(str(path))
    plt.close(fig)
