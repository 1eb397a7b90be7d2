"""The documented launch flags (or config keys) of each engine version, transcribed from its docs with the page
(`data/flags/<engine>.yaml`): what `suanli plan --emit` may write, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from suanli.engines.profile import version_key
from suanli.schema import SuanliError

FLAGS = Path(__file__).parent / "data" / "flags"


@dataclass(frozen=True)
class FlagTable:
    engine: str
    version: str  # the documented version the table is for
    command: str
    docs: str
    flags: dict[str, str] = field(default_factory=dict)  # flag or config key -> its documented meaning
    extra: dict[str, dict[str, str]] = field(default_factory=dict)  # further documented key sets (config files)
    note: str = ""  # when the asked version is not one transcribed

    def has(self, name: str, section: str | None = None) -> bool:
        return name in (self.extra.get(section, {}) if section else self.flags)


@cache
def _raw(engine: str) -> dict:
    p = FLAGS / f"{engine}.yaml"
    if not p.exists():
        return {}
    return yaml.safe_load(p.read_text(encoding="utf-8")) or {}


def engines_with_flags() -> list[str]:
    return sorted(p.stem for p in FLAGS.glob("*.yaml")) if FLAGS.is_dir() else []


def flag_table(engine: str, version: str | None) -> FlagTable:
    """The table for `version` (the newest transcribed one at or below it; the oldest if it is older than all)."""
    raw = _raw(engine)
    versions = raw.get("versions") or {}
    if not versions:
        raise SuanliError(f"emit: no documented flags for engine {engine!r}; engines with them: "
                          f"{', '.join(engines_with_flags())}")
    keys = sorted(versions, key=lambda v: version_key(str(v)))
    pick, note = keys[-1], ""
    if version:
        below = [k for k in keys if version_key(str(k)) <= version_key(version)]
        pick = below[-1] if below else keys[0]
        if str(pick) != version:
            note = f"{engine} {version}: flags as documented for {pick}, the nearest transcribed version"
    else:
        note = f"{engine}: version not stated, flags as documented for {pick}"
    v = versions[pick]
    extra = {k: dict(val) for k, val in v.items() if isinstance(val, dict) and k != "flags"}
    flags = dict(v.get("flags") or v.get("config_keys") or {})
    return FlagTable(engine, str(pick), str(raw.get("command", "")), str(v.get("docs", "")), flags, extra, note)
