"""Command-line interface: ``sebcal run | verify | ...``. Thin wrappers over the API."""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import Interrupted, SebcalError


def _cmd_run(args: argparse.Namespace) -> int:
    from .config import load_config
    from .runner import run, write_run

    config = load_config(args.config)
    if getattr(args, "parameters", None):
        config = _with_parameters(config, Path(args.parameters))
    out = Path(args.out)
    if out.is_dir():
        raise SebcalError(f"--out {out} is a folder; give the name of the NetCDF file to write")
    if out.resolve() in config.input_files():
        raise SebcalError(f"--out {out} is an input of this run; choose another file")
    if out.exists() and not args.force:
        raise SebcalError(f"output file {out} exists; pass --force to overwrite it")
    if args.params is not None:
        return _run_with_params(args, config, out)
    result = run(config, backend=args.backend)
    write_run(result, config, out)
    if getattr(args, "equivalents", None):
        from .calibration.interop import equivalents_text
        from .output import write_text

        write_text(Path(args.equivalents), equivalents_text(config, result))
    Ts = result.T[:, 0]
    if args.json:
        print(json.dumps({"out": str(out), "steps": config.nt, "dt_s": config.dt,
                          "nodes": len(result.z), "backend": args.backend,
                          "surface_temperature_K": [float(Ts.min()), float(Ts.max())],
                          "Qg_W_m2": [float(result.fluxes["Qg"].min()),
                                      float(result.fluxes["Qg"].max())]}))
        return 0
    print(f"sebcal run: {config.nt} steps of {config.dt:g} s, {len(result.z)} nodes, "
          f"{config.solver} solver, {args.backend} backend")
    print(f"  surface temperature {Ts.min():.2f} .. {Ts.max():.2f} K; "
          f"Qg {result.fluxes['Qg'].min():.1f} .. {result.fluxes['Qg'].max():.1f} W m-2")
    print(f"  wrote {out}")
    return 0


