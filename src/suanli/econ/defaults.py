"""Bundled defaults of suanli.econ and the ledger that reports, for every figure a result used, where it came from.

`data/defaults.yaml` holds power, TCO and packaging defaults, `data/nodes.yaml` wafer prices, design costs and
defect densities by process node, `data/policy.yaml` the export-control thresholds. Each default carries a source,
or says `source: assumption` with a note. A `Ledger` records what a computation actually used: the default, a
catalog figure (with the catalog's sources) or the user's override, so that every command can print its
assumptions.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

DATA = Path(__file__).parent / "data"
ASSUMPTION = "assumption"


class Figure(BaseModel):
    """One value a result used, with its unit and its source ("assumption" when no public figure backs it)."""

    model_config = ConfigDict(extra="forbid")

    value: Any
    unit: str = ""
    source: str
    note: str = ""


@cache
def load(name: str) -> dict:
    """One bundled data file (defaults, nodes, policy), parsed once."""
    return yaml.safe_load((DATA / f"{name}.yaml").read_text())


def default(name: str) -> Figure:
    return Figure(**load("defaults")[name])


class Ledger:
    """What a computation used, by name, in the order it was used."""

    def __init__(self) -> None:
        self.figures: dict[str, Figure] = {}

    def use(self, name: str, override: Any = None, flag: str = "") -> Any:
        """The user's value if given (source 'user'), else the bundled default; recorded either way."""
        d = default(name)
        if override is not None:
            self.figures[name] = Figure(value=override, unit=d.unit, source=f"user ({flag or '--' + name})")
            return override
        self.figures[name] = d
        return d.value

    def put(self, name: str, value: Any, unit: str, source: str, note: str = "") -> Any:
        self.figures[name] = Figure(value=value, unit=unit, source=source or ASSUMPTION, note=note)
        return value

    def as_dict(self) -> dict[str, dict]:
        return {k: f.model_dump(exclude_defaults=False) for k, f in self.figures.items()}
