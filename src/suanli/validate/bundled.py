"""The public measurement files, shipped with the package (`measurements/`, gzipped copies of the project's
`shared/groundtruth/` files with their README), so `suanli validate --data public` works from a fresh install.

`data_path("public")` gives a plain CSV path: the bundled copy, unpacked once into $SUANLI_HOME/measurements
(re-unpacked when the package's copy changes). A path that exists is returned as it is.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from suanli.schema import SuanliError

HERE = Path(__file__).parent / "measurements"
SETS = {"public": "public.csv", "serving": "serving.csv", "edge": "edge_cn.csv", "edge_cn": "edge_cn.csv",
        "ops": "ops.csv"}


def data_path(arg: str, what: str = "data") -> str:
    """A measurement file the user named: a path, or one of the bundled sets (`SETS`)."""
    if Path(arg).exists() or arg not in SETS:
        if not Path(arg).exists():
            raise SuanliError(f"{what}: file {arg!r} not found (the bundled sets: {', '.join(SETS)})")
        return arg
    src = HERE / f"{SETS[arg]}.gz"
    home = Path(os.environ.get("SUANLI_HOME", Path.home() / ".suanli")) / "measurements"
    out = home / SETS[arg]
    stamp = home / f".{SETS[arg]}.from"
    mark = f"{src.stat().st_size}:{src.stat().st_mtime_ns}"
    if not out.exists() or not stamp.exists() or stamp.read_text() != mark:
        from suanli.schema.files import write_atomic

        home.mkdir(parents=True, exist_ok=True)
        write_atomic(out, gzip.decompress(src.read_bytes()))
        write_atomic(stamp, mark)
    return str(out)
