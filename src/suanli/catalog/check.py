"""`python -m suanli.catalog.check`: load the whole catalog and list every figure that lacks a source."""

from __future__ import annotations

import sys

from suanli.catalog import catalog
from suanli.schema import SuanliError


def main() -> int:
    try:
        cat = catalog()
    except SuanliError as e:
        print(f"catalog error: {e}")
        return 2
    bad = 0
    for kind, table in (("chip", cat.chips), ("system", cat.systems)):
        for entry in table.values():
            for path in entry.uncited():
                print(f"uncited: {kind} {entry.id}: {path}")
                bad += 1
    print(f"{len(cat.chips)} chips, {len(cat.systems)} systems, {len(cat.models)} models; {bad} uncited figures")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
