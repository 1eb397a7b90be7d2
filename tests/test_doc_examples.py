"""Docs that cannot drift (issue 24): every complete `suanli ...` command in README.md and docs/*.md runs and exits 0.

Commands come from fenced shell blocks (continuation lines joined, trailing comments dropped) and from inline code
spans. A fragment (`...`, a placeholder such as FILE or path/to, alternatives in brackets) is not a command and is
left out; so are commands that need what CI has not (a GPU) or that run a server (the browser tests start it).
Each document's commands run in order in one scratch folder (a later one may use what an earlier one saved), beside
a `shared/` link to the ground-truth files, with `mine.csv`, `other.csv` and `ops.csv` there as the docs assume.
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ROOT, SHARED

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_HERE = {  # pattern -> why the command is not run here
    r"^suanli web\b": "starts a server (tests/test_web_browser.py runs it)",
    r"--device cuda": "needs a GPU",
    r"--data public\.csv,.*--loso": "the 25-minute refit of the bundled file (its fenced form runs, without --loso)",
}
NEEDS_TORCH = (r"^suanli (probe|run)\b", r"--from-probe", r"local-cpu")
PLACEHOLDER = re.compile(r"\.\.\.|\bpath/to\b|\[|\||\b(FILE|M|N|K|CHIP|USD)\b|/$")


def commands(doc: Path) -> list[str]:
    text = doc.read_text(encoding="utf-8")
    found = []
    for lang, block in re.findall(r"```(\w*)\n(.*?)```", text, re.S):  # every fence, whatever its language
        if lang not in ("", "bash", "sh", "console"):
            continue
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("suanli "):
                found.append(re.sub(r"\s+", " ", line))
    # inline code: only whole commands (an option with its value), not prose naming a command or a switch
    found += [c for c in (re.sub(r"\s+", " ", s) for s in re.findall(r"`(suanli [^`]+)`", text))
              if re.search(r"--[\w-]+ [^-\s]", c)]
    out = []
    for c in found:
        if PLACEHOLDER.search(c) or any(re.search(p, c) for p in NOT_HERE) or c in out:
            continue
        out.append(c)
    return out


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    root = tmp_path_factory.mktemp("docs")
    (root / "shared").symlink_to(SHARED.resolve())
    work = root / "work"
    work.mkdir()
    gt = SHARED / "groundtruth"
    rows = list(csv.DictReader((gt / "edge_cn.csv").open()))
    for name, part in (("mine.csv", rows[::2]), ("other.csv", rows[1::2])):
        with (work / name).open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=rows[0].keys())
            w.writeheader()
            w.writerows(part)
    (work / "ops.csv").write_text((gt / "ops.csv").read_text())
    (work / "benchmarks").symlink_to(ROOT / "benchmarks")  # paths the docs give from the repository's root
    return work


def _run(doc: Path, cmds: list[str], work: Path, env: dict) -> list[str]:
    exe = str(Path(sys.executable).parent / "suanli")
    failures = []
    for c in cmds:
        args = shlex.split(c.replace("$G", "../shared/groundtruth"))
        r = subprocess.run([exe, *args[1:]], cwd=work, env=env, capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["(no stderr)"])[-1]
            failures.append(f"{doc.name}: `{c}` exited {r.returncode}: {last}")
    return failures


def test_every_doc_example_runs(scratch, tmp_path):
    if not (SHARED / "groundtruth" / "public.csv").exists():
        pytest.skip("the shared ground-truth files are not beside the repository")
    env = {**os.environ, "SUANLI_HOME": str(tmp_path / "home")}
    torch = _has_torch()
    jobs = []
    for doc in DOCS:
        cmds = [c for c in commands(doc) if torch or not any(re.search(p, c) for p in NEEDS_TORCH)]
        if cmds:
            jobs.append((doc, cmds))
    assert sum(len(c) for _, c in jobs) >= 25, jobs
    with ThreadPoolExecutor(max_workers=2) as pool:  # documents side by side, each one's commands in order
        failures = [f for fs in pool.map(lambda j: _run(j[0], j[1], scratch, env), jobs) for f in fs]
    assert not failures, "\n".join(failures)


def test_fragments_are_not_taken_for_commands():
    doc = ROOT / "README.md"
    cmds = commands(doc)
    assert any(c.startswith("suanli predict --model llama-3.1-70b") for c in cmds)
    assert not any("..." in c for c in cmds)


def test_quoted_outputs_are_current():
    """Outputs the docs quote are what the code prints now (`python benchmarks/doc_figures.py` regenerates them)."""
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "doc_figures.py"), "--check"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "output of: suanli" in (ROOT / "docs" / "econ.md").read_text()
