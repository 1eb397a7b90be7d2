import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _shared() -> Path:
    """The project's shared/ folder; without one (a fresh clone alone), a stand-in holding the measurement files
    the package ships (suanli.validate.bundled), so no test skips for want of data."""
    given = Path(os.environ.get("SUANLI_SHARED", ROOT.parent / "shared"))
    if (given / "groundtruth" / "public.csv").exists():
        return given
    import gzip
    import tempfile

    stand_in = Path(tempfile.mkdtemp(prefix="suanli-shared-"))
    gt = stand_in / "groundtruth"
    gt.mkdir()
    bundled = ROOT / "src" / "suanli" / "validate" / "measurements"
    for f in bundled.glob("*.csv.gz"):
        (gt / f.name[:-3]).write_bytes(gzip.decompress(f.read_bytes()))
    (gt / "README.md").write_text((bundled / "README.md").read_text())
    return stand_in


SHARED = _shared()


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the installed `suanli` command as a user would."""
    exe = shutil.which("suanli") or str(Path(sys.executable).parent / "suanli")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def cli():
    return run_cli


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory):
    """Tests never read or write the user's own catalog."""
    home = tmp_path_factory.mktemp("suanli_home")
    old = os.environ.get("SUANLI_HOME")
    os.environ["SUANLI_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("SUANLI_HOME", None)
    else:
        os.environ["SUANLI_HOME"] = old
