"""Find a model by catalog id, alias, or a path to a config.json, and parse it once."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from suanli.catalog import catalog
from suanli.model.arch import Arch, parse_config
from suanli.schema import ModelCard, SuanliError
from suanli.schema.files import text_of


@cache
def _arch_of(model_id: str) -> Arch:
    return parse_config(catalog().models[model_id].config, model_id)


def model_arch(name: str) -> tuple[str, Arch]:
    """(model id, architecture) for a catalog id/alias or a config.json path."""
    if name.endswith(".json") or "/" in name and Path(name).exists():
        return _from_file(Path(name))
    model_id = catalog().resolve("model", name)
    return model_id, _arch_of(model_id)


def _no_constant(word: str) -> None:
    raise SuanliError(f"model: the config holds {word}, which is not a number JSON allows")


def _from_file(path: Path) -> tuple[str, Arch]:
    if not path.exists():
        raise SuanliError(f"model: file {str(path)!r} not found")
    text = text_of(path, "model")
    try:
        raw = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise SuanliError(f"model: {path.name} is not valid JSON ({e})") from None
    except RecursionError:
        raise SuanliError(f"model: {path.name} is nested too deeply to be a config.json") from None
    if not isinstance(raw, dict):
        raise SuanliError(f"model: {path.name} must hold a JSON object")
    if "config" in raw and isinstance(raw["config"], dict):
        card = ModelCard.model_validate(raw)
        return card.id, parse_config(card.config, card.id)
    name = path.stem if path.stem != "config" else path.parent.name or "model"
    return name, parse_config(raw, name)
