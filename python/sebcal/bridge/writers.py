"""Write calibrated parameters into each host's input file (:func:`export`).

Every host follows the same steps: walk the host's rows of the mapping table
(:data:`sebcal.bridge.hosts.MAPPINGS`), convert each value to the host unit, check it against
the host's valid range, write it (into a copy of the user's template, changing only these
entries, or into a new file), note its uncertainty, unit conversion and caveat in a comment
or attribute, and report every approximation and every entry left unchanged as a warning.
Files are written to a temporary name beside ``out`` and renamed when complete.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import math
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ConfigError, SebcalError
from ..output import atomic_path
from . import nmledit, yamlmini
from .hosts import HOST_FILES, MAPPINGS, Entry, NotApplicable, check_host, z0_from_h
from .paramsfile import Calibrated, load_params

#: export options each host accepts (--option KEY=VALUE)
OPTIONS: dict[str, dict[str, str]] = {
    "sebcal": {},
    "jules": {"tile": "non-vegetated surface type: its nvgname_io name (default 'soil') or "
                      "1-based index",
              "u_ref": "reference wind speed for the z0 conversion [m s-1] (default: mean "
                       "forcing wind over the calibration window)",
              "z_ref": "height of that wind above ground [m] (default 10)",
              "d": "displacement height [m] (default 0)",
              "z0hm": "z0h/z0m when the template has no z0hm_nvg_io (default 0.1)"},
    "noahmp": {"soil_color": "1-based soil colour class of the site (SOILCOLOR) for the "
                             "albedo entries (no default: without it they are left unchanged)",
               "smcmax": "porosity SMCMAX of the site's soil type: CSOIL_DATA = C/(1-SMCMAX)",
               "soil_depth": "total Noah-MP soil depth [m] (default 2.0 = 0.1+0.3+0.6+1.0)",
               "u_ref": "reference wind speed [m s-1] for the suggested z0",
               "z_ref": "its height [m] (default 10)", "d": "displacement height [m]"},
    "clm": {"urban_class": "urban density class: 1-based numurbl index or TBD, HD, MD "
                           "(default MD = 3)"},
    "suews": {"surface": "land_cover surface: paved, bldgs, evetr, dectr, grass, bsoil, water "
                         "(default bsoil)",
              "site": "1-based index of the site in the sites list (default 1)"},
}
SUEWS_SURFACES = ("paved", "bldgs", "evetr", "dectr", "grass", "bsoil", "water")
CLM_CLASSES = {"TBD": 1, "HD": 2, "MD": 3}


@dataclass
class Context:
    """What conversions need besides the parameter value."""

    cal: Calibrated
    host: str
    options: dict[str, str]
    params: Any = None
    beta: float | None = None
    column_depth: float = 1.0
    u_ref: float | None = None
    u_note: str = ""
    z_ref: float = 10.0
    d: float = 0.0
    z0h_over_z0m: float = 0.1
    air_density: float = 1.2
    smcmax: float | None = None
    noahmp_soil_depth: float = 2.0
    extra_limits: dict = field(default_factory=dict)

    def num(self, name: str, default: float | None = None, lo: float | None = None,
            hi: float | None = None, lo_open: bool = False) -> float | None:
        if name not in self.options:
            return default
        raw = self.options[name]
        try:
            v = float(raw)
        except ValueError:
            raise ConfigError(f"--option {name}={raw}: not a number") from None
        if not math.isfinite(v) or (lo is not None and (v < lo or (lo_open and v == lo))) \
                or (hi is not None and v > hi):
            rng = f"{'(' if lo_open else '['}{lo if lo is not None else '-inf'}, " \
                  f"{hi if hi is not None else 'inf'}]"
            raise ConfigError(f"--option {name}={raw}: must be in {rng}")
        return v

    def reference_note(self) -> str:
        return (f"neutral conversion at U = {self.u_ref:.3g} m s-1 ({self.u_note}), "
                f"z = {self.z_ref:g} m, d = {self.d:g} m, z0h/z0m = {self.z0h_over_z0m:g}, "
                f"rho = {self.air_density:.4g} kg m-3")


@dataclass
class Item:
    """One mapping row as exported."""

    entry: Entry
    value: float | None          # sebcal value
    std: float | None            # sebcal std
    host_value: float | None     # None: not written
    host_std: float | None
    status: str                  # written | unchanged | not exported
    note: str = ""
    where: str = ""              # the entry with its index resolved, e.g. emis_nvg_io(3)

    @property
    def name(self) -> str:
        return self.where or self.entry.location

    def comment(self, cal: Calibrated) -> str:
        e = self.entry
        if self.status == "written":
            std = f" +/- {self.host_std:.3g}" if self.host_std is not None else ""
            text = (f"sebcal: {self.name} = {self.host_value:.6g}{std} [{_unit(e.unit)}] from "
                    f"{e.param} = {cal.describe(e.param)}; conversion: {e.conversion}; "
                    f"{e.kind}")
            if e.caveat:
                text += f": {e.caveat}"
            if self.note:
                text += f" ({self.note})"
        elif self.status == "not exported":
            at = "" if e.location.startswith("(none") else f" ({e.location})"
            text = f"sebcal: {e.param} not exported{at}: {self.note or e.caveat}"
        else:
            text = f"sebcal: {self.name} {self.status}: {self.note or e.caveat}"
        return text


def _unit(u: str) -> str:
    return "-" if u == "1" else u


@dataclass
class ExportResult:
    """What :func:`export` wrote."""

    host: str
    path: Path
    template: Path | None
    items: list[Item]
    warnings: list[str]

    def summary(self) -> list[str]:
        out = []
        for it in self.items:
            if it.status == "written":
                std = f" +/- {it.host_std:.3g}" if it.host_std is not None else ""
                out.append(f"{it.name} = {it.host_value:.6g}{std} [{_unit(it.entry.unit)}]  "
                           f"({it.entry.kind}; from {it.entry.param})")
        return out


# --------------------------------------------------------------------------- entry point

def export(params: Calibrated | str | os.PathLike | Mapping, host: str, out: str | os.PathLike,
           template: str | os.PathLike | None = None, force: bool = False,
           options: Mapping[str, str] | None = None,
           allow_implausible: bool = False) -> ExportResult:
    """Write the calibrated parameters into a host model's input file.

    Args:
        params: params.json (path, content or :class:`Calibrated`).
        host: sebcal, jules, noahmp, clm or suews.
        out: the file to write (never the template; an existing file only with ``force``).
        template: the user's existing host file; only the entries sebcal owns change.
        force: overwrite an existing ``out``.
        options: host options (:data:`OPTIONS`), as strings.
        allow_implausible: export a calibration whose verdict is "not usable for a host".

    Returns:
        The :class:`ExportResult` (items written, warnings).

    Raises:
        ConfigError: unknown host or option, bad params.json, a template that lacks a group
            or key (the message says how to add it), a value outside the host's range.
        SebcalError: ``out`` exists without ``force``, is the template, or its folder is
            missing.
    """
    host = check_host(host)
    cal = params if isinstance(params, Calibrated) else load_params(params)
    verdict = cal.verdict or {}
    if verdict.get("status") == "not usable for a host" and not allow_implausible:
        reasons = "; ".join(verdict.get("reasons", [])[:3])
        raise SebcalError(f"the calibration's verdict is 'not usable for a host' ({reasons}); "
                          "sebcal does not put these values into a host model's file. Fix the "
                          "calibration (docs/calibration.md), or pass --allow-implausible to "
                          "export them anyway")
    options = {str(k): str(v) for k, v in (options or {}).items()}
    for k in options:
        if k not in OPTIONS[host]:
            near = difflib.get_close_matches(k, OPTIONS[host], n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            valid = ", ".join(OPTIONS[host]) or "none"
            raise ConfigError(f"unknown option '{k}' for host {host}{hint}; options of "
                              f"{host}: {valid}")
    out = Path(out)
    tpl = Path(template) if template is not None else None
    if tpl is not None:
        if not tpl.is_file():
            raise ConfigError(f"template '{tpl}' does not exist; give your existing "
                              f"{host} file, or leave out --template")
        if out.exists() and os.path.samefile(out, tpl) or \
                out.resolve() == tpl.resolve():
            raise SebcalError(f"--out {out} is the template itself; sebcal never overwrites "
                              "the template in place: choose another --out")
    if out.exists() and not force:
        raise SebcalError(f"output file {out} exists; pass --force to overwrite it")
    ctx = _context(cal, host, options)
    writer = _WRITERS[host]
    items, warnings = writer(cal, ctx, out, tpl)
    for it in items:
        e = it.entry
        if it.status == "written" and e.kind == "approximate":
            warnings.append(f"{it.name}: approximate ({e.conversion}); {e.caveat}")
        elif it.status == "not exported":
            warnings.append(f"{e.param} not exported: {it.note or e.caveat}")
        elif it.status == "unchanged":
            warnings.append(f"{it.name} left unchanged: {it.note}")
    return ExportResult(host, out, tpl, items, warnings)


# ------------------------------------------------------------------------------- context

def _context(cal: Calibrated, host: str, options: dict[str, str]) -> Context:
    ctx = Context(cal, host, options, params=cal.params, beta=cal.params.beta,
                  column_depth=float(cal.config.node_depths[-1]))
    if host in ("jules", "noahmp"):
        ctx.z_ref = ctx.num("z_ref", 10.0, lo=0.0, lo_open=True)
        ctx.d = ctx.num("d", 0.0, lo=0.0)
        if ctx.d >= ctx.z_ref:
            raise ConfigError(f"--option d={ctx.d:g} must be below z_ref={ctx.z_ref:g} m")
        u = ctx.num("u_ref", None, lo=0.0, lo_open=True)
        u_f, rho, note = _forcing_air(cal)
        ctx.air_density = rho
        if u is not None:
            ctx.u_ref, ctx.u_note = u, "--option u_ref"
        elif u_f is not None:
            ctx.u_ref, ctx.u_note = u_f, note
        if "z_ref" not in options:
            ctx.u_note += "; z_ref = 10 m assumed (give --option z_ref=<height of the wind "\
                          "measurement>)"
    if host == "jules":
        ctx.z0h_over_z0m = ctx.num("z0hm", 0.1, lo=0.0, hi=1.0, lo_open=True)
    if host == "noahmp":
        ctx.smcmax = ctx.num("smcmax", None, lo=0.0, hi=1.0)
        ctx.noahmp_soil_depth = ctx.num("soil_depth", 2.0, lo=0.0, lo_open=True)
    return ctx


def _forcing_air(cal: Calibrated) -> tuple[float | None, float, str]:
    """Mean wind speed [m s-1] and air density [kg m-3] over the calibration window."""
    from ..forcing import read_alma
    from ..observations import windows

    cfg = cal.config
    f = cfg.forcing
    rho_default = 1.2
    if f.get("kind") != "netcdf":
        return None, rho_default, ""
    try:
        mask = windows(cfg).calibration
    except SebcalError:
        mask = np.ones(cfg.nt + 1, dtype=bool)
    u = None
    note = ""
    for names in (["Wind_N", "Wind_E"], ["Wind"]):
        try:
            vals = read_alma(f["path"], names, cfg.start, cfg.nt, cfg.dt,
                             gap_policy="interpolate")
        except SebcalError:
            continue
        speed = np.hypot(vals["Wind_N"], vals["Wind_E"]) if len(names) == 2 else vals["Wind"]
        u = float(np.nanmean(speed[mask]))
        note = f"mean forcing {'/'.join(names)} speed over the calibration window"
        break
    rho = rho_default
    try:
        vals = read_alma(f["path"], ["Tair", "PSurf"], cfg.start, cfg.nt, cfg.dt,
                         gap_policy="interpolate")
        rho = float(np.nanmean(vals["PSurf"][mask] / (287.04 * vals["Tair"][mask])))
    except SebcalError:
        pass
    return u, rho, note


def _item(entry: Entry, cal: Calibrated, ctx: Context, template_note: str | None = None
          ) -> Item:
    """Convert one row (no writing): status 'written' (to be written) or why not."""
    v = cal.value(entry.param)
    s = cal.std.get(entry.param)
    if entry.kind == "none":
        return Item(entry, v, s, None, None, "not exported", entry.caveat)
    if template_note:
        return Item(entry, v, s, None, None, "unchanged", template_note)
    try:
        hv = entry.to_host(v, ctx)
    except NotApplicable as exc:
        return Item(entry, v, s, None, None, "unchanged", str(exc))
    except ValueError as exc:
        raise ConfigError(f"{entry.location}: cannot convert {entry.param} = {v:g}: "
                          f"{exc}") from None
    entry.check_range(hv, ctx)
    note = ctx.reference_note() if entry.convert.__name__ == "_z0" else ""
    return Item(entry, v, s, hv, entry.host_std(v, s, ctx), "written", note)


def _header(cal: Calibrated, host: str, template: Path | None, items: list[Item],
            mark: str) -> str:
    src = cal.path if cal.path is not None else "params.json"
    when = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    changed = ", ".join(it.name for it in items if it.status == "written")
    lines = [f"Exported by sebcal {__version__} from {src} (params schema "
             f"{cal.data['schema_version']}, calibrated with sebcal "
             f"{cal.data['sebcal_version']}) on {when}",
             f"host: {host} - {HOST_FILES[host]}",
             (f"template: {template}; only the entries below were changed" if template
              else "a complete sebcal namelist (parameters from params.json, grid and options "
                   "of its calibration config)" if host == "sebcal"
              else "no template: a fragment with the entries sebcal owns; merge it into the "
                   "complete host file (or export again with --template)"),
             f"changed: {changed or 'nothing'}",
             "mapping, units and caveats: docs/hosts.md; each entry is annotated below"]
    return "\n".join(f"{mark} {ln}" for ln in lines) + "\n"


# ------------------------------------------------------------------------------- sebcal


def _read_namelist_template(tpl: Path):
    """The template's text and its parsed namelist (an error names the file)."""
    text = tpl.read_text()
    try:
        return text, nmledit.read(text)
    except Exception as exc:
        raise ConfigError(f"template {tpl}: not a readable Fortran namelist ({exc})") from None

