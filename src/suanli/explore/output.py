"""Where explored points go: every point to CSV or Parquet as chunks finish (a temporary file renamed at the end,
so a stopped run leaves nothing half-written), and an interactive plot of the objectives with the front."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import numpy as np

from suanli.schema import SuanliError


class PointWriter:
    """Appends chunks of points to `path` (.csv, or .parquet with pyarrow); `close()` renames it into place."""

    def __init__(self, path: Path):
        self.path = path
        self.parquet = path.suffix.lower() == ".parquet"
        if self.parquet:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise SuanliError("out: .parquet needs pyarrow (pip install pyarrow); or write .csv") from None
        elif path.suffix.lower() != ".csv":
            raise SuanliError(f"out: {str(path)!r}: points are written as .csv or .parquet")
        fd, self.tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
        os.close(fd)
        self._fh = None
        self._writer = None
        self.rows = 0

    def add(self, pts: dict[str, np.ndarray]) -> None:
        names = list(pts)
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table({k: pts[k] for k in names})
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.tmp, table.schema)
            self._writer.write_table(table)
        else:
            if self._fh is None:
                self._fh = open(self.tmp, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
                self._writer = csv.writer(self._fh)
                self._writer.writerow(names)
            cols = [np.char.mod("%.6g", v) if v.dtype.kind == "f" else v.astype(str) for v in pts.values()]
            self._writer.writerows(zip(*cols, strict=True))
        self.rows += len(next(iter(pts.values())))

    def close(self, keep: bool = True) -> None:
        if self.parquet and self._writer is not None:
            self._writer.close()
        if self._fh is not None:
            self._fh.close()
        if keep:
            os.chmod(self.tmp, 0o644)
            os.replace(self.tmp, self.path)
        elif os.path.exists(self.tmp):
            os.unlink(self.tmp)


def write_plot(path: Path, result: dict, sample: dict[str, list]) -> None:
    """An HTML scatter of the first two objectives: a sample of the feasible points and the front (plotly,
    inlined: opens offline)."""
    import plotly.graph_objects as go

    from suanli.schema.files import write_atomic

    goals = [o["field"] for o in result["objectives"]]
    x, y = goals[0], goals[1] if len(goals) > 1 else goals[0]
    fig = go.Figure()
    fig.add_trace(go.Scattergl(x=sample.get(x, []), y=sample.get(y, []), mode="markers", name="feasible points "
                               "(sample)", marker={"size": 4, "opacity": 0.35}))
    front = result["front"]
    hover = [", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()
                       if k in (*goals, "model", "tp", "batch", *result["varied"])) for r in front]
    fig.add_trace(go.Scatter(x=[r[x] for r in front], y=[r[y] for r in front], mode="lines+markers",
                             name="Pareto front", text=hover, hoverinfo="text"))
    fig.update_layout(title=f"suanli explore: {result['base']} ({result['points']:,} points, "
                            f"{result['feasible']:,} feasible)", xaxis_title=x, yaxis_title=y)
    write_atomic(path, fig.to_html(include_plotlyjs=True, full_html=True))
