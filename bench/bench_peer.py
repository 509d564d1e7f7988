"""`sebcal calibrate` against the obvious alternative (bench/peer_scipy.py: scipy's
least_squares on sebcal's Fortran forward model), on the published two-depth problem.

Whole processes, interleaved (peer, sebcal, sebcal --no-figures, repeated), so that the noise of
this shared machine hits all alike; the medians are compared. Also, in this process: the cost
of one Fortran forward run, and from it the Gauss-Newton limit of the optimisation (10
iterations of one forward run plus one tangent per free parameter, for every start).

usage: python bench/bench_peer.py [--repeats N] [--json]
needs scipy (the peer's optimiser; not a sebcal dependency): pip install scipy
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "paper_synthetic_2depth.toml"
TRUTH = {"alpha": 0.2, "h_eff": 25.0, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0}
GN_ITERATIONS = 10


def _timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return wall, proc.stdout


def _sebcal(out: Path, figures: bool) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "sebcal.cli", "calibrate", str(CONFIG), "--out", str(out),
           "--force", "--no-progress"] + ([] if figures else ["--no-figures"])
    wall, _ = _timed(cmd)
    p = json.loads((out / "params.json").read_text())
    ok = [s for s in p["starts"] if not s["failed"]]
    within = sum(all(abs(s["final"][k] - v) <= 0.01 * abs(v) for k, v in TRUTH.items())
                 for s in ok)
    return wall, {"fit_s": p["fit"]["elapsed_s"], "within": within, "starts": len(p["starts"]),
                  "evaluations": p["fit"]["evaluations"], "runs": p["fit"]["runs"],
                  "iterations": p["fit"]["iterations"]}


def forward_cost(repeats: int = 200) -> float:
    """Median time of one Fortran forward run of the two-depth problem [s]."""
    from sebcal import fortran
    from sebcal.config import load_config
    from sebcal.runner import forcing_for

    config = load_config(CONFIG)
    forcing = forcing_for(config)
    params = config.full_params()
    fortran.simulate(config.spec, forcing, params)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fortran.simulate(config.spec, forcing, params)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(repeats: int = 3) -> dict:
    peer_wall, seb_wall, nofig_wall = [], [], []
    peer = seb = None
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(repeats):
            w, out = _timed([sys.executable, str(ROOT / "bench" / "peer_scipy.py"), str(CONFIG),
                             "--json"])
            peer_wall.append(w)
            peer = json.loads(out)
            w, seb = _sebcal(Path(tmp) / f"a{k}", figures=True)
            seb_wall.append(w)
            w, _ = _sebcal(Path(tmp) / f"b{k}", figures=False)
            nofig_wall.append(w)
    t_fwd = forward_cost()
    free = len(TRUTH)
    gn_limit = t_fwd * GN_ITERATIONS * (1 + free) * seb["starts"]
    med = statistics.median
    return {
        "peer_wall_s": med(peer_wall), "peer_fit_s": peer["fit_s"],
        "peer_within": peer["within_1pct"], "peer_starts": peer["starts"],
        "peer_forward_runs": peer["forward_runs"],
        "peer_fun_evals": peer["function_evaluations"],
        "peer_jac_evals": peer["jacobian_evaluations"],
        "sebcal_wall_s": med(seb_wall), "sebcal_nofig_wall_s": med(nofig_wall),
        "sebcal_fit_s": seb["fit_s"], "sebcal_within": seb["within"],
        "sebcal_starts": seb["starts"], "sebcal_evaluations": seb["evaluations"],
        "sebcal_runs": seb["runs"], "sebcal_iterations": seb["iterations"],
        "forward_s": t_fwd, "gn_limit_s": gn_limit,
        "ratio_end_to_end": med(peer_wall) / med(seb_wall),
        "ratio_end_to_end_nofig": med(peer_wall) / med(nofig_wall),
        "ratio_fit": peer["fit_s"] / seb["fit_s"],
        "fit_over_gn_limit": seb["fit_s"] / gn_limit,
        "repeats": repeats,
    }


def markdown(r: dict) -> list[str]:
    def yes(ok: bool) -> str:
        return "met" if ok else "**not met**"

    return [
        "## Against the obvious alternative: scipy + sebcal's Fortran",
        "",
        f"`python bench/bench_peer.py`: the published two-depth problem (5 free parameters, "
        f"{r['sebcal_starts']} starts), whole processes interleaved {r['repeats']} times, "
        "medians. The peer (`bench/peer_scipy.py`) is `scipy.optimize.least_squares` (trf, "
        "bounds, 2-point finite differences, xtol = ftol = gtol = 1e-10) on "
        "`sebcal.fortran.simulate`, from the same starts, on the same residuals.",
        "",
        "| | peer (scipy + Fortran) | `sebcal calibrate` | ratio (peer / sebcal) | target |",
        "|---|---:|---:|---:|---|",
        f"| process start to exit, with the report and figures | {r['peer_wall_s']:.2f} s | "
        f"{r['sebcal_wall_s']:.2f} s | {r['ratio_end_to_end']:.2f}x | >= 3x: "
        f"{yes(r['ratio_end_to_end'] >= 3)} |",
        f"| the same, `--no-figures` | {r['peer_wall_s']:.2f} s | "
        f"{r['sebcal_nofig_wall_s']:.2f} s | {r['ratio_end_to_end_nofig']:.2f}x | >= 3x: "
        f"{yes(r['ratio_end_to_end_nofig'] >= 3)} |",
        f"| the optimisation alone | {r['peer_fit_s']:.2f} s | {r['sebcal_fit_s']:.2f} s | "
        f"{r['ratio_fit']:.2f}x | |",
        f"| starts within 1 % of the truth in every parameter | {r['peer_within']} of "
        f"{r['peer_starts']} | {r['sebcal_within']} of {r['sebcal_starts']} | | every start: "
        f"{yes(r['sebcal_within'] == r['sebcal_starts'])} |",
        f"| model runs | {r['peer_forward_runs']} forward ({r['peer_fun_evals']} residual + "
        f"{r['peer_jac_evals']} finite-difference Jacobian evaluations) | {r['sebcal_runs']} "
        f"runs with 5 tangents each, in {r['sebcal_evaluations']} batched calls "
        f"({r['sebcal_iterations']} iterations) | | |",
        "",
        f"One Fortran forward run costs {1e3 * r['forward_s']:.3f} ms, so a converged "
        f"Gauss-Newton fit ({GN_ITERATIONS} iterations of one run plus 5 tangents, for each of "
        f"{r['sebcal_starts']} starts) costs {r['gn_limit_s']:.2f} s; sebcal's optimisation takes "
        f"{r['fit_over_gn_limit']:.1f}x that (target <= 5x: "
        f"{yes(r['fit_over_gn_limit'] <= 5)}).",
        "",
    ]


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res = run(a.repeats)
    print(json.dumps(res, indent=1) if a.json else "\n".join(markdown(res)))