#: vocabulary name -> &sebcal_params / &sebcal_soil member (fortran/sebcal_namelist.f90)
NML_NAMES = {"alpha": "alpha", "eps": "emissivity", "h_eff": "h_eff", "beta": "bowen",
             "T_b": "t_bottom", "z0m": "z0m", "z0h_ratio": "z0h_ratio", "d0": "d0",
             "z_ref": "z_ref", "r_s": "r_s", "rs_a": "rs_a", "rs_b": "rs_b", "tau_sw": "tau_sw",
             "tau_lw": "tau_lw", "k_ext": "k_ext", "lambda": "lambda", "C": "heat_capacity",
             "porosity": "porosity", "lambda_dry": "lambda_dry",
             "lambda_solids": "lambda_solids", "C_dry": "c_dry"}


def sebcal_groups(cal: Calibrated) -> dict[str, dict[str, Any]]:
    """The namelist groups of the scheme for a calibration: every parameter its options use,
    the grid, the soil layers and every option (docs/fortran.md)."""
    from ..vocabulary import PARAMETERS

    cfg = cal.config
    spec = cfg.spec
    full = cal.params
    params: dict[str, Any] = {}
    soil: dict[str, Any] = {}
    for name, value in full.items():
        p = PARAMETERS[name]
        if p.group == "state" or name not in NML_NAMES:
            continue
        if p.group == "soil":
            soil[NML_NAMES[name]] = [float(v) for v in full.layers(name, spec.nlayers)]
        else:
            params[NML_NAMES[name]] = float(value)
    if spec.nlayers == 1:
        params.update({k: v[0] for k, v in soil.items()})
        soil = {}
    else:
        soil = {"nlayers": spec.nlayers, "layer_bottoms": list(spec.layer_bottoms), **soil}
    z = spec.node_depths
    grid = ({"nodes": int(spec.nz), "depth": float(z[-1]), "top_depth": float(z[0])}
            if spec.uniform else {"nodes": int(spec.nz), "node_depths": [float(x) for x in z]})
    opts: dict[str, Any] = {"dt": float(spec.dt)}
    opts.update({k: v for k, v in spec.options.items()})
    opts.update(tol=float(spec.tol), max_iter=int(spec.max_iter),
                spinup_tol=float(spec.spinup_tol), spinup_max_cycles=int(spec.spinup_max_cycles),
                wind_min=float(spec.wind_min))
    if spec.init_profile is not None:
        opts["init_profile"] = [float(t) for t in spec.init_profile]
    groups = {"sebcal_params": params}
    if soil:
        groups["sebcal_soil"] = soil
    groups.update(sebcal_grid=grid, sebcal_options=opts)
    return groups


