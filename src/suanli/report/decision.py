"""`suanli report`: one document for a decision between systems for a model and a workload.

For each system, the deployment `compare` picks (best layout and batch), and around it: tokens per second per chip
and per user with their intervals, the front of per-chip against per-user throughput over batch sizes, $/Mtok and
J/token with the assumptions behind them, memory fit, the export-control class, where the time of a decode step
goes, the engine assumed with its kernel paths, how far suanli was off on held-out measurements of the same class,
and the sources of every chip, system, model and engine figure used.
"""

from __future__ import annotations

import math

from suanli.report.html import Doc, Section

BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
COLORS = ("#2f6db5", "#d0632b", "#3a9a5b", "#8e5bb5", "#b5a22f", "#4aa3b5", "#b54a6d", "#6b6b6b")


def _f(x: float | None, digits: int = 0) -> str:
    return "?" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:,.{digits}f}"


def build(model: str, systems: list[str], *, input: int, output: int, precision: str = "fp8",
          engine: str | None = None, batch: int | None = None) -> Doc:
    from suanli.api import compare

    rows = compare(model, systems, input=input, output=output, precision=precision, engine=engine, batch=batch)
    ok = [r for r in rows if "error" not in r]
    title = f"{model} on {', '.join(systems)}: input {input}, output {output} tokens, {precision}"
    doc = Doc(title)
    doc.sections.append(_summary(rows))
    if ok:
        doc.sections.append(_bars(ok, "output_tok_s_per_chip", "Output tokens per second per chip (P10-P90 bars)",
                                  "tok/s per chip"))
        doc.sections.append(_front(ok, model, input, output, precision))
        econ = [_econ(r, model, input, output, precision) for r in ok]
        doc.sections += _econ_sections(ok, econ)
        doc.sections.append(_time(ok, model, input, output, precision))
        doc.sections.append(_memory(ok))
    doc.sections.append(_policy(rows))
    doc.sections.append(_engines(ok))
    doc.sections.append(_validation(ok))
    doc.sections.append(_sources(rows, model))
    return doc


def _summary(rows: list[dict]) -> Section:
    cols = ["#", "system", "chips", "layout", "batch", "tok/s per chip", "P10-P90", "tok/s per user", "TTFT ms",
            "TPOT ms", "factors", "note"]
    out = []
    for r in rows:
        if "error" in r:
            out.append(["-", r["system"], r.get("chips"), "", "", "", "", "", "", "", "", r["error"]])
            continue
        b = r.get("intervals", {}).get("output_tok_s_per_chip")
        out.append([r["rank"], r["system"], f"{r['chips']} x {r['chip']}",
                    f"tp{r['tp']} pp{r['pp']} ep{r['ep']} dp{r['dp']}", r["batch"], _f(r["output_tok_s_per_chip"]),
                    f"{_f(b['p10'])}-{_f(b['p90'])}" if b else "", _f(r["tok_s_per_user"], 1), _f(r["ttft_ms"]),
                    _f(r["tpot_ms"], 2), r["factors"].split(";")[0], r.get("notes", "")])
    return Section("Ranking", columns=cols, rows=out,
                   text="Each system with the layout and largest batch that give the most output tokens per second "
                        "per chip. P10-P90: where measurements of predictions of this class fell on held-out data.")


def _bars(ok: list[dict], key: str, title: str, unit: str) -> Section:
    bands = [r.get("intervals", {}).get(key) for r in ok]
    trace = {"type": "bar", "x": [r["system"] for r in ok], "y": [r[key] for r in ok],
             "marker": {"color": COLORS[0]},
             "error_y": {"type": "data", "symmetric": False,
                         "array": [(b["p90"] - r[key]) if b else 0 for r, b in zip(ok, bands, strict=True)],
                         "arrayminus": [(r[key] - b["p10"]) if b else 0 for r, b in zip(ok, bands, strict=True)]}}
    return Section(title, figure={"data": [trace], "layout": {"yaxis": {"title": {"text": unit}}, "height": 400}})


