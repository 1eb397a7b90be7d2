"""Loading the bundled catalogs (chips, systems, models) and resolving ids and aliases.

The catalog is data: YAML lists under data/chips and data/systems, one JSON file per model under data/models,
plus the same layout in the user's catalog directory (`user_catalog_dir()`), where `suanli design` and
`suanli probe` save chips. It is loaded once per process and cached behind `catalog()`.
Ids are lowercase with hyphens; aliases are matched
case- and punctuation-insensitively ("H100 SXM5 80GB" -> h100-sxm). An unknown id raises a one-line error with
the nearest ids. Single-chip systems `1x<chip>` exist for every chip, and `<n>x<chip>` builds an n-chip node.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from suanli.schema import Chip, ModelCard, ScaleUp, SuanliError, System
from suanli.schema.errors import validated

DATA = Path(__file__).parent / "data"
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: the catalog loads ~10x faster

MAX_CHIPS = 131_072  # chips in a built system: the largest training clusters, with a margin


def user_catalog_dir() -> Path:
    """Where user entries live (what-if chips from `suanli design`, probed chips from `suanli probe`):
    $SUANLI_HOME/catalog, default ~/.suanli/catalog, with the same chips/ systems/ models/ layout as the bundled."""
    return Path(os.environ.get("SUANLI_HOME", Path.home() / ".suanli")) / "catalog"


def norm(name: str) -> str:
    """Key for alias matching: lowercase letters and digits only (and '.', which separates versions)."""
    return re.sub(r"[^a-z0-9.]", "", name.lower())


@dataclass
class Catalog:
    chips: dict[str, Chip] = field(default_factory=dict)
    systems: dict[str, System] = field(default_factory=dict)
    models: dict[str, ModelCard] = field(default_factory=dict)
    _alias: dict[str, dict[str, str]] = field(default_factory=lambda: {"chip": {}, "system": {}, "model": {}})

    def add(self, kind: str, entry) -> None:
        table = {"chip": self.chips, "system": self.systems, "model": self.models}[kind]
        if entry.id in table:
            raise SuanliError(f"catalog: duplicate {kind} id {entry.id!r}")
        table[entry.id] = entry
        for name in (entry.id, *entry.aliases):
            key = norm(name)
            owner = self._alias[kind].get(key)
            if owner and owner != entry.id:
                raise SuanliError(f"catalog: {kind} alias {name!r} of {entry.id!r} already names {owner!r}")
            self._alias[kind][key] = entry.id

    def resolve(self, kind: str, name: str) -> str:
        """The catalog id for a name or alias; unknown names raise with the nearest ids."""
        if not re.match(r"\s*[A-Za-z0-9]", name):  # `-1xh100-sxm` must not normalise to `1xh100-sxm`
            raise SuanliError(f"{kind}: {name!r} is not an id (ids start with a letter or digit); see "
                              f"`suanli catalog {kind}s`")
        key = norm(name)
        hit = self._alias[kind].get(key)
        if hit:
            return hit
        if kind == "system":
            built = self._built_system(name)
            if built:
                return built
        if kind in ("chip", "system"):  # hook: this machine (`local-cpu`) before `suanli probe` has measured it
            from suanli.calibrate.localchip import unprobed_error

            if err := unprobed_error(name):
                raise err
        ids = list({"chip": self.chips, "system": self.systems, "model": self.models}[kind])
        near = difflib.get_close_matches(name.lower(), ids, n=3, cutoff=0.5)
        hint = f"; nearest: {', '.join(near)}" if near else f"; see `suanli catalog {kind}s`"
        raise SuanliError(f"{kind}: unknown id {name!r}{hint}")

    def chip(self, name: str) -> Chip:
        return self.chips[self.resolve("chip", name)]

    def system(self, name: str) -> System:
        return self.systems[self.resolve("system", name)]

    def model(self, name: str) -> ModelCard:
        return self.models[self.resolve("model", name)]

    def _built_system(self, name: str) -> str | None:
        """`<n>x<chip>`: n chips of one kind in one node, on the chip's own scale-up or host links."""
        m = re.fullmatch(r"\s*(\d+)\s*x\s*(.+)", name.lower())
        if not m:
            return None
        n, chip_name = int(m.group(1)), m.group(2)
        try:
            chip = self.chip(chip_name)
        except SuanliError:
            return None
        if n < 1:
            return None
        if n > MAX_CHIPS:
            raise SuanliError(f"system: {name!r} has {n:,} chips; at most {MAX_CHIPS:,} (the largest clusters)")
        sid = f"{n}x{chip.id}"
        if sid not in self.systems:
            self.add("system", node_of(chip, n, sid))
        return sid


