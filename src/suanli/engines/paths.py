"""Slower kernel paths an engine version may take, and what each costs against the chip's tuned path (data in
`data/paths.yaml`, each figure with its source)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

PATHS = Path(__file__).parent / "data" / "paths.yaml"


@cache
def path_costs() -> dict[str, dict[str, dict]]:
    """{feature: {value: {"compute": share of the tuned path's rate | "kernel_us": added host cost, "source"}}}."""
    return yaml.safe_load(PATHS.read_text()) or {}


def path_cost(feature: str, value: str) -> dict | None:
    return path_costs().get(feature, {}).get(value)
