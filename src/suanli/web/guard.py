"""What the server refuses and how it reads uploads: no path a user names is ever opened, uploads are data.

suanli's library accepts paths in a few places (a model given as `path/config.json`, `empirical:FILE` length
distributions, a calibration file, a trace or measurement file). Over HTTP every such field is refused with a
one-line 422, and the file's content is taken instead: a config.json as a JSON object, a trace or measurement CSV
as text, which `uploaded()` puts in a private temporary directory under a name the server chooses (the library's
CSV readers take a path) and removes at once. Catalog ids are resolved under a lock because `<n>x<chip>` systems
are added to the shared catalog on first use.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from suanli.schema import SuanliError

LOCK = threading.Lock()
_PATHLIKE = re.compile(r"[/\\]|\.(json|ya?ml|csv)$|^~|^\.", re.I)


def model_name(name: str, field: str = "model") -> str:
    """A model id or alias; a path is refused (send the config.json content in `config` instead)."""
    if _PATHLIKE.search(name.strip()):
        raise SuanliError(f"{field}: {name!r} is not allowed over HTTP (paths are refused); give a catalog model id "
                          "or send the config.json content in `config`")
    return name


def resolve(kind: str, name: str) -> str:
    """The catalog id of a chip, system or model (one-line error with the nearest ids when unknown)."""
    from suanli.catalog import catalog

    if kind == "model":
        model_name(name)
    with LOCK:
        return catalog().resolve(kind, name)


def length_dist(text: str | int, field: str) -> str:
    s = str(text).strip()
    if s.lower().startswith("empirical"):
        raise SuanliError(f"{field}: {s!r} is not allowed over HTTP (empirical:FILE reads a file); use fixed, "
                          "uniform or lognormal, or send a trace in `trace_csv`")
    return s


def config_arch(config: dict, name: str):
    """(model id, Arch) from an uploaded config.json's content, parsed as data."""
    from suanli.model.arch import parse_config
    from suanli.schema import ModelCard

    mid = re.sub(r"[^a-z0-9.+-]", "-", name.lower()).strip("-") or "uploaded-model"
    try:
        if isinstance(config.get("config"), dict):  # a suanli model card
            card = ModelCard.model_validate(config)
            return card.id, parse_config(card.config, card.id)
        return mid, parse_config(config, mid)
    except SuanliError:
        raise
    except Exception as e:  # noqa: BLE001 - a malformed upload must end in one line, whatever the parser hit
        raise SuanliError(f"config: not a usable config.json ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
                          if str(e) else f"config: not a usable config.json ({type(e).__name__})") from None


@contextmanager
def uploaded(text: str, what: str) -> Iterator[Path]:
    """The uploaded text as a file in a private temporary directory (mode 0700), named by the server."""
    if not text.strip():
        raise SuanliError(f"{what}: the upload is empty")
    if "\x00" in text:
        raise SuanliError(f"{what}: the upload is not text (it holds NUL bytes)")
    with tempfile.TemporaryDirectory(prefix="suanli-web-") as d:
        os.chmod(d, 0o700)
        path = Path(d) / f"upload-{what}.csv"
        path.write_text(text, encoding="utf-8")
        yield path


def csv_models_safe(text: str) -> None:
    """Refuse a measurement CSV whose model column names a file (the validator would open it)."""
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text))
    for line, row in enumerate(reader, 2):
        m = (row.get("model") or "").strip()
        if m and _PATHLIKE.search(m):
            raise SuanliError(f"data: upload line {line} column model: {m!r} is not allowed over HTTP (paths are "
                              "refused); give a catalog model id")