def _front(ok: list[dict], model: str, input: int, output: int, precision: str) -> Section:
    """Per-chip against per-user tokens per second over batch sizes, on each system's chosen layout."""
    from suanli.api import predict

    traces, table = [], []
    for i, r in enumerate(ok):
        xs, ys = [], []
        for b in (b for b in BATCHES if b % r["dp"] == 0 and b <= max(r["batch"], r["dp"])):
            p = predict(model, r["system"], tp=r["tp"], pp=r["pp"], ep=r["ep"], dp=r["dp"], precision=precision,
                        engine=(r.get("engine") or {}).get("id"), batch=b, input=input, output=output)
            if not p.fits:
                break
            xs.append(1.0 / p.tpot_s)
            ys.append(p.output_tok_s / p.chips)
            table.append([r["system"], b, _f(xs[-1], 1), _f(ys[-1])])
        traces.append({"type": "scatter", "mode": "lines+markers", "name": r["system"], "x": xs, "y": ys,
                       "line": {"color": COLORS[i % len(COLORS)]}})
    return Section("Tokens per second per chip against per user (batch sizes up to the chosen one)",
                   figure={"data": traces, "layout": {"xaxis": {"title": {"text": "tok/s per user"}},
                                                      "yaxis": {"title": {"text": "tok/s per chip"}}, "height": 420}},
                   columns=["system", "batch", "tok/s per user", "tok/s per chip"], rows=table)


def _econ(r: dict, model: str, input: int, output: int, precision: str) -> dict | None:
    from suanli.econ.report import Knobs, cost_report
    from suanli.econ.run import Ask
    from suanli.schema import SuanliError

    ask = Ask(model=model, input=input, output=output, batch=r["batch"], precision=precision,
              engine=(r.get("engine") or {}).get("id"), tp=r["tp"], pp=r["pp"], ep=r["ep"], dp=r["dp"])
    try:
        return cost_report(ask, r["system"], Knobs(), r["chips"])
    except SuanliError as e:
        return {"error": str(e)}


def _econ_sections(ok: list[dict], econ: list[dict | None]) -> list[Section]:
    rows, usd, jpt = [], [], []
    for r, e in zip(ok, econ, strict=True):
        if not e or "error" in e:
            rows.append([r["system"], "", "", "", "", (e or {}).get("error", "unknown")])
            continue
        u = (e.get("usd_per_mtok") or {}).get("blended")
        band = e.get("intervals", {}).get("usd_per_mtok_blended")
        rows.append([r["system"], _f(u, 3) if u is not None else "no price", f"{_f(band['p10'], 3)}-"
                     f"{_f(band['p90'], 3)}" if band else "", _f(e.get("joules_per_token"), 3),
                     _f(e.get("power_w")), "; ".join(e.get("notes", []))[:300]])
        usd.append((r["system"], u, band))
        jpt.append((r["system"], e.get("joules_per_token")))
    assumptions = next((e.get("assumptions") for e in econ if e and "assumptions" in e), {})
    text = ("Blended $ per million tokens (capex amortised, facility, energy) and joules per token of IT energy at the "
            "chosen deployment; the $/Mtok band is the throughput band at the same hourly cost. Assumptions: "
            + "; ".join(f"{k} = {v}" for k, v in list(assumptions.items())[:14]))
    priced = [(s, u, b) for s, u, b in usd if u is not None]
    fig = {"data": [{"type": "bar", "x": [s for s, _, _ in priced], "y": [u for _, u, _ in priced],
                     "marker": {"color": COLORS[1]},
                     "error_y": {"type": "data", "symmetric": False,
                                 "array": [(b["p90"] - u) if b else 0 for _, u, b in priced],
                                 "arrayminus": [(u - b["p10"]) if b else 0 for _, u, b in priced]}}],
           "layout": {"yaxis": {"title": {"text": "$ per million tokens"}}, "height": 380}}
    jfig = {"data": [{"type": "bar", "x": [s for s, _ in jpt], "y": [j for _, j in jpt],
                      "marker": {"color": COLORS[2]}}],
            "layout": {"yaxis": {"title": {"text": "J per token (IT)"}}, "height": 380}}
    return [Section("Cost and energy", figure=fig, text=text,
                    columns=["system", "$/Mtok blended", "P10-P90", "J/token", "W serving (IT)", "notes"], rows=rows),
            Section("Energy per token", figure=jfig)]


def _time(ok: list[dict], model: str, input: int, output: int, precision: str) -> Section:
    from suanli.api import predict

    classes = ("gemm", "attention", "moe", "elementwise", "comm", "overhead")
    shares = {c: [] for c in classes}
    rows = []
    for r in ok:
        p = predict(model, r["system"], tp=r["tp"], pp=r["pp"], ep=r["ep"], dp=r["dp"], precision=precision,
                    engine=(r.get("engine") or {}).get("id"), batch=r["batch"], input=input, output=output)
        dec = {c["op_class"]: c for c in p.by_class("decode")}
        for c in classes:
            shares[c].append(dec.get(c, {}).get("time_ms", 0.0))
        rows.append([r["system"]] + [f"{_f(dec.get(c, {}).get('time_ms'), 3)} ({dec.get(c, {}).get('bound', '')})"
                                     for c in classes])
    traces = [{"type": "bar", "name": c, "x": [r["system"] for r in ok], "y": shares[c],
               "marker": {"color": COLORS[i % len(COLORS)]}} for i, c in enumerate(classes)]
    return Section("Where a decode step's time goes (ms per step, per chip, by op class and what bounds it)",
                   figure={"data": traces, "layout": {"barmode": "stack", "height": 400,
                                                      "yaxis": {"title": {"text": "ms per decode step"}}}},
                   columns=["system", *classes], rows=rows)


