"""A half-hourly year at one site calibrates in minutes: `sebcal calibrate` on 17,520 steps.

The published column (1 m, 101 nodes) under the synthetic forcing at dt = 1800 s for 365
days; observations made by the scheme itself at the true parameters (surface temperature and
5 cm, as the two-depth experiment), so that the fit has a known answer. 20 starts of the five
published parameters, the default Levenberg-Marquardt, report and figures. Timed as a fresh
process, with its peak resident memory (the Fortran path stores only the probed nodes, so
memory does not grow with the number of nodes, and only linearly with the steps).

usage: python bench/year_calibration.py [--json]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TRUTH = {"alpha": 0.2, "h_eff": 25.0, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0}
NT = 17520
DT = 1800.0


def run() -> dict:
    from sebcal import fortran
    from sebcal.forcing import paper_synthetic
    from sebcal.params import Params
    from sebcal.spec import paper_spec

    spec = paper_spec(dt=DT)
    sim = fortran.simulate(spec, paper_synthetic(NT, DT), Params({**TRUTH, "eps": 0.95}))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.savetxt(tmp / "Ts.txt", sim.T[:, 0], fmt="%.10f")
        np.savetxt(tmp / "T5.txt", sim.T[:, 5], fmt="%.10f")
        (tmp / "year.toml").write_text(f"""
[grid]
depth = 1.0
nodes = 101
[time]
dt = {DT}
steps = {NT}
[parameters]
alpha = 0.2
eps = 0.95
lambda = 0.8
C = 2.2e6
T_b = 293.0
h_eff = 25.0
[forcing]
kind = "paper_synthetic"
[observations.Ts]
variable = "AvgSurfT"
file = "Ts.txt"
sigma = 0.1
[observations.T5]
variable = "SoilTemp"
depth = 0.05
file = "T5.txt"
sigma = 0.1
[calibration]
free = ["alpha", "h_eff", "lambda", "C", "T_b"]
starts = 20
seed = 0
""")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "sebcal.cli", "calibrate",
                               str(tmp / "year.toml"), "--out", str(tmp / "cal"),
                               "--no-progress"], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
        if proc.returncode not in (0, 3):
            raise SystemExit(proc.stdout + proc.stderr)
        p = json.loads((tmp / "cal" / "params.json").read_text())
    best = {k: v["value"] for k, v in p["parameters"].items() if v.get("fitted")}
    err = max(abs(best[k] - v) / abs(v) for k, v in TRUTH.items())
    return {"steps": NT, "dt": DT, "starts": p["fit"]["starts"], "wall_s": wall,
            "fit_s": p["fit"]["elapsed_s"], "peak_rss_mib": peak,
            "iterations": p["fit"]["iterations"], "runs": p["fit"]["runs"],
            "max_relative_error": err, "verdict": p["verdict"]["status"]}


def markdown(r: dict) -> list[str]:
    return [f"| half-hourly year ({r['steps']:,} steps, 101 nodes), {r['starts']} starts, 5 "
            f"parameters, report and figures | {r['wall_s']:.0f} s ({r['fit_s']:.0f} s "
            f"optimising, {r['iterations']} iterations) | {r['peak_rss_mib']:.0f} MiB | "
            f"{100 * r['max_relative_error']:.2g} % |"]


if __name__ == "__main__":
    res = run()
    print(json.dumps(res) if "--json" in sys.argv else "\n".join(markdown(res)))
