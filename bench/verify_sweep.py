"""`sebcal verify` over every shipped example x every combination of the options a user may
switch on any of them (solver, time scheme, initial state, bottom boundary, longwave), each
over its first 48 hours. A combination the config refuses (only the Jacobi iteration with
Crank-Nicolson) is listed as refused; every other one must pass. The test suite runs a few
drawn cases of the same sweep (tests/test_properties.py).

Usage: python bench/verify_sweep.py [EXAMPLE ...]   (exit status 1 when a case fails)
"""

from __future__ import annotations

import itertools
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "examples"

AXES = {"solver": ("direct", "jacobi"), "time_scheme": ("backward_euler", "crank_nicolson"),
        "init": ("uniform", "spinup"), "bottom": ("dirichlet", "zero_flux"),
        "longwave": ("paper", "kirchhoff")}


def config(example: str, choice: dict):
    from sebcal.config import parse_config

    d = tomllib.loads((EX / f"{example}.toml").read_text())
    d["time"].pop("steps", None)
    d["time"]["hours"] = 48
    d.pop("calibration", None)
    d.pop("observations", None)
    # a Dirichlet bottom or a uniform start uses T_b, which a config with a series bottom
    # and a given profile need not give
    d["parameters"].setdefault("T_b", 290.0)
    d.setdefault("solver", {}).update(method=choice["solver"], time_scheme=choice["time_scheme"])
    d.setdefault("physics", {}).update(bottom=choice["bottom"], longwave=choice["longwave"])
    # a spin-up may need more than the default 365 days on a deep column with a zero-flux
    # bottom (its slowest mode decays over months): give it the days it needs
    d["initial"] = {"kind": choice["init"], "spinup_max_cycles": 5000}
    return parse_config(d, path=EX / f"{example}.toml")


def main() -> int:
    from sebcal.errors import ConfigError
    from sebcal.verification import verify

    names = sys.argv[1:] or sorted(p.stem for p in EX.glob("*.toml")
                                   if "[multisite]" not in p.read_text())
    counts = {"passed": 0, "refused": 0, "FAILED": 0}
    for name in names:
        t0 = time.perf_counter()
        for values in itertools.product(*AXES.values()):
            choice = dict(zip(AXES, values))
            try:
                cfg = config(name, choice)
            except ConfigError as exc:
                state = "refused"
                detail = str(exc).split(": ", 1)[-1][:90]
            else:
                r = verify(cfg)
                state = "passed" if r["passed"] else "FAILED"
                bad = [k for k, g in r["gradients"].items() if not g["passed"]] + \
                    [k for k, v in r["max_abs_diff"].items() if not v["passed"]]
                detail = f"tol {r['solver']['tol_K']:g} K" + (f"; fails {bad}" if bad else "")
            counts[state] += 1
            if state != "passed":
                print(f"{name}: {choice}: {state} ({detail})", flush=True)
        print(f"{name}: done in {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"\n{counts['passed']} passed, {counts['refused']} refused by the config, "
          f"{counts['FAILED']} failed")
    return 1 if counts["FAILED"] else 0


if __name__ == "__main__":
    sys.exit(main())