def _write_sebcal(cal: Calibrated, ctx: Context, out: Path, tpl: Path | None):
    items = [_item(e, cal, ctx) for e in MAPPINGS["sebcal"] if cal.value(e.param) is not None]
    if tpl is None:
        groups = sebcal_groups(cal)
        nml = _nml(groups)
        text = str(nml) + "\n"
        text = nmledit.insert_comment(text, "sebcal_grid", None,
                                      "grid, time step and options of the calibration run "
                                      "(params.json config)")
        items = [it for it in items if it.entry.address[1] in groups["sebcal_params"]]
    else:
        text = tpl.read_text()
        before = text
        changed = {}
        for it in items:
            grp, key = it.entry.address
            text = nmledit.set_value(text, grp, key, it.host_value, None, where=str(tpl))
            changed[(grp, key)] = it.host_value
        nmledit.verify_edit(before, text, changed, where=str(tpl))
    for it in items:
        text = nmledit.insert_comment(text, it.entry.address[0], it.entry.address[1],
                                      it.comment(cal))
    text = _header(cal, "sebcal", tpl, items, "!") + text
    _check_namelist(text, items, out)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    return items, []


def _nml(groups: Mapping[str, Mapping[str, Any]]) -> Any:
    """An f90nml Namelist keeping the order of groups and keys (plain dicts get sorted)."""
    import f90nml

    nml = f90nml.Namelist()
    for g, keys in groups.items():
        grp = f90nml.Namelist()
        for k, v in keys.items():
            grp[k] = v
        nml[g] = grp
    return nml


