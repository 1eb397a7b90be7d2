"""Files a user gives or asks for: checked before any work starts, written so that nothing saved is lost.

`output_path` refuses a directory, a missing parent and (unless forced) an existing file in one line; `write_atomic`
writes a temporary file beside the target and renames it over, so a failed write leaves the old file whole;
`text_of` reads a text file or says in one line why it cannot (a directory, not UTF-8, too large).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from suanli.schema.errors import SuanliError

MAX_INPUT_BYTES = 256 * 1024 * 1024  # a measurement file, trace or config larger than this is refused


def output_path(path: str | Path, what: str, *, force: bool = True) -> Path:
    """The path to write `what` to, checked: its folder exists, it is not a folder, and (force=False) it does not
    exist yet."""
    p = Path(path)
    if p.is_dir():
        raise SuanliError(f"{what}: {str(p)!r} is a directory; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise SuanliError(f"{what}: the folder {str(parent)!r} does not exist; create it or give another path")
    if not force and p.exists():
        raise SuanliError(f"{what}: {str(p)!r} exists; give --force to replace it, or another path")
    return p


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Write `text` (or bytes) to `path` through a temporary file in the same folder and a rename: readers see the
    old file or the new one, never a part."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent if str(p.parent) else ".")
    try:
        with (os.fdopen(fd, "wb") if isinstance(text, bytes) else
              os.fdopen(fd, "w", encoding="utf-8", newline="")) as fh:
            fh.write(text)
        # a temporary file is private (0600); the result keeps the mode of the file it replaces, else 0644
        os.chmod(tmp, p.stat().st_mode & 0o777 if p.exists() else 0o644)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def text_of(path: str | Path, what: str) -> str:
    """The UTF-8 text of a file the user gave, or a one-line error naming why it cannot be read."""
    p = Path(path)
    if not p.exists():
        raise SuanliError(f"{what}: file {str(p)!r} not found")
    if p.is_dir():
        raise SuanliError(f"{what}: {str(p)!r} is a directory; give a file")
    size = p.stat().st_size
    if size > MAX_INPUT_BYTES:
        raise SuanliError(f"{what}: {p.name} is {size / 1e6:.0f} MB; at most {MAX_INPUT_BYTES / 1e6:.0f} MB")
    try:
        return p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise SuanliError(f"{what}: {p.name} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset "
                          f"{e.start}); save it as UTF-8 CSV") from None
    except OSError as e:
        raise SuanliError(f"{what}: {p.name} cannot be read ({e.strerror})") from None