def _finite(x):
    """JSON-ready: NaN and infinities as null (JSON has no NaN), tuples as lists."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _run_with_params(args: argparse.Namespace, config, out: Path) -> int:
    """`sebcal run CONFIG --params PARAMS.json`: predict with calibrated values and score."""
    from .calibration.predict import format_skill, predict, skill_rows
    from .output import write_simulation, write_text

    if args.backend != "fortran":
        raise SebcalError("--params runs the reference Fortran scheme (the calibration's own "
                          "model); leave out --backend")
    skill_out = out.with_name(out.stem + "_skill.csv")
    if skill_out.exists() and not args.force:
        raise SebcalError(f"output file {skill_out} exists; pass --force to overwrite it")
    pred = predict(config, args.params)
    sim, obs = pred.sim, pred.observations
    rows = skill_rows(pred)
    write_simulation(out, pred.forcing.time, sim.z, sim.T, sim.fluxes,
                     config=pred.config.to_dict(),
                     title=f"sebcal prediction with the parameters of {args.params}",
                     extra={f"obs_{o.label}": o.values for o in obs},
                     attrs={f"obs_{o.label}": {"long_name": f"observed {o.describe()}",
                                               "units": o.units, "source": o.source}
                            for o in obs},
                     site=pred.config.site)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["window"],
                       lineterminator="\n")
    w.writeheader()
    w.writerows({k: (f"{v:.10g}" if isinstance(v, float) else v) for k, v in r.items()}
                for r in rows)
    write_text(skill_out, buf.getvalue())
    if args.json:
        print(json.dumps(_finite({"out": str(out), "skill": str(skill_out),
                                  "applied": pred.applied, "ignored": pred.ignored,
                                  "option_changes": pred.option_changes,
                                  "metrics": pred.metrics})))
        return 0
    vals = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                     for k, v in pred.applied.items())
    print(f"sebcal run with the calibrated parameters of {args.params}: {vals}")
    if pred.ignored:
        print(f"  not used by this configuration's options: {', '.join(pred.ignored)}")
    for k, (a, b) in pred.option_changes.items():
        print(f"  note: calibrated with {k} = \"{a}\", this run uses \"{b}\"")
    print(format_skill(pred))
    print(f"  wrote {out} and {skill_out}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from .calibration.compare import compare, format_comparison

    cmp = compare(args.configs, starts=args.starts, folds=args.folds, log=LOG.info)
    if args.json:
        print(json.dumps(_finite({
            "window": cmp.window, "series": cmp.series, "why": cmp.why,
            "benchmark_score": cmp.benchmark_score, "benchmark": cmp.benchmark,
            "ranked_by": cmp.ranked_by, "folds": cmp.folds,
            "ranked": [{"config": c.name, "free": c.free, "score": c.score,
                        "cv_score": c.cv_score, "fold_scores": c.folds,
                        "calibration_score": c.calibration_score, "aic": c.aic, "bic": c.bic,
                        "verdict": c.verdict} for c in cmp.ranked],
            "per_series": cmp.per_series})))
    else:
        print(format_comparison(cmp))
    return 0


def _with_parameters(config, path: Path):
    """The configuration with the values of a TOML file's [parameters] table (what PEST++
    writes from its template) in place of its own."""
    import tomllib

    from .config import parse_config

    try:
        table = tomllib.loads(path.read_text())
    except OSError as exc:
        raise SebcalError(f"--parameters {path}: cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SebcalError(f"--parameters {path}: not valid TOML ({exc})") from None
    if set(table) != {"parameters"}:
        raise SebcalError(f"--parameters {path}: give one [parameters] table (found "
                          f"{', '.join(table) or 'nothing'})")
    d = config.to_dict()
    d.setdefault("parameters", {}).update(table["parameters"])
    return parse_config(d, path=config.path)


def _cmd_pest(args: argparse.Namespace) -> int:
    from .calibration.interop import write_pest

    files = write_pest(args.config, args.out, command=args.command)
    print(f"sebcal pest: PEST++ files in {args.out}: " + ", ".join(p.name for p in
                                                                  files.values()))
    print(f"  run: cd {args.out} && pestpp-glm sebcal.pst")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from .config import load_config
    from .verification import format_table, verify

    result = verify(load_config(args.config))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
    return 0 if result["passed"] else 1


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibration import calibrate

    config = args.config
    if args.seed is not None:
        from .config import load_config, parse_config

        cfg = load_config(args.config)
        d = cfg.to_dict()
        d.setdefault("calibration", {})["seed"] = args.seed
        config = parse_config(d, path=cfg.path)
    progress = not args.no_progress and sys.stderr.isatty() and not args.json
    res = calibrate(config, args.out, resume=args.resume, progress=progress,
                    starts=args.starts, force=args.force, figures=not args.no_figures,
                    log=LOG.info)
    p = res.params
    f = p["fit"]
    if args.json:
        print(json.dumps({"out": str(args.out), "verdict": p.get("verdict"),
                          "parameters": {k: {"value": v.get("value"), "std": v.get("std"),
                                             "unit": v.get("unit")}
                                         for k, v in p["parameters"].items() if v.get("fitted")},
                          "loss": f["loss"], "starts": f["starts"],
                          "failed_starts": res.failed, "elapsed_s": f["elapsed_s"],
                          "exit_status": res.exit_status}, default=str))
        return res.exit_status
    print(f"sebcal calibrate: best of {f['starts']} starts ({res.failed} failed), loss "
          f"{f['loss']:.4g}, {f['elapsed_s']:.1f} s")
    for name, v in p["parameters"].items():
        if v.get("fitted"):
            vals = v["value"] if isinstance(v["value"], list) else [v["value"]]
            stds = v["std"] if isinstance(v["std"], list) else [v["std"]]
            for k, (x, s) in enumerate(zip(vals, stds)):
                label = name if len(vals) == 1 else f"{name}[layer {k + 1}]"
                std = "–" if s is None else f"{s:.3g}"
                print(f"  {label:10s} = {x:.6g} ± {std} {v['unit']}")
    if p.get("verdict"):
        print(f"  verdict: {p['verdict']['status']}")
        for r in p["verdict"]["reasons"]:
            print(f"    - {r}")
        for r in p["verdict"].get("notes", []):
            print(f"    (note) {r}")
    print(f"  identifiability: {p['identifiability'].get('summary', '')}")
    print(f"  report: {Path(args.out) / 'report.md'}")
    return res.exit_status


def _cmd_calibrate_sites(args: argparse.Namespace) -> int:
    from .calibration.multisite import calibrate_sites, load_multisite, summary_lines, write_results

    ms = load_multisite(args.multisite)
    import dataclasses

    from .output import keep_or_force, output_set

    out = Path(args.out)
    keep_or_force([out / "sites.json", out / "sites.nc"], args.force)

    if args.starts is not None:
        ms = dataclasses.replace(ms, starts=args.starts)
    if args.seed is not None:
        ms = dataclasses.replace(ms, seed=args.seed)
    groups = ms.groups()
    client = cluster = None
    if args.dask:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SebcalError("--dask needs dask.distributed: pip install 'sebcal[dask]'") from None
        if args.dask == "local":
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)
        else:
            client = Client(args.dask)
    engine = f"Dask ({client.dashboard_link or args.dask})" if client else "this process"
    print(f"sebcal calibrate-sites: {len(ms.sites)} sites in {len(groups)} group(s), "
          f"{ms.starts} starts each, on {engine}")
    try:
        result = calibrate_sites(ms, client, progress=None if args.json else print)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    with output_set(out, last=("sites.json",)) as stage:
        write_results(result, stage)
    jpath, npath = out / "sites.json", out / "sites.nc"
    if args.json:
        print(jpath.read_text())
    else:
        print("\n".join(summary_lines(result)))
        print(f"  wrote {jpath} and {npath}")
    failed = result.failed_sites
    if failed:
        print(f"sebcal calibrate-sites: {len(failed)} site(s) failed: {', '.join(failed)} "
              "(the others' results are written)", file=sys.stderr)
        return 4
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .bridge import export

    options = {}
    for opt in args.option or []:
        key, sep, value = opt.partition("=")
        if not sep or not key.strip():
            raise SebcalError(f"--option {opt!r}: write KEY=VALUE, e.g. --option soil_type=3")
        options[key.strip()] = value.strip()
    res = export(args.params, args.host, args.out, template=args.template, force=args.force,
                 options=options, allow_implausible=args.allow_implausible,
                 include_fixed=args.include_fixed, acknowledge=args.acknowledge or [],
                 stage=args.stage,
                 only=None if args.only is None else args.only.split(","))
    if args.json:
        print(json.dumps({"host": res.host, "version": res.version,
                          "files": [str(p) for p in res.paths],
                          "written": [{"entry": it.where, "old": it.old, "new": it.new,
                                       "parameter": it.row.param, "fitted": it.fitted,
                                       "kind": it.row.kind} for it in res.items],
                          "not_written": res.skipped, "warnings": res.warnings,
                          "host_computes": res.equivalence}, indent=2,
                         default=str))
        return 0
    print(f"sebcal export: {res.host} ({res.version}) -> "
          f"{', '.join(str(p) for p in res.paths)}"
          + (f" (templates {', '.join(str(t) for t in res.templates)}: only the entries below "
             "changed)" if res.templates else ""))
    for line in res.summary():
        print(f"  {line}")
    for w in res.warnings:
        print(f"sebcal export: warning: {w}", file=sys.stderr)
    return 0


def _cmd_transfer(args: argparse.Namespace) -> int:
    from .bridge import transfer
    from .output import keep_or_force

    folder = Path(args.out) if args.out else Path(args.params).parent
    keep_or_force([folder / "transfer.md"], args.force)
    res = transfer(args.params, args.grid, out_dir=args.out, placement=args.nodes)
    if args.json:
        print(json.dumps({"description": res.description, "host_z": list(map(float, res.host_z)),
                          "report": str(res.report) if res.report else None}))
        return 0
    print(f"sebcal transfer: {res.description}")
    print(f"  node depths {', '.join(f'{z:g}' for z in res.host_z)} m; Dirichlet bottom at "
          f"{res.host_z[-1]:g} m (fitted at {res.fine_z[-1]:g} m)")
    print(res.table())
    print(f"  report: {res.report}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .config import load_config
    from .estimate import process_age
    from .validation import describe, text

    # this process's age: what starting Python and sebcal costs a calibration here and now
    d = describe(load_config(args.config), start_s=process_age())
    print(json.dumps(d, default=str) if args.json else text(d))
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    if args.what == "config":
        from .config import json_schema
        schema = json_schema()
    else:
        from .paramsfile import json_schema as params_schema
        schema = params_schema()
    text = json.dumps(schema, indent=2) + "\n"
    if args.out:
        from .output import keep_or_force, write_text
        keep_or_force([args.out], args.force)
        write_text(Path(args.out), text)
        print(f"sebcal schema: wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sebcal",
        description="Calibrate soil-thermal and surface-energy-balance parameters of land-surface "
                    "models from flux-tower observations.",
        epilog="Documentation: docs/ in the source tree (theory, config, forcing, fortran).")
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more messages (progress lines, details); -vv for debugging")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="forward run of the scheme, written as CF/ALMA NetCDF",
                       description="Run the soil/SEB scheme as CONFIG says and write a "
                                   "NetCDF file.")
    p.add_argument("config", help="run configuration (TOML); see docs/config.md")
    p.add_argument("--out", required=True, help="output NetCDF file")
    p.add_argument("--backend", choices=("fortran", "torch"), default="fortran",
                   help="reference Fortran scheme (default) or the PyTorch mirror")
    p.add_argument("--params", metavar="PARAMS.json", default=None,
                   help="run with the fitted values of a calibration (its params.json) and "
                        "score the run on CONFIG's observations: prediction to another "
                        "period, site or grid; also writes OUT's stem + _skill.csv")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--parameters", metavar="FILE",
                   help="a TOML file whose [parameters] table replaces the config's values "
                        "(PEST++ writes it from its template; `sebcal pest`)")
    p.add_argument("--equivalents", metavar="FILE",
                   help="also write the model's equivalents of the fitted observations in the "
                        "calibration window, one 'name value' line each (`sebcal pest`)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("compare", help="fit several option sets to the same observations and "
                                       "rank them on the evaluation window",
                       description="Calibrate each CONFIG on its calibration window (in memory) "
                                   "and rank them on the series they all observe, by mean "
                                   "RMSE/sigma in the evaluation window, with AIC/BIC and a "
                                   "linear-regression benchmark beside (docs/calibration.md).")
    p.add_argument("configs", nargs="+", metavar="CONFIG", help="calibration configurations "
                   "(TOML), at least two")
    p.add_argument("--starts", type=int, default=None, help="override every config's number "
                   "of starts")
    p.add_argument("--folds", type=int, default=3, help="rolling-origin cross-validation "
                   "folds over whole days, when the record holds folds + 1 days (0: none; "
                   "default 3)")
    p.add_argument("--json", action="store_true", help="print the ranking as JSON")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("pest", help="PEST++ control, template and instruction files around "
                                    "`sebcal run`",
                       description="Write sebcal.pst, parameters.toml.tpl and "
                                   "equivalents.txt.ins to DIR: the calibration problem of CONFIG "
                                   "for PEST++ (pestpp-glm, pestpp-ies) and pyEMU.")
    p.add_argument("config", help="configuration with [observations.*] and [calibration] free")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the PEST++ files")
    p.add_argument("--command", default="sebcal",
                   help="how PEST++ calls sebcal (default 'sebcal'; e.g. 'python -m sebcal')")
    p.set_defaults(func=_cmd_pest)

    p = sub.add_parser("verify", help="cross-check the PyTorch mirror against the Fortran scheme",
                       description="Run Fortran and PyTorch on CONFIG; compare outputs and "
                                   "gradients (autograd vs central differences of the Fortran). "
                                   "Exit status 0 when they agree, 1 otherwise.")
    p.add_argument("config", help="run configuration (TOML)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("calibrate", help="multi-start calibration with error bars and a verdict",
                       description="Fit the free parameters of CONFIG to its observations; write "
                                   "params.json, simulation.nc, report.md and figures to DIR. "
                                   "Exit status 0 when the verdict is usable (with or without "
                                   "caveats), 3 when it is 'not usable for a host' (the files "
                                   "are written), 2 on an error (docs/cli.md).")
    p.add_argument("config", help="configuration with [observations.*] and [calibration] tables")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint an interrupted run left in --out")
    p.add_argument("--starts", type=int, default=None, help="override the number of starts")
    p.add_argument("--force", action="store_true",
                   help="replace an earlier calibration in --out")
    p.add_argument("--no-figures", action="store_true", help="no SVG figures")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none when stderr is not a terminal; progress "
                        "lines then go to the log)")
    p.add_argument("--seed", type=int, default=None, help="override [calibration] seed")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=_cmd_calibrate)

    p = sub.add_parser("calibrate-sites", help="calibrate many sites together (shared and "
                       "per-site parameters), here or on Dask",
                       description="Calibrate the sites a multi-site file lists (docs/scale.md): "
                                   "sites that share a parameter are fitted jointly, the other "
                                   "groups independently, in this process or on Dask workers. "
                                   "Writes sites.json and sites.nc (a site dimension) to DIR. "
                                   "Exit status 0, or 4 when some sites failed (the others' "
                                   "results are written), 2 on an error.")
    p.add_argument("multisite", help="multi-site file: [multisite] and [[sites]] tables")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--starts", type=int, default=None, help="override the number of starts")
    p.add_argument("--dask", default=None, metavar="ADDRESS",
                   help="run the groups on Dask: a scheduler address (tcp://...), or 'local' "
                        "for a LocalCluster on this machine")
    p.add_argument("--workers", type=int, default=2, help="workers of --dask local (default 2)")
    p.add_argument("--seed", type=int, default=None, help="override [multisite] seed")
    p.add_argument("--force", action="store_true",
                   help="replace sites.json and sites.nc of an earlier run in --out")
    p.add_argument("--json", action="store_true", help="print sites.json instead of a summary")
    p.set_defaults(func=_cmd_calibrate_sites)

    p = sub.add_parser("export", help="write calibrated parameters into a host model's files",
                       description="Write the fitted parameters of PARAMS (params.json of "
                                   "'sebcal calibrate') into the input files of a host "
                                   "land-surface model, editing your templates so that only "
                                   "sebcal's entries change; each entry written is listed with "
                                   "its old and new value. Mapping, versions and options: "
                                   "docs/hosts.md.")
    p.add_argument("params", help="params.json written by 'sebcal calibrate'")
    p.add_argument("--host", required=True, help="sebcal, jules, noahmp, clm or suews")
    p.add_argument("--out", required=True,
                   help="file to write (a folder when several template files are edited)")
    p.add_argument("--template", action="append", default=None,
                   help="your existing host file (repeatable: JULES needs the files holding "
                        "&JULES_SOIL_PROPS and &JULES_NVEGPARM, and reads &JULES_SOIL and "
                        "&JULES_SURFACE_TYPES)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--include-fixed", action="store_true",
                   help="also write the parameters the calibration did not fit")
    p.add_argument("--allow-implausible", action="store_true",
                   help="export a calibration whose verdict is 'not usable for a host'")
    p.add_argument("--acknowledge", action="append", metavar="KEY",
                   help="accept a situation in which the host ignores an entry (the error "
                        "names the key), repeatable")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="host option, repeatable (docs/hosts.md lists them)")
    p.add_argument("--stage", default=None, metavar="NAME",
                   help="export only what this stage of a staged calibration fitted; its "
                        "verdict governs (a usable stage exports when the whole is not)")
    p.add_argument("--only", default=None, metavar="P1,P2",
                   help="export only these fitted parameters (their stages' verdicts govern)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("transfer", help="skill of the parameters on a host's soil layers",
                       description="Run PARAMS on a host's soil layers (or given node depths) "
                                   "and compare RMSE with the fine calibration grid over the "
                                   "calibration and evaluation windows; writes transfer.md.")
    p.add_argument("params", help="params.json written by 'sebcal calibrate'")
    p.add_argument("--grid", required=True, metavar="HOST_OR_DEPTHS",
                   help="jules, noahmp, or node depths in m from 0, e.g. 0,0.05,0.2,0.6,1.5")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for transfer.md (default: beside params.json)")
    p.add_argument("--nodes", choices=("centres", "boundaries"), default="centres",
                   help="host nodes at layer centres (default) or layer boundaries")
    p.add_argument("--force", action="store_true", help="replace an existing transfer.md")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=_cmd_transfer)

    p = sub.add_parser("validate", help="check a configuration and say what would run",
                       description="Check CONFIG without running it: every table and value, "
                                   "the forcing and observation files (opened and read), and "
                                   "print what would run (grid, window, observations, free "
                                   "parameters) with an estimate of its memory and time.")
    p.add_argument("config", help="run configuration (TOML)")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("schema", help="JSON Schema of the config file or of params.json",
                       description="Print the JSON Schema of a config file (for editors: "
                                   "taplo, VS Code 'Even Better TOML') or of params.json.")
    p.add_argument("what", choices=("config", "params"), nargs="?", default="config")
    p.add_argument("--out", default=None, help="write to this file instead of stdout")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=_cmd_schema)
    return parser


LOG = logging.getLogger("sebcal")


def _logging(verbose: int, quiet: bool) -> None:
    """Messages of the "sebcal" logger to stderr: INFO by default (progress lines of long
    jobs, which also reach batch-job logs), DEBUG with -vv, WARNING with -q."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose >= 2 else logging.INFO)
    if not any(getattr(h, "_sebcal", False) for h in LOG.handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("sebcal: %(message)s"))
        h._sebcal = True
        LOG.addHandler(h)
        LOG.propagate = False
    LOG.setLevel(level)