def _check_namelist(text: str, items: list[Item], out: Path) -> None:
    try:
        nmledit.read(text)
    except Exception as exc:   # pragma: no cover - a bug, not a user error
        raise SebcalError(f"internal error: the namelist for {out} does not read back "
                          f"({exc})") from None


# -------------------------------------------------------------------------------- JULES

def _jules_tile(text_nml: Any, ctx: Context) -> tuple[int | None, str]:
    """0-based index of the non-vegetated type, or None with the reason."""
    opt = ctx.options.get("tile", "soil")
    grp = text_nml.get("jules_nvegparm") if text_nml is not None else None
    names = None
    if grp is not None and "nvgname_io" in grp:
        names = grp["nvgname_io"]
        names = [names] if isinstance(names, str) else list(names)
        names = [str(n).strip().lower() for n in names]
    if opt.isdigit():
        return int(opt) - 1, f"tile {opt}" + (f" ({names[int(opt) - 1]})" if names and
                                               int(opt) <= len(names) else "")
    if names is None:
        return None, ("the template's &JULES_NVEGPARM has no nvgname_io to find the "
                      f"'{opt}' type: give --option tile=N (1-based index among the "
                      "non-vegetated types)")
    if opt.lower() not in names:
        raise ConfigError(f"--option tile={opt}: no such non-vegetated type; nvgname_io "
                          f"has {', '.join(names)}")
    return names.index(opt.lower()), f"tile '{opt}'"


