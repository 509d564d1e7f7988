"""How close `sebcal validate`'s time estimate comes to the measured calibration
(docs/performance.md).

For every shipped example with a [calibration] table: the estimate `sebcal validate --json`
prints (one forward run timed on this machine, sebcal.estimate.measured_calibration), then the
wall time of `sebcal calibrate` on the same machine right after it (a fresh process: starting
Python and loading the data count, as they do for a user). Prints a Markdown table with the
ratio estimate / measured. Usage: python bench/estimate_accuracy.py [EXAMPLE ...]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def examples(names: list[str]) -> list[Path]:
    paths = [ROOT / "examples" / f"{n}.toml" for n in names] if names else \
        sorted((ROOT / "examples").glob("*.toml"))
    return [p for p in paths if "calibration" in tomllib.loads(p.read_text())]


def run(names: list[str] | None = None) -> list[tuple[str, float, float]]:
    """(example, estimate [s], measured [s]) of every shipped example with a calibration."""
    rows = []
    for path in examples(list(names or [])):
        v = subprocess.run([sys.executable, "-m", "sebcal.cli", "validate", "--json", str(path)],
                           capture_output=True, text=True, check=True)
        est = json.loads(v.stdout)["calibration"]["estimate"]
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "sebcal.cli", "-q", "calibrate", str(path),
                            "--out", str(Path(d) / "cal"), "--no-progress"],
                           capture_output=True, text=True)
            wall = time.perf_counter() - t0
        rows.append((path.stem, float(est["time_s"]), wall))
        print(f"{path.stem}: estimate {est['time_s']:.1f} s, measured {wall:.1f} s", flush=True)
    return rows


def markdown(rows: list[tuple[str, float, float]]) -> list[str]:
    out = ["| example | estimate | measured | estimate / measured |", "|---|---:|---:|---:|"]
    out += [f"| {name} | {e:.1f} s | {w:.1f} s | {e / w:.2f} |" for name, e, w in rows]
    return out


def main() -> None:
    print("\n".join(["", *markdown(run(sys.argv[1:]))]))


if __name__ == "__main__":
    main()
