"""Provenance shared by every catalog entry: where each figure came from.

An entry lists its `sources` (key -> URL or document) and a `cite` map from figure paths to source keys.
A path cites everything under it: `memory` covers `memory.capacity_gb` and `memory.bandwidth_gb_s`;
`matrix_tflops.fp8` covers one rate. Several keys may be given, separated by commas. `uncited()` lists the
figures that have a value but no source, and the catalog tests require it to be empty.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Descriptive fields that are not figures and need no citation.
NOT_FIGURES = {
    "id", "name", "vendor", "category", "family", "aliases", "notes", "sources", "cite", "software", "engines",
    "status", "chip", "form_factor", "year", "type", "tech", "unified", "topology", "config", "published",
    "source", "architecture", "segment", "measured",
}


class Sourced(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: dict[str, str] = Field(default_factory=dict, description="source key -> URL or document")
    cite: dict[str, str] = Field(default_factory=dict, description="figure path -> source key(s), comma-separated")

    @model_validator(mode="after")
    def _cite_keys_exist(self):
        for path, keys in self.cite.items():
            for key in _split(keys):
                if key not in self.sources:
                    raise ValueError(f"cite[{path!r}] names source {key!r}, which is not in sources")
        return self

    def figures(self) -> dict[str, Any]:
        """Every figure with a value, by dotted path."""
        return dict(_walk(self.model_dump(exclude={"sources", "cite"}), ""))

    def sources_of(self, path: str) -> list[str]:
        """The sources (URLs/documents) behind one figure path, nearest citation first."""
        parts = path.split(".")
        for i in range(len(parts), 0, -1):
            keys = self.cite.get(".".join(parts[:i]))
            if keys:
                return [self.sources[k] for k in _split(keys)]
        return []

    def uncited(self) -> list[str]:
        return [p for p in self.figures() if not self.sources_of(p)]


def _split(keys: str) -> list[str]:
    return [k.strip() for k in keys.split(",") if k.strip()]


def _walk(obj: Any, prefix: str):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in NOT_FIGURES:
                continue
            yield from _walk(v, f"{prefix}.{k}" if prefix else str(k))
    elif _is_figure(obj, prefix):
        yield prefix, obj


def _is_figure(obj: Any, path: str) -> bool:
    """Numbers are figures; of the strings, only the process node is one."""
    if isinstance(obj, str):
        return path.split(".")[-1] == "process"
    return obj is not None and not isinstance(obj, (list, bool))