def _write_jules(cal: Calibrated, ctx: Context, out: Path, tpl: Path | None):
    rows = [e for e in MAPPINGS["jules"] if cal.value(e.param) is not None]
    warnings: list[str] = []
    if tpl is None:
        ctx.options.setdefault("tile", "soil")
        items = [_item(e, cal, ctx) for e in rows]
        w = {it.entry.address[2]: it.host_value for it in items if it.status == "written"}
        props = [(k, w[k]) for k in ("hcap", "hcon", "albsoil") if k in w]
        nveg = {"nvgname_io": ["soil"]}
        for k in ("albsnf_nvg_io", "emis_nvg_io", "z0_nvg_io"):
            if k in w:
                nveg[k] = [w[k]]
        if "z0_nvg_io" in w:
            nveg["z0hm_nvg_io"] = [ctx.z0h_over_z0m]
        nml = _nml({
            "jules_soil_props": {"const_z": True, "nvars": len(props),
                                 "var": [k for k, _ in props],
                                 "use_file": [False] * len(props),
                                 "const_val": [v for _, v in props]},
            "jules_nvegparm": nveg})
        for it in items:
            if it.status == "written":
                grp, _, key = it.entry.address
                if grp == "jules_soil_props":
                    pos = [k for k, _ in props].index(key)
                    it.where = f"&JULES_SOIL_PROPS const_val({pos + 1}) (var '{key}')"
                else:
                    it.where = f"&JULES_NVEGPARM {key}(1) ['soil']"
        text = str(nml) + "\n"
    else:
        text, tnml = _read_namelist_template(tpl)
        before = text
        for g in ("jules_soil_props", "jules_nvegparm"):
            if g not in tnml:
                raise ConfigError(f"template {tpl} has no namelist group &{g.upper()}; add the "
                                  f"group (&{g.upper()} ... /) from your JULES "
                                  f"{'ancillaries' if g == 'jules_soil_props' else 'nveg_params'}"
                                  ".nml, or export without --template")
        soil = tnml.get("jules_soil")
        if soil is not None and soil.get("soilhc_method") == 3:
            ctx.extra_limits["&JULES_SOIL_PROPS const_val of var 'hcon'"] = (
                0.0, math.exp(-0.745),
                "the template's &JULES_SOIL has soilhc_method = 3, whose saturated "
                "conductivity (1 - 0.0134 ln hcon)/(-0.745 - ln hcon) needs hcon < "
                "exp(-0.745) = 0.475 W m-1 K-1 (JULES heat_con); use soilhc_method 1 or 2")
        tile, tile_note = _jules_tile(tnml, ctx)
        props = tnml["jules_soil_props"]
        var = props.get("var")
        var = [var] if isinstance(var, str) else list(var or [])
        var = [str(v).strip().lower() for v in var]
        use_file = props.get("use_file")
        use_file = [use_file] if isinstance(use_file, bool) else list(use_file or [])
        nveg = tnml["jules_nvegparm"]
        items = []
        changed: dict = {}
        for e in rows:
            grp, how, key = e.address if e.address else (None, None, None)
            it = None
            if e.kind != "none" and how == "var":
                if key not in var:
                    raise ConfigError(
                        f"template {tpl}: &JULES_SOIL_PROPS var has no '{key}'; add '{key}' "
                        "to var, its value to const_val (same position) and 1 to nvars")
                pos = var.index(key)
                if pos < len(use_file) and use_file[pos]:
                    it = _item(e, cal, ctx, f"use_file is T for '{key}': JULES reads it "
                               "from the soil ancillary file; set use_file to F for it or "
                               "write the value into that file")
                else:
                    it = _item(e, cal, ctx)
                    it.where = f"&JULES_SOIL_PROPS const_val({pos + 1}) (var '{key}')"
                    if it.status == "written":
                        text = nmledit.set_value(text, grp, "const_val", it.host_value, pos,
                                                 where=str(tpl))
                        cv = list(_as_list(props["const_val"]))
                        cv[pos] = it.host_value
                        changed[(grp, "const_val")] = cv if len(cv) > 1 else cv[0]
                        props["const_val"] = cv
            elif e.kind != "none" and how == "tile":
                if key not in nveg:
                    raise ConfigError(f"template {tpl}: &JULES_NVEGPARM has no {key}; add "
                                      f"'{key} = ...' with one value per non-vegetated type")
                vals = list(_as_list(nveg[key]))
                if tile is None:
                    it = _item(e, cal, ctx, tile_note)
                elif tile >= len(vals):
                    raise ConfigError(f"template {tpl}: &JULES_NVEGPARM {key} has "
                                      f"{len(vals)} value(s); {tile_note} needs "
                                      f"{tile + 1}")
                elif key == "albsnf_nvg_io" and vals[tile] == -1.0:
                    it = _item(e, cal, ctx, "the template sets -1.0 (albedo from the soil "
                               "ancillary), kept; albsoil carries alpha")
                    it.where = f"&JULES_NVEGPARM {key}({tile + 1}) [{tile_note}]"
                else:
                    if key == "z0_nvg_io" and "z0hm_nvg_io" in nveg and tile is not None:
                        zh = _as_list(nveg["z0hm_nvg_io"])
                        if tile < len(zh) and zh[tile] and 0 < zh[tile] <= 1:
                            ctx.z0h_over_z0m = float(zh[tile])
                    it = _item(e, cal, ctx)
                    it.where = f"&JULES_NVEGPARM {key}({tile + 1}) [{tile_note}]"
                    if it.status == "written":
                        text = nmledit.set_value(text, grp, key, it.host_value, tile,
                                                 where=str(tpl))
                        vals[tile] = it.host_value
                        changed[(grp, key)] = vals if len(vals) > 1 else vals[0]
                        nveg[key] = vals
            else:
                it = _item(e, cal, ctx)
            items.append(it)
        nmledit.verify_edit(before, text, changed, where=str(tpl))
    for it in items:
        if it.status == "written":
            grp = it.entry.address[0]
            key = "const_val" if grp == "jules_soil_props" else it.entry.address[2]
            text = nmledit.insert_comment(text, grp, key, it.comment(cal))
    others = [it for it in items if it.status != "written"]
    text = _header(cal, "jules", tpl, items, "!") + \
        "".join(f"! {ln}\n" for it in others for ln in it.comment(cal).splitlines()) + text
    _check_namelist(text, items, out)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    return items, warnings


def _as_list(v: Any) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


# ------------------------------------------------------------------------------ Noah-MP

