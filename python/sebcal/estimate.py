"""What a run or a calibration will cost, before it starts: memory (refused with the number
when it will not fit) and a rough time.

The memory counts the arrays sebcal allocates (docs/performance.md measures them). The time of a
calibration is best estimated from one forward run of the configuration timed on this machine
(:func:`measured_calibration`, as `sebcal validate` does): within a factor 1.6 of the measured
time on every shipped example. Without such a run, the cost of the published run (0.12 ms
forward for 100 steps x 101 nodes on the reference machine) is scaled by steps x nodes and by
the options' costs, which compound badly for expensive option sets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SebcalError
from .vocabulary import NFLUX, NFORC, soil_moisture_needed

#: seconds per step per node of one forward run (reference machine, direct solver)
FORWARD_S = 0.12e-3 / (100 * 101)
#: the cost of each tangent relative to the forward run
TANGENT_RATIO = 0.9
#: options that cost more than the published model (bench/option_costs.py): option -> factor
OPTION_COST = {("stability", "most"): 2.2, ("soil_thermal", "johansen"): 7.0,
               ("init", "spinup"): 2.0, ("turbulence", "bulk"): 1.3,
               ("time_scheme", "crank_nicolson"): 1.2}
#: Levenberg-Marquardt iterations a calibration typically takes
LM_ITERATIONS = 15
#: a Levenberg-Marquardt calibration costs, per start and stage, this many times one forward
#: run of the configuration (its spin-up included): iterations, the probes and tangents of
#: each (cheap beside the run), starts that join another's basin and stop early. Calibrated
#: on the shipped examples' calibrations (docs/performance.md), where it puts every estimate
#: within a factor 1.6 of the measured time
RUNS_PER_START = 48.0
#: the MAP pass (with priors) relative to the first pass: it starts from converged points
MAP_PASS_SHARE = 0.25
#: the baseline fit of the published model relative to one stage
BASELINE_SHARE = 1.0
#: starting Python, numpy and torch and loading sebcal [s]
START_S = 0.5
#: the report's figures (matplotlib, drawn after the result files): importing and setting up
#: [s], and each observed series' panels per stage [s]; measured on the shipped examples
#: (two-depth 1.7 s, West Phoenix published 1.6 s, Dugout Ranch's two stages of 14 series
#: 9.2 s on 2 cores)
FIGURES_S = 1.0
FIGURES_PER_SERIES_S = 0.28
#: the share of the available memory a job may plan to use
MEMORY_SHARE = 0.8


@dataclass(frozen=True)
class Estimate:
    """Memory [bytes] and time [s] of a job, and what it is."""

    what: str
    memory: float
    seconds: float

    def text(self) -> str:
        return (f"{self.what}: about {gib(self.memory)} of memory and "
                f"{duration(self.seconds)}")


def gib(n: float) -> str:
    return f"{n / 2 ** 30:.2f} GiB" if n >= 2 ** 28 else f"{n / 2 ** 20:.0f} MiB"


def duration(s: float) -> str:
    if s < 1:
        return "under a second"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def available_memory() -> float:
    """Memory available to new allocations [bytes] (MemAvailable), or +inf when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def _cost_factor(options: dict[str, str]) -> float:
    f = 1.0
    for (key, value), factor in OPTION_COST.items():
        if options.get(key) == value:
            f *= factor
    return f


def forward_run(spec: Any, nt: int) -> Estimate:
    """One forward run of nt steps (sebcal run, a BMI instance)."""
    nz = int(spec.nz)
    levels = nt + 1
    theta = nz if soil_moisture_needed(spec.options) else 0
    # profiles and their copies (output, NetCDF), fluxes, forcing rows, soil moisture
    memory = 8.0 * levels * (3 * nz + 2 * NFLUX + NFORC + 2 * theta) + 200e6
    seconds = FORWARD_S * nt * nz * _cost_factor(spec.options)
    return Estimate(f"a run of {nt:,} steps x {nz} nodes", memory, seconds)


def calibration(spec: Any, nt: int, starts: int, free: int, nobs: int,
                method: str = "lm") -> Estimate:
    """A calibration of ``starts`` starts and ``free`` free coordinates."""
    nz = int(spec.nz)
    levels = nt + 1
    per_run = FORWARD_S * nt * nz * _cost_factor(spec.options)
    if method == "lm":
        probes = 2 * nobs + 1
        # probed temperatures and fluxes with their tangents, residuals and Jacobians, twice
        memory = 8.0 * starts * levels * (1 + free) * (probes + NFLUX + 2 * nobs) * 2 + 250e6
        seconds = per_run * (1 + TANGENT_RATIO * free) * starts * LM_ITERATIONS
    else:
        # the mirror stores the profiles of every level, with a few copies in the backward pass
        memory = 8.0 * starts * levels * nz * 6 + 400e6
        seconds = per_run * 40 * starts * 350
    return Estimate(f"a calibration of {starts} starts x {free} free parameters over "
                    f"{nt:,} steps x {nz} nodes", memory, seconds)


def measured_calibration(run_s: float, load_s: float, starts: int, stages: list[bool],
                         baseline: bool, start_s: float = START_S) -> float:
    """Time of a Levenberg-Marquardt calibration [s] from the measured time of one forward
    run ``run_s``, of loading its data ``load_s`` and of starting the process ``start_s``;
    ``stages`` holds, for each stage, whether it has priors (a MAP pass)."""
    passes = sum(1.0 + (MAP_PASS_SHARE if prior else 0.0) for prior in stages)
    return start_s + load_s + run_s * starts * RUNS_PER_START * (
        passes + (BASELINE_SHARE if baseline else 0.0))


def figures_time(series: int, stages: int = 1) -> float:
    """Seconds the report's figures take for ``series`` observed series in ``stages`` stages
    (each stage gets its own figures)."""
    return FIGURES_S + FIGURES_PER_SERIES_S * max(series, 1) * max(stages, 1)


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc), or None: in a fresh `sebcal`
    process, what starting Python and importing sebcal cost on this machine now."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = float(fields[19])               # field 22: starttime, clock ticks
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def time_run(run: Any, budget_s: float = 5.0, sample_s: float = 0.25) -> float | None:
    """Seconds one call of ``run()`` takes: the median of the calls made within ``sample_s``
    (at least one, at most 25; a median, not the best, so that a machine shared with other
    jobs is timed as the job will find it), or None when it fails. A run longer than
    ``budget_s`` is timed once."""
    import statistics
    import time

    times: list[float] = []
    t_start = time.perf_counter()
    while len(times) < 25:
        t0 = time.perf_counter()
        try:
            run()
        except Exception:  # noqa: BLE001 - an estimate only: the job itself will say why
            return None
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - t_start > sample_s or times[-1] > budget_s:
            break
    return statistics.median(times)


def check_memory(est: Estimate) -> None:
    """Refuse a job that will not fit in memory, saying how much it needs.

    Raises:
        SebcalError: the estimate exceeds MEMORY_SHARE of the available memory.
    """
    avail = available_memory()
    if est.memory > MEMORY_SHARE * avail:
        raise SebcalError(
            f"{est.what} needs about {gib(est.memory)} of memory, and {gib(avail)} is "
            "available: it would run out of memory. Use fewer nodes, steps or starts (a "
            "shorter window, a coarser grid), or a machine with more memory")


__all__ = ["Estimate", "available_memory", "calibration", "check_memory", "forward_run",
           "figures_time", "measured_calibration", "process_age", "time_run"]
