"""Check a configuration without running it, and say what would run (`sebcal validate`)."""

from __future__ import annotations

from typing import Any

from .estimate import (
    available_memory,
    calibration,
    figures_time,
    forward_run,
    gib,
    measured_calibration,
    time_run,
)
from .vocabulary import forcing_needed, soil_moisture_needed


def describe(config: Any, start_s: float | None = None) -> dict:
    """What the configuration would run: the grid, the time window, the forcing and its
    variables, the observations, the calibration (free parameters, starts, stages, windows),
    and estimates of memory and time. Reads the forcing and observation files' headers only
    as far as loading them takes (every file is opened and checked).

    Args:
        start_s: what starting the process cost [s] (the command line passes its own age, so
            that a calibration's estimate includes it; default estimate.START_S).

    Raises:
        SebcalError: whatever a run or calibration would raise at set-up.
    """
    import time

    from .observations import load_observations
    from .observations import windows as make_windows
    from .runner import forcing_for

    t0 = time.perf_counter()
    spec = config.spec
    forcing = forcing_for(config)
    obs = load_observations(config) if config.observations else []
    load_s = time.perf_counter() - t0
    out: dict[str, Any] = {
        "config": str(config.path) if config.path else None,
        "grid": {"nodes": int(spec.nz), "depth_m": float(spec.node_depths[-1]),
                 "top_m": float(spec.node_depths[0])},
        "time": {"start": str(forcing.time[0]) + "Z", "end": str(forcing.time[-1]) + "Z",
                 "steps": int(config.nt), "dt_s": float(config.dt)},
        "options": dict(config.options),
        "forcing": {"source": forcing.source, "variables": forcing_needed(config.options),
                    "soil_moisture": soil_moisture_needed(config.options),
                    "time": forcing.time_note or None},
        "observations": [{"label": o.label, "variable": o.variable, "depth_m": o.depth,
                          "fitted": bool(o.fit), "valid_values": int(o.valid.sum()),
                          "qc": (config.observations.get(o.label) or {}).get("qc", "observed"),
                          "source": o.source} for o in obs],
    }
    run_est = forward_run(spec, config.nt)
    out["run_estimate"] = {"memory": gib(run_est.memory), "time_s": run_est.seconds}
    cal = config.calibration
    if cal:
        win = make_windows(config)
        stages = cal.get("stages") or []
        free = list(cal.get("free") or [])
        starts = int(cal.get("starts", 50))
        est = calibration(spec, config.nt, starts, max(1, len(free)) * spec.nlayers,
                          len(obs), cal.get("method", "lm"))
        seconds, basis = est.seconds * max(1, len(stages)), "formula"
        if cal.get("method", "lm") == "lm" and forward_run(spec, config.nt).seconds < 5.0:
            # one forward run timed here: what the calibration repeats (docs/performance.md)
            from .fortran import simulate
            from .observations import prepare

            ready = prepare(config, forcing, obs)
            run_s = time_run(lambda: simulate(ready.spec, forcing, ready.params))
            if run_s is not None:
                priors = [bool(st.get("prior")) for st in stages] or [bool(cal.get("prior"))]
                seconds = measured_calibration(
                    run_s, load_s, starts, priors, bool(cal.get("baseline")),
                    **({} if start_s is None else {"start_s": start_s}))
                # the report's figures (`calibrate` draws them unless --no-figures)
                seconds += figures_time(len(obs), max(1, len(stages)))
                basis = f"one forward run timed here: {run_s * 1e3:.3g} ms"
        out["calibration"] = {
            "free": free, "starts": starts, "method": cal.get("method", "lm"),
            "stages": [{"name": s["name"], "free": list(s["free"])} for s in stages],
            "calibration_window": list(win.calibration_span),
            "evaluation_window": list(win.evaluation_span) if win.evaluation_span else None,
            "estimate": {"memory": gib(est.memory), "time_s": seconds, "time_basis": basis},
        }
    out["available_memory"] = gib(available_memory())
    return out


def text(d: dict) -> str:
    """The description as lines for the terminal."""
    from .estimate import duration

    t = d["time"]
    g = d["grid"]
    lines = [f"sebcal validate: {d['config'] or 'configuration'} is valid",
             f"  grid: {g['nodes']} nodes from {g['top_m']:g} to {g['depth_m']:g} m",
             f"  time: {t['steps']:,} steps of {t['dt_s']:g} s, {t['start']} .. {t['end']}",
             "  options: " + ", ".join(f"{k} = {v}" for k, v in d["options"].items()),
             f"  forcing: {d['forcing']['source']} ({', '.join(d['forcing']['variables'])}"
             + (", soil moisture" if d["forcing"]["soil_moisture"] else "") + ")"]
    if d["forcing"].get("time"):
        lines.append(f"  forcing times: {d['forcing']['time']}")
    for o in d["observations"]:
        depth = f" at {o['depth_m']:g} m" if o["depth_m"] is not None else ""
        lines.append(f"  observation {o['label']}: {o['variable']}{depth}, "
                     f"{o['valid_values']} values (qc {o['qc']}), "
                     f"{'fitted' if o['fitted'] else 'evaluated'}")
    r = d["run_estimate"]
    lines.append(f"  a run: about {r['memory']} of memory, {duration(r['time_s'])}")
    c = d.get("calibration")
    if c:
        stages = (" in stages " + ", ".join(f"{s['name']} ({', '.join(s['free'])})"
                                             for s in c["stages"])) if c["stages"] else ""
        lines.append(f"  calibration: {c['starts']} starts, free {', '.join(c['free'])}"
                     f"{stages}, {c['method']}")
        lines.append(f"    window {c['calibration_window'][0]} .. {c['calibration_window'][1]}"
                     + (f"; evaluation {c['evaluation_window'][0]} .. "
                        f"{c['evaluation_window'][1]}" if c["evaluation_window"] else
                        "; no evaluation window"))
        e = c["estimate"]
        lines.append(f"    estimate: about {e['memory']} of memory, {duration(e['time_s'])} "
                     f"(from {e.get('time_basis', 'the formula')}; within a factor of about two)")
    lines.append(f"  available memory: {d['available_memory']}")
    return "\n".join(lines)


__all__ = ["describe", "text"]