def _write_noahmp(cal: Calibrated, ctx: Context, out: Path, tpl: Path | None):
    rows = [e for e in MAPPINGS["noahmp"] if cal.value(e.param) is not None]
    color = ctx.options.get("soil_color")
    if color is not None:
        if not color.isdigit() or int(color) < 1:
            raise ConfigError(f"--option soil_color={color}: give the 1-based soil colour "
                              "class (1..8 in NoahmpTable.TBL)")
        color_i = int(color) - 1
    no_color = ("no soil colour class given: pass --option soil_color=N (the site's "
                "SOILCOLOR) to export alpha into ALBSAT/ALBDRY")
    items: list[Item] = []
    suggestion = None
    if ctx.u_ref is not None:
        h = cal.params.h_eff if cal.params.beta is None else cal.params.h
        z0 = z0_from_h(h, ctx.u_ref, ctx.z_ref, ctx.d, 0.1, ctx.air_density * 1005.0)
        suggestion = (f"h_eff = {cal.describe('h_eff')} corresponds to a neutral roughness "
                      f"z0m = {z0:.3g} m (z0h = 0.1 z0m; {ctx.reference_note()}); Z0SOIL / "
                      "Z0MVT left unchanged")
    if tpl is None:
        groups: dict[str, dict] = {"noahmp_rad_parameters": {},
                                   "noahmp_general_parameters": {}}
        starts: dict[str, dict] = {"noahmp_rad_parameters": {}}
        for e in rows:
            grp, how, key = e.address if e.address else (None, None, None)
            if how == "soil_color" and color is None:
                it = _item(e, cal, ctx, no_color)
            else:
                it = _item(e, cal, ctx)
            if it.status == "written":
                if how == "scalar":
                    groups[grp][key] = it.host_value
                else:
                    groups[grp][key] = [it.host_value]
                    starts[grp][key] = [color_i + 1 if how == "soil_color" else 1]
            items.append(it)
        nml = _nml({g: v for g, v in groups.items() if v})
        for g, st in starts.items():
            if g in nml and st:
                nml[g].start_index = st
        text = str(nml) + "\n"
    else:
        text, tnml = _read_namelist_template(tpl)
        before = text
        changed: dict = {}
        for e in rows:
            grp, how, key = e.address if e.address else (None, None, None)
            if e.kind == "none" or grp is None:
                items.append(_item(e, cal, ctx))
                continue
            if grp not in tnml:
                raise ConfigError(f"template {tpl} has no namelist group &{grp}; add it from "
                                  "NoahmpTable.TBL, or export without --template")
            g = tnml[grp]
            if key not in g:
                raise ConfigError(f"template {tpl}: &{grp} has no {key.upper()}; add "
                                  f"'{key.upper()} = ...' as in NoahmpTable.TBL")
            if how == "soil_color" and color is None:
                items.append(_item(e, cal, ctx, no_color))
                continue
            it = _item(e, cal, ctx)
            items.append(it)
            if it.status != "written":
                continue
            pos = None if how == "scalar" else (color_i if how == "soil_color" else 0)
            text = nmledit.set_value(text, grp, key.upper(), it.host_value, pos, where=str(tpl))
            if pos is None:
                changed[(grp, key)] = it.host_value
            else:
                vals = list(_as_list(g[key]))
                if pos >= len(vals):
                    raise ConfigError(f"template {tpl}: &{grp} {key.upper()} has {len(vals)} "
                                      f"values; soil colour {pos + 1} needs more")
                vals[pos] = it.host_value
                g[key] = vals
                changed[(grp, key)] = vals
        nmledit.verify_edit(before, text, changed, where=str(tpl))
    for it in items:
        if it.entry.address and it.entry.kind != "none":
            grp, how, key = it.entry.address
            idx = (f"({color_i + 1})" if how == "soil_color" and color is not None else
                   "(1)" if how == "first" else "")
            if how != "soil_color" or color is not None:
                it.where = f"&{grp} {key.upper()}{idx}"
    for it in items:
        if it.status == "written":
            text = nmledit.insert_comment(text, it.entry.address[0], it.entry.address[2],
                                          it.comment(cal))
    notes = [it.comment(cal) for it in items if it.status != "written"]
    if suggestion:
        notes.append("sebcal: " + suggestion)
    text = _header(cal, "noahmp", tpl, items, "!") + \
        "".join(f"! {ln}\n" for n in notes for ln in n.splitlines()) + text
    _check_namelist(text, items, out)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    warnings = [f"h_eff (no Noah-MP parameter): {suggestion}"] if suggestion else []
    return items, warnings


# ---------------------------------------------------------------------------------- CLM

_CLM_DIMS = {"nlevurb": 5, "numurbl": 3, "numrad": 2, "lsmlat": 1, "lsmlon": 1}
_CLM_VARS = {
    "TK_IMPROAD": (("nlevurb", "numurbl", "lsmlat", "lsmlon"),
                   "thermal conductivity of impervious road", "W/m*K"),
    "CV_IMPROAD": (("nlevurb", "numurbl", "lsmlat", "lsmlon"),
                   "volumetric heat capacity of impervious road", "J/m^3*K"),
    "ALB_IMPROAD_DIR": (("numrad", "numurbl", "lsmlat", "lsmlon"),
                        "direct albedo of impervious road", "unitless"),
    "ALB_IMPROAD_DIF": (("numrad", "numurbl", "lsmlat", "lsmlon"),
                        "diffuse albedo of impervious road", "unitless"),
    "EM_IMPROAD": (("numurbl", "lsmlat", "lsmlon"), "emissivity of impervious road",
                   "unitless"),
    "NLEV_IMPROAD": (("numurbl", "lsmlat", "lsmlon"), "number of impervious road layers",
                     "unitless"),
}