def node_of(chip: Chip, n: int, sid: str) -> System:
    """An n-chip node of `chip`: chips talk over the chip's own scale-up links (NVLink, bridges: within their
    domain) and beyond that over the host link (PCIe), which then plays the part of the next network level."""
    up = chip.scale_up if (chip.scale_up and chip.scale_up.bandwidth_gb_s) else None
    link = up or chip.host_link
    if n == 1:
        scale_up, scale_out = None, chip.scale_out
    elif link is None:
        scale_up, scale_out = ScaleUp(domain=n, topology="none"), chip.scale_out
    else:
        domain = min(n, up.domain or n) if up else n
        scale_up = ScaleUp(tech=link.tech, bandwidth_gb_s=link.bandwidth_gb_s, latency_us=link.latency_us,
                           domain=domain, topology="switch" if up else "pcie")
        scale_out = chip.host_link if (up and domain < n and chip.host_link) else chip.scale_out
    via = "its own scale-up links" if up else "its host link (PCIe)"
    return System(
        id=sid, name=f"{n}x {chip.name}", vendor=chip.vendor, chip=chip.id, chips=n, chips_per_node=n,
        scale_up=scale_up, scale_out=scale_out,
        sources={"chip": f"built from the chip catalog entry {chip.id!r}, whose figures carry their own sources"},
        cite={"chips": "chip", "chips_per_node": "chip", "scale_up": "chip", "scale_out": "chip"},
        notes=f"built from the chip: {n} chip(s) in one node, linked by {via}"
              + (f" in groups of {scale_up.domain}, then PCIe" if scale_up and up and scale_up.domain < n else ""),
    )


def _load_yaml_list(path: Path) -> list[dict]:
    try:
        data = yaml.load(path.read_text(), Loader=Loader) or []
    except yaml.YAMLError as e:
        raise SuanliError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, list):
        raise SuanliError(f"{path.name}: expected a YAML list of entries")
    return data


@cache
def catalog() -> Catalog:
    """The bundled catalog plus the user's own entries, loaded and checked once."""
    cat = Catalog()
    roots = [DATA, user_catalog_dir()]
    for root in roots:
        for path in sorted((root / "chips").glob("*.yaml")):
            for i, raw in enumerate(_load_yaml_list(path)):
                cat.add("chip", validated(Chip, raw, f"{path.name}[{i}] {raw.get('id', '?')}"))
    for root in roots:
        for path in sorted((root / "models").glob("*.json")):
            cat.add("model", validated(ModelCard, _load_json(path), path.name))
    for root in roots:
        for path in sorted((root / "systems").glob("*.yaml")):
            for i, raw in enumerate(_load_yaml_list(path)):
                sys = validated(System, raw, f"{path.name}[{i}] {raw.get('id', '?')}")
                if sys.chip not in cat.chips:
                    raise SuanliError(f"{path.name}: system {sys.id!r} names unknown chip {sys.chip!r}")
                cat.add("system", sys)
    for chip in list(cat.chips.values()):
        sid = f"1x{chip.id}"
        if sid not in cat.systems:
            cat.add("system", node_of(chip, 1, sid))
    return cat


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise SuanliError(f"{path}: not valid JSON ({e})") from None
