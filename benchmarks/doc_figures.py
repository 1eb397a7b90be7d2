"""Regenerate the printed figures the docs quote, so they are never typed (issue 24).

A doc marks an output with a comment naming the command, followed by a fenced `text` block:

    <!-- output of: suanli isoperf --model llama-3.1-70b ... -->
    ```text
    ...what the command prints...
    ```

`python benchmarks/doc_figures.py` runs each marked command (from the repository root, 120 columns, no colour) and
rewrites its block; `--check` rewrites nothing and exits 1 listing the blocks that differ from what the code prints
now (tests/test_doc_examples.py runs it). Only commands whose output has no timings belong here.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = re.compile(r"<!-- output of: (suanli [^\n]*?) -->\n```text\n(.*?)```", re.S)


def output_of(command: str) -> str:
    exe = str(Path(sys.executable).parent / "suanli")
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"}
    r = subprocess.run([exe, *shlex.split(command)[1:]], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"`{command}` exited {r.returncode}: {r.stderr.strip()[-300:]}")
    return "\n".join(line.rstrip() for line in r.stdout.strip().splitlines()) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a quoted output is stale")
    args = ap.parse_args(argv)
    stale = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")

        def fresh(m: re.Match, name: str = doc.name) -> str:
            now = output_of(m.group(1))
            if now != m.group(2):
                stale.append(f"{name}: {m.group(1)}")
            return f"<!-- output of: {m.group(1)} -->\n```text\n{now}```"

        new = MARK.sub(fresh, text)
        if new != text and not args.check:
            doc.write_text(new, encoding="utf-8")
    for s in stale:
        print(("stale: " if args.check else "updated: ") + s)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