def _write_clm(cal: Calibrated, ctx: Context, out: Path, tpl: Path | None):
    import netCDF4

    rows = [e for e in MAPPINGS["clm"] if cal.value(e.param) is not None]
    cls = ctx.options.get("urban_class", "MD")
    ci = CLM_CLASSES.get(cls.upper()) if not cls.isdigit() else int(cls)
    if ci is None or ci < 1:
        raise ConfigError(f"--option urban_class={cls}: give 1..numurbl or one of "
                          f"{', '.join(CLM_CLASSES)}")
    ci -= 1
    warnings: list[str] = []
    if "urban_class" not in ctx.options:
        warnings.append("urban_class not given: writing the medium-density class (MD, "
                        "numurbl index 3); choose with --option urban_class=TBD|HD|MD")
    items = [_item(e, cal, ctx) for e in rows]
    with atomic_path(out, ".nc") as tmp:
        if tpl is not None:
            shutil.copyfile(tpl, tmp)
            try:
                ds = netCDF4.Dataset(tmp, "r+")
            except OSError as exc:
                raise ConfigError(f"template {tpl}: not a NetCDF file ({exc})") from None
        else:
            ds = netCDF4.Dataset(tmp, "w", format="NETCDF4")
            for d, n in _CLM_DIMS.items():
                ds.createDimension(d, n)
            for name, (dims, long, units) in _CLM_VARS.items():
                if name == "NLEV_IMPROAD":
                    v = ds.createVariable(name, "i4", dims)
                    v[:] = _CLM_DIMS["nlevurb"]
                else:
                    v = ds.createVariable(name, "f8", dims, fill_value=-999.0)
                    v[:] = -999.0
                v.long_name = long
                v.units = units
            ds.title = "sebcal export: CLM urban impervious-road parameters (fragment)"
            ds.comment = ("only the variables sebcal owns, for one urban density class; copy "
                          "them into your fsurdat (or export again with --template)")
        try:
            nclass = len(ds.dimensions["numurbl"]) if "numurbl" in ds.dimensions else 0
            if ci >= nclass:
                raise ConfigError(f"urban_class {ci + 1} but the file has numurbl = {nclass}")
            for it in items:
                e = it.entry
                if it.status != "written":
                    continue
                how, name = e.address
                if name not in ds.variables:
                    raise ConfigError(f"template {tpl}: no variable {name}; add it as in CTSM "
                                      "mksurfdata (dims nlevurb/numrad, numurbl, lsmlat, "
                                      "lsmlon) or export without --template")
                var = ds.variables[name]
                it.where = f"{name}[numurbl={ci + 1}]"
                dims = var.dimensions
                if "numurbl" not in dims:
                    raise ConfigError(f"template {tpl}: {name} has no numurbl dimension")
                idx: list[Any] = [slice(None)] * len(dims)
                idx[dims.index("numurbl")] = ci
                if how == "levels":
                    nlev = len(ds.dimensions["nlevurb"])
                    if "NLEV_IMPROAD" in ds.variables:
                        nl = np.asarray(ds.variables["NLEV_IMPROAD"][:])
                        nl = np.take(nl, ci, axis=ds.variables["NLEV_IMPROAD"]
                                     .dimensions.index("numurbl"))
                        nlev = int(np.max(nl))
                    idx[dims.index("nlevurb")] = slice(0, max(nlev, 1))
                var[tuple(idx)] = it.host_value
                var.setncattr("sebcal_value", it.host_value)
                if it.host_std is not None:
                    var.setncattr("sebcal_std", it.host_std)
                var.setncattr("sebcal_urban_class", ci + 1)
                var.setncattr("sebcal_comment", it.comment(cal))
            notes = [it.comment(cal) for it in items if it.status != "written"]
            hist = _header(cal, "clm", tpl, items, "").replace("\n ", "\n").strip()
            old = getattr(ds, "history", "") if "history" in ds.ncattrs() else ""
            ds.setncattr("history", (old + "\n" if old else "") + hist)
            ds.setncattr("sebcal_not_exported", "\n".join(notes))
        finally:
            ds.close()
    return items, warnings


# -------------------------------------------------------------------------------- SUEWS

