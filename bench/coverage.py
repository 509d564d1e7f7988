"""Coverage of sebcal's error bars: how often do the nominal 68 % and 95 % intervals contain the
truth?

Synthetic truth: the two-depth experiment (examples/paper_synthetic_2depth.toml: surface and
5 cm temperature, alpha, h_eff, lambda, C and T_b free) run by the scheme at the published true
parameters, observed with noise of sigma = 0.1 K, many replicates. Cases:

* ``white``: independent noise, the fitted model made the data (no model error);
* ``ar1``: AR(1) noise with lag-1 correlation 0.8 (autocorrelated residuals, no model error):
  what the N_eff widening of the error bars is for;
* ``model-error``: the data made by a richer option set (bulk transfer with Monin-Obukhov
  stability, wind 3 m s-1, z0m 0.05 m) than the one fitted (the published h_eff model); the
  truth of the soil parameters (lambda, C), alpha and T_b is still defined, h_eff's is not.

For each replicate: the Laplace intervals (best ± z std) and, on the first ``--posterior``
replicates, the emcee posterior's central intervals.

    python bench/coverage.py [--replicates 200] [--posterior 40] [--steps 300] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "paper_synthetic_2depth.toml"
TRUTH = {"alpha": 0.2, "h_eff": 25.0, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0}
Z = {0.68: 0.994458, 0.95: 1.959964}


def truth_run(case: str):
    from sebcal.config import parse_config
    from sebcal.runner import run

    d = tomllib.loads(EXAMPLE.read_text())
    d["calibration"].pop("published")
    if case == "model-error":
        d["physics"] = {"turbulence": "bulk", "stability": "most"}
        d["forcing"].update(wind=3.0, psurf=1.0e5, qair=0.008)
        d["parameters"].update(z0m=0.05, z0h_ratio=0.1)
        del d["parameters"]["h_eff"]
        d["site"] = {"measurement_height": 2.0}
    res = run(parse_config(d, path=EXAMPLE))
    k5 = int(np.argmin(abs(res.z - 0.05)))
    return res.T[:, 0], res.T[:, k5]


def noise(rng, n: int, case: str) -> np.ndarray:
    e = rng.normal(0.0, 0.1, n)
    if case != "ar1":
        return e
    rho = 0.8
    x = np.empty(n)
    x[0] = e[0]
    for i in range(1, n):                 # stationary AR(1) with marginal sd 0.1
        x[i] = rho * x[i - 1] + np.sqrt(1 - rho ** 2) * e[i]
    return x


def replicate(ts, t5, rng, case, folder: Path, posterior_steps: int | None):
    from sebcal.calibration import calibrate
    from sebcal.config import parse_config

    d = tomllib.loads(EXAMPLE.read_text())
    d["calibration"].pop("published")
    obs = {}
    for name, series, extra in (("Ts", ts, {"variable": "AvgSurfT"}),
                                ("T5", t5, {"variable": "SoilTemp", "depth": 0.05})):
        f = folder / f"{name}.txt"
        f.write_text("\n".join(f"{v:.8f}" for v in series + noise(rng, len(series), case)))
        obs[name] = {**extra, "file": str(f), "sigma": 0.1}
    d["observations"] = obs
    d["calibration"].update(starts=6, seed=int(rng.integers(1 << 30)))
    if posterior_steps:
        d["calibration"].update(posterior="emcee", posterior_steps=posterior_steps)
    res = calibrate(parse_config(d, path=EXAMPLE), None, progress=False, figures=False,
                    log=lambda *_: None)
    out = {"laplace": {}, "posterior": {}}
    for name, truth in TRUTH.items():
        e = res.params["parameters"][name]
        out["laplace"][name] = {lv: bool(abs(e["value"] - truth) <= z * e["std"])
                                for lv, z in Z.items()} if e["std"] else None
        if res.posterior is not None:
            s = res.posterior.samples[name]
            out["posterior"][name] = {lv: bool(np.quantile(s, (1 - lv) / 2) <= truth
                                               <= np.quantile(s, (1 + lv) / 2)) for lv in Z}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--posterior", type=int, default=40, help="replicates also sampled")
    ap.add_argument("--steps", type=int, default=300, help="emcee steps per walker")
    ap.add_argument("--cases", default="white,ar1,model-error")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    import tempfile

    table = {}
    for case in args.cases.split(","):
        ts, t5 = truth_run(case)
        rng = np.random.default_rng(12345)
        rows = []
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.replicates):
                rows.append(replicate(ts, t5, rng, case, Path(tmp),
                                      args.steps if r < args.posterior else None))
        cov = {}
        for kind in ("laplace", "posterior"):
            cov[kind] = {}
            for name in TRUTH:
                hits = [row[kind][name] for row in rows if row[kind].get(name)]
                if hits:
                    cov[kind][name] = {str(lv): float(np.mean([h[lv] for h in hits]))
                                       for lv in Z} | {"n": len(hits)}
        table[case] = {"coverage": cov, "seconds": time.perf_counter() - t0}
        print(f"\n{case}: {args.replicates} replicates ({args.posterior} sampled) in "
              f"{time.perf_counter() - t0:.0f} s")
        print(f"  {'parameter':<8} {'Laplace 68%':>12} {'Laplace 95%':>12} "
              f"{'posterior 68%':>14} {'posterior 95%':>14}")
        for name in TRUTH:
            lp = cov["laplace"].get(name, {})
            po = cov["posterior"].get(name, {})
            f = (lambda d, lv: f"{d[str(lv)] * 100:.0f} %" if d else "-")   # noqa: E731
            print(f"  {name:<8} {f(lp, 0.68):>12} {f(lp, 0.95):>12} {f(po, 0.68):>14} "
                  f"{f(po, 0.95):>14}")
        sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