class _Version(argparse.Action):
    """--version, looked up only when asked (importlib.metadata is slow to import)."""

    def __call__(self, parser, namespace, values, option_string=None):
        import sebcal

        print(f"sebcal {sebcal.__version__}")
        parser.exit()


#: exit statuses of every verb (docs/cli.md)
EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_NOT_USABLE, EXIT_SITES_FAILED = 0, 1, 2, 3, 4
EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_PIPE = 70, 130, 141

#: exit status -> when it is returned (docs/cli.md is generated from this)
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success (for calibrate: a result usable for a host)",
    EXIT_FAILED: "verify: the job ran, but the Fortran scheme and the PyTorch mirror "
                 "disagree beyond the thresholds",
    EXIT_ERROR: "an error in the input or the environment (config, forcing, observations, "
                "params.json, template, output folder, disk, memory, command-line usage); "
                "the message names the file, key or variable and the fix. Nothing is written",
    EXIT_NOT_USABLE: "calibrate: the result was written, but its verdict is 'not usable for a "
                     "host' (export refuses it without --allow-implausible)",
    EXIT_SITES_FAILED: "calibrate-sites: some site groups failed; the others were written and "
                       "sites.json lists the failures",
    EXIT_INTERNAL: "internal error: a bug in sebcal, said in one line (SEBCAL_DEBUG=1 shows the "
                   "traceback)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C or SIGINT); outputs are written atomically, and "
                      "calibrate keeps its checkpoint to resume from",
    EXIT_PIPE: "the reader of standard output went away (`sebcal ... | head`)",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    where = f"sebcal {args.command}"
    _logging(args.verbose, args.quiet)
    try:
        return int(args.func(args))
    except Interrupted as exc:
        print(f"{where}: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SebcalError as exc:
        print(f"{where}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{where}: interrupted (outputs are written atomically: no half-written file "
              "was left)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader of stdout went away (`| head`): nothing more to say, and no traceback
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - flushed at exit
        except OSError:
            pass
        return EXIT_PIPE
    except OSError as exc:
        # the file system refused (read-only, no permission, full): the environment, not a bug
        import errno

        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC,
                             errno.EDQUOT):
            return _internal(where, exc)
        what = f" {exc.filename}" if exc.filename else ""
        print(f"{where}: error: cannot write{what}: {(exc.strerror or str(exc)).lower()}; "
              "choose a folder you can write to, or free some space", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError:
        print(f"{where}: error: out of memory; use fewer nodes, steps or starts, or a machine "
              "with more memory (sebcal validate estimates the memory a run needs)",
              file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - a bug: say so, without a traceback unless asked
        return _internal(where, exc)


def _internal(where: str, exc: BaseException) -> int:
    """A bug: said in one line, the traceback only with SEBCAL_DEBUG=1."""
    if os.environ.get("SEBCAL_DEBUG"):
        raise exc
    print(f"{where}: internal error: {type(exc).__name__}: {exc}\n"
          "This is a bug in sebcal. Run again with SEBCAL_DEBUG=1 for the traceback and "
          "report it with the configuration.", file=sys.stderr)
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