def _memory(ok: list[dict]) -> Section:
    rows = []
    for r in ok:
        m = r["memory_gb_per_chip"]
        rows.append([r["system"], _f(m["weights"], 1), _f(m["kv_cache"], 1), _f(m["activations"], 1),
                     _f(m["reserve"], 1), _f(m["free"], 1), _f(m["capacity"], 0)])
    return Section("Memory per chip (GB) at the chosen deployment",
                   columns=["system", "weights", "KV cache", "activations", "reserve", "free", "capacity"], rows=rows)


def _policy(rows: list[dict]) -> Section:
    from suanli.catalog import catalog
    from suanli.econ.policy import classify

    cat = catalog()
    out = []
    for chip_id in dict.fromkeys(r["chip"] for r in rows if r.get("chip")):
        c = classify(cat.chips[chip_id])
        out.append([chip_id, _f(c["tpp"]), c["tpp_dtype"] or "", _f(c["performance_density"], 1), c["class"],
                     c["rule"]])
    return Section("Export-control class (US EAR 3A090 / 4A090, by total processing performance)",
                   columns=["chip", "TPP", "at", "performance density", "class", "rule"], rows=out)


def _engines(ok: list[dict]) -> Section:
    rows = []
    for r in ok:
        e = r.get("engine") or {}
        paths = "; ".join(f"{k}: {v}" for k, v in (e.get("paths") or {}).items())
        rows.append([r["system"], f"{e.get('name', '?')} {e.get('version') or 'as of ' + str(e.get('as_of'))}",
                     paths, e.get("note", ""), e.get("docs", "")])
    return Section("Engine assumed and its kernel paths", columns=["system", "engine", "paths", "note", "docs"],
                   rows=rows)


def _validation(ok: list[dict]) -> Section:
    """How far predictions of each system's class were off on held-out measurements (the bundled residuals)."""
    from suanli.perf.factors import BUNDLED
    from suanli.validate.intervals import held_path, read_held

    recs = read_held(held_path(BUNDLED)) if held_path(BUNDLED).exists() else []
    rows = []
    for r in ok:
        basis = (r.get("intervals", {}).get("output_tok_s_per_chip") or {}).get("basis", "")
        key = basis.split("class ")[-1].split(" ")[0] if "class " in basis else ""
        mine = [x for x in recs if key and _matches(x["case"].key(), key)]
        apes = [abs(1.0 / x["measured"] - 1.0) for x in mine]  # measured / predicted -> |predicted - measured| / m
        rows.append([r["system"], key, len(mine), f"{100 * sum(apes) / len(apes):.1f}%" if apes else "-", basis])
    return Section("Validation: held-out error of predictions like these",
                   text="Each row's class of prediction and the mean absolute error suanli made on held-out "
                        "measurements of that class (every row predicted with factors fitted without its source).",
                   columns=["system", "class", "held-out rows", "MAPE", "band basis"], rows=rows)


def _matches(full: str, pattern: str) -> bool:
    return all(p in ("*", f) for f, p in zip(full.split("/"), pattern.split("/"), strict=True))


def _sources(rows: list[dict], model: str) -> Section:
    from suanli.catalog import catalog

    cat = catalog()
    out, seen = [], set()
    card = cat.model(model) if not model.endswith(".json") else None
    if card:
        out.append(["model", card.id, "config.json", card.source])
    for r in rows:
        for kind, item in (("system", cat.systems.get(r["system"])), ("chip", cat.chips.get(r.get("chip", "")))):
            if item is None or (kind, item.id) in seen:
                continue
            seen.add((kind, item.id))
            out += [[kind, item.id, key, src] for key, src in item.sources.items()]
        e = r.get("engine") or {}
        if e.get("id") and ("engine", e["id"]) not in seen:
            seen.add(("engine", e["id"]))
            out.append(["engine", e["id"], "docs", e.get("docs", "")])
            out += [["engine", e["id"], k, v] for k, v in sorted(set((e.get("sources") or {}).items()))]
    return Section("Sources", columns=["kind", "id", "key", "source"], rows=out)