def _write_suews(cal: Calibrated, ctx: Context, out: Path, tpl: Path | None):
    rows = [e for e in MAPPINGS["suews"] if cal.value(e.param) is not None]
    surface = ctx.options.get("surface", "bsoil")
    if surface not in SUEWS_SURFACES:
        near = difflib.get_close_matches(surface, SUEWS_SURFACES, n=1)
        raise ConfigError(f"--option surface={surface}: unknown SUEWS surface"
                          f"{' (did you mean ' + repr(near[0]) + '?)' if near else ''}; "
                          f"one of {', '.join(SUEWS_SURFACES)}")
    site_opt = ctx.options.get("site", "1")
    if not site_opt.isdigit() or int(site_opt) < 1:
        raise ConfigError(f"--option site={site_opt}: give a 1-based site index")
    site = int(site_opt) - 1
    warnings = []
    if "surface" not in ctx.options:
        warnings.append("surface not given: writing land_cover.bsoil (bare soil); choose "
                        "with --option surface=paved|bldgs|evetr|dectr|grass|bsoil|water")
    items = [_item(e, cal, ctx) for e in rows]
    written = [it for it in items if it.status == "written"]
    if tpl is None:
        layers = 5
        surf: dict[str, Any] = {}
        tl: dict[str, Any] = {}
        for it in written:
            how, key = it.entry.address
            if how == "surface":
                surf[key] = {"value": it.host_value}
            elif key == "k":
                tl["k"] = {"value": [it.host_value] * layers}
            else:
                tl["rho_cp"] = {"value": [it.host_value] * layers}
        if tl:
            surf["thermal_layers"] = {"dz": {"value": [0.1, 0.2, 0.3, 0.4, 0.5]}, **tl}
        data = {"site": [{"name": "sebcal export", "properties": {
            "land_cover": {surface: surf}}}]}
        text = yamlmini.dumps(data) + "\n"
        base_path: list[Any] = ["site", 0, "properties", "land_cover", surface]
        where = "fragment"
    else:
        text = tpl.read_text()
        where = str(tpl)
        root = yamlmini.parse(text)
        key = "sites" if isinstance(yamlmini.get(root, ["sites"]), yamlmini.Seq) else "site"
        sites = yamlmini.get(root, [key])
        if not isinstance(sites, yamlmini.Seq):
            raise ConfigError(f"template {tpl}: no 'site:' (or 'sites:') list; a SUEWS YAML "
                              "config lists its sites under 'site:'")
        if site >= len(sites.items):
            raise ConfigError(f"template {tpl}: --option site={site + 1} but the template has "
                              f"{len(sites.items)} site(s)")
        base_path = [key, site, "properties", "land_cover", surface]
        if yamlmini.get(root, base_path) is None:
            have = yamlmini.get(root, base_path[:-1])
            has = ", ".join(have.keys) if isinstance(have, yamlmini.Map) else "nothing"
            raise ConfigError(f"template {tpl}: no {'.'.join(map(str, base_path))} (land_cover"
                              f" has {has}); add the surface block or choose another "
                              "--option surface")
    # write values (the fragment already holds them) and comments, bottom-up by line
    root = yamlmini.parse(text)
    edits = []
    for it in written:
        how, key = it.entry.address
        if how == "surface":
            path = base_path + [key]
        else:
            tl_node = yamlmini.get(root, base_path + ["thermal_layers"])
            if not isinstance(tl_node, yamlmini.Map):
                raise ConfigError(f"{where}: no {'.'.join(map(str, base_path))}.thermal_layers;"
                                  " add thermal_layers with dz, k and rho_cp (5 values each)")
            if key == "heat_capacity":
                found = [k for k in ("rho_cp", "cv", "cp") if k in tl_node.keys]
                if not found:
                    raise ConfigError(f"{where}: thermal_layers has no heat capacity (rho_cp, "
                                      "cv or cp, by SUEWS version); add 'rho_cp: {value: "
                                      "[...]}' with one value per layer")
                key = found[0]
            path = base_path + ["thermal_layers", key]
        node = yamlmini.get(root, path)
        if node is None:
            raise ConfigError(f"{where}: no {'.'.join(map(str, path))}; add it (SUEWS writes "
                              f"'{path[-1]}:' with 'value:' below)")
        key_line = _key_line(root, path)
        it.where = ".".join(f"[{p + 1}]" if isinstance(p, int) else p for p in path) \
            .replace(".[", "[")
        if isinstance(node, yamlmini.Map):
            node = node.keys.get("value")
        if isinstance(node, yamlmini.Scalar):
            new: Any = it.host_value
        elif isinstance(node, (yamlmini.Seq, yamlmini.Flow)):
            new = [it.host_value] * len(node.items)
        else:
            raise ConfigError(f"{where}: {'.'.join(map(str, path))} has no value to replace")
        edits.append((key_line, node, new, it))
    for key_line, node, new, it in sorted(edits, key=lambda t: t[0], reverse=True):
        text = yamlmini.replace(text, node, new)
        text = yamlmini.insert_comment(text, key_line, it.comment(cal))
    notes = [it.comment(cal) for it in items if it.status != "written"]
    if tpl is None and any(it.entry.address[0] == "layers" for it in written):
        notes.append("sebcal: thermal_layers.dz = SUEWS default layer thicknesses (0.1 .. 0.5 m),"
                     " not calibrated: keep your own dz")
    text = _header(cal, "suews", tpl, items, "#") + \
        "".join(f"# {ln}\n" for n in notes for ln in n.splitlines()) + text
    check = yamlmini.loads(text)        # reads back
    del check
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    return items, warnings


def _key_line(root: Any, path: list[Any]) -> int:
    parent = yamlmini.get(root, path[:-1])
    return parent.key_lines[path[-1]]


_WRITERS: dict[str, Callable] = {
    "sebcal": _write_sebcal,
    "jules": _write_jules,
    "noahmp": _write_noahmp,
    "clm": _write_clm,
    "suews": _write_suews,
}
