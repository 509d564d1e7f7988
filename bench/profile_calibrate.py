"""Where the time of `sebcal calibrate` goes, end to end, in one fresh process.

Wall-clock timers around each phase (no profiler overhead): process start to the CLI's import,
reading (configuration, forcing, observations), the optimisation, the analysis (Hessian,
identifiability, verdict), the model run at the optimum, the NetCDF file, the report text and
the figures. The rest is the interpreter and what is not listed.

usage: python bench/profile_calibrate.py [CONFIG] [--json]
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPENT: dict[str, float] = defaultdict(float)


def _timed(module, name: str, phase: str) -> None:
    fn = getattr(module, name)

    def wrapper(*a, **kw):
        t = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            SPENT[phase] += time.perf_counter() - t
    setattr(module, name, wrapper)


def main(argv: list[str]) -> dict:
    config = next((a for a in argv if not a.startswith("--")),
                  str(ROOT / "examples" / "paper_synthetic_2depth.toml"))
    import sebcal.calibration.report as report
    import sebcal.calibration.run as run
    import sebcal.cli as cli

    t_import = time.perf_counter() - T0
    _timed(run, "load_config", "reading")
    _timed(run, "forcing_for", "reading")
    _timed(run, "load_observations", "reading")
    _timed(run, "_run_lm", "optimisation")
    _timed(run, "_run_torch", "optimisation")
    _timed(run, "_analyse", "analysis (Hessian, identifiability)")
    _timed(run, "assess", "analysis (Hessian, identifiability)")
    _timed(report, "_figures", "figures")
    _timed(report, "write_simulation", "NetCDF of the best run")
    _timed(report, "best_run", "model run at the optimum")
    _timed(report, "write_outputs", "report (text, JSON)")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        rc = cli.main(["calibrate", config, "--out", str(Path(tmp) / "cal"), "--no-progress"]
                      + (["--no-figures"] if "--no-figures" in argv else []))
        t_cli = time.perf_counter() - t
    if rc not in (0, 3):
        raise SystemExit(f"sebcal calibrate exited {rc}")
    total = time.perf_counter() - T0
    # write_outputs includes the figures, the NetCDF and the best run: keep its own part only
    SPENT["report (text, JSON)"] -= (SPENT["figures"] + SPENT["NetCDF of the best run"]
                                     + SPENT["model run at the optimum"])
    phases = {"interpreter start and imports": t_import, **SPENT}
    phases["other (CLI, windows, priors, ...)"] = t_cli - sum(SPENT.values())
    return {"config": config, "total_s": total, "phases": phases}


def markdown(r: dict) -> list[str]:
    lines = ["| phase | time | share |", "|---|---:|---:|"]
    for k, v in sorted(r["phases"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {k} | {v:.3f} s | {100 * v / r['total_s']:.0f} % |")
    lines.append(f"| **total (process start to exit)** | **{r['total_s']:.3f} s** | 100 % |")
    return lines


if __name__ == "__main__":
    res = main(sys.argv[1:])
    print(json.dumps(res) if "--json" in sys.argv else "\n".join(markdown(res)))
