"""How the Fortran batch (the calibration's engine) scales: B columns of the published model
(101 nodes, hourly steps of the synthetic forcing), each with its own parameters, forward only
and forward with the exact tangents of 5 parameters (alpha, h_eff, lambda, C, T_b: the
gradient of any loss, and the Jacobian the Levenberg-Marquardt fit uses), returning the
temperature at the surface and at 5 cm.

The columns of a batch are shared among OpenMP threads (SEBCAL_NUM_THREADS; default every CPU).

usage: python bench/fortran_batch.py B NT [REPEATS]   (one JSON line; peak RSS of the process)
       python bench/fortran_batch.py --table           (the cases of docs/performance.md, each
                                                         in a fresh process)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: (columns, steps, threads): None = the default (SEBCAL_NUM_THREADS, else every CPU)
CASES = [(1, 100, None), (10, 100, None), (100, 100, None), (1000, 100, 1), (1000, 100, None),
         (10000, 100, 1), (10000, 100, None), (10, 1000, None), (10, 17520, None),
         (100, 17520, None)]


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def case(B: int, nt: int, repeats: int = 3) -> dict:
    from sebcal import fortran
    from sebcal.forcing import paper_synthetic
    from sebcal.params import Params
    from sebcal.spec import paper_spec
    from sebcal.vocabulary import NPSOIL, NPSURF, PARAMETERS

    spec = paper_spec()
    f = paper_synthetic(nt, 3600.0)
    rng = np.random.default_rng(0)
    base = spec.check_params(Params({"alpha": 0.2, "eps": 0.95, "lambda": 0.8, "C": 2.2e6,
                                     "T_b": 293.0, "h_eff": 25.0}))
    ps = np.repeat(spec.psurf(base)[None], B, axis=0)
    so = np.repeat(np.asarray(spec.psoil(base))[None], B, axis=0)
    u = rng.random((B, 5))
    ps[:, PARAMETERS["alpha"].slot - 1] = 0.05 + 0.45 * u[:, 0]
    ps[:, PARAMETERS["h_eff"].slot - 1] = 6.45 + 24 * u[:, 1]
    so[:, PARAMETERS["lambda"].slot - 1] = (0.47 + 0.33 * u[:, 2])[:, None]
    so[:, PARAMETERS["C"].slot - 1] = (2e6 + 0.5e6 * u[:, 3])[:, None]
    ps[:, PARAMETERS["T_b"].slot - 1] = 290 + 13 * u[:, 4]
    ti = np.repeat(ps[:, PARAMETERS["T_b"].slot - 1][:, None], spec.nz, axis=1)
    dps = np.zeros((B, 5, NPSURF))
    dso = np.zeros((B, 5, NPSOIL, spec.nz))
    dti = np.zeros((B, 5, spec.nz))
    for k, name in enumerate(("alpha", "h_eff", "lambda", "C", "T_b")):
        p = PARAMETERS[name]
        if p.group == "soil":
            dso[:, k, p.slot - 1] = 1.0
        else:
            dps[:, k, p.slot - 1] = 1.0
    dti[:, 4] = 1.0
    probes = [0, 5]
    fwd, tan = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a = fortran.probe_batch(spec, f, ps, so, ti, probes)
        fwd.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = fortran.probe_batch(spec, f, ps, so, ti, probes, (dps, dso, dti))
        tan.append(time.perf_counter() - t0)
    ok = bool((a.errflg == 0).all() and (b.errflg == 0).all() and np.isfinite(b.dT).all())
    med = statistics.median
    return {"B": B, "nt": nt, "nz": spec.nz, "forward_s": med(fwd), "tangents_s": med(tan),
            "forward_per_column_ms": 1e3 * med(fwd) / B,
            "tangents_per_column_ms": 1e3 * med(tan) / B, "peak_rss_mib": peak_rss_mib(),
            "ok": ok, "repeats": repeats, "threads": min(fortran.threads(), B)}


def table() -> list[dict]:
    rows = []
    for B, nt, threads in CASES:
        reps = 3 if B * nt <= 1_000_000 else 1
        env = {**os.environ, **({"SEBCAL_NUM_THREADS": str(threads)} if threads else {})}
        out = subprocess.run([sys.executable, str(HERE / "fortran_batch.py"), str(B), str(nt),
                              str(reps)], capture_output=True, text=True, check=True, env=env)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"B {B:6d} nt {nt:6d}: forward {r['forward_s']:.3f} s, with 5 tangents "
              f"{r['tangents_s']:.3f} s, peak {r['peak_rss_mib']:.0f} MiB", flush=True)
    return rows


def markdown(rows: list[dict]) -> list[str]:
    out = ["| columns B | steps | nodes | threads | forward [s] | per column [ms] | forward + 5 "
           "tangents [s] | per column [ms] | peak RSS [MiB] |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['B']} | {r['nt']} | {r['nz']} | {r['threads']} | {r['forward_s']:.3f} | "
                   f"{r['forward_per_column_ms']:.3f} | {r['tangents_s']:.3f} | "
                   f"{r['tangents_per_column_ms']:.3f} | {r['peak_rss_mib']:.0f} |")
    return out


if __name__ == "__main__":
    if "--table" in sys.argv:
        print("\n".join(markdown(table())))
    else:
        a = sys.argv[1:]
        print(json.dumps(case(int(a[0]), int(a[1]), int(a[2]) if len(a) > 2 else 3)))
