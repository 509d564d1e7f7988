"""Print one line per demo case: its verdict and the values a host would take (make demo)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(out: str, cases: list[str]) -> int:
    print()
    print(f"{'case':26s} {'verdict':24s} fitted values")
    for case in cases:
        p = Path(out) / case / "params.json"
        if not p.exists():
            print(f"{case:26s} {'(no result)':24s}")
            continue
        d = json.loads(p.read_text())
        vals = []
        for name, e in d["parameters"].items():
            if e.get("fitted"):
                v = e["value"]
                vals.append(f"{name}={v:.3g}" if not isinstance(v, list)
                            else f"{name}=[{', '.join(f'{x:.3g}' for x in v)}]")
        print(f"{case:26s} {d.get('verdict', {}).get('status', '-'):24s} {', '.join(vals)}")
        print(f"{'':26s} report: {Path(out) / case / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
