"""The scheme's own namelist (fortran/sebcal_namelist.f90, docs/fortran.md).

Without a template the export is a complete namelist: every parameter the calibration's
options use (fitted and fixed: the scheme needs them all), its soil layers, grid, time step
and options; the scheme's reader (`read_namelist`) accepts it and reproduces the calibration's
model. With a template only the fitted parameters change (the fixed ones too with
--include-fixed).
"""

from __future__ import annotations

from typing import Any

from ...vocabulary import PARAMETERS
from ..common import Context, Item, NamelistAddress, Option, Row, header, patch_namelist, plan

NAME = "sebcal"
VERSION = "sebcal namelist (fortran/sebcal_namelist.f90)"
FILES = ("sebcal.nml",)
NEEDS_TEMPLATE = False
OPTIONS: dict[str, Option] = {}
#: &sebcal_params holds these soil parameters when there is one layer
_ONE_LAYER_IN_PARAMS = ("lambda", "C")


def _rows() -> tuple[Row, ...]:
    rows = []
    for p in PARAMETERS.values():
        if p.group == "state":
            continue
        grp = "sebcal_soil" if p.group == "soil" else "sebcal_params"
        rows.append(Row(p.name, NamelistAddress("sebcal.nml", grp, p.nml_name), p.unit, "direct",
                        "the same parameter", "", ("sebcal",),
                        convert=lambda v, ctx: list(v) if isinstance(v, tuple) else float(v)))
    return tuple(rows)


ROWS = _rows()


def groups(cal: Any) -> dict[str, dict[str, Any]]:
    """The namelist groups of a calibration: every parameter its options use, the soil layers,
    the grid and every option (docs/fortran.md)."""
    spec = cal.config.spec
    full = cal.params
    params: dict[str, Any] = {}
    soil: dict[str, Any] = {}
    for name, value in full.items():
        p = PARAMETERS[name]
        if p.group == "state":
            continue
        if p.group == "soil":
            vals = [float(v) for v in full.layers(name, spec.nlayers)]
            if spec.nlayers == 1 and name in _ONE_LAYER_IN_PARAMS:
                params[p.nml_name] = vals[0]
            else:
                soil[p.nml_name] = vals
        else:
            params[p.nml_name] = float(value)
    if soil or spec.nlayers > 1:
        soil = {"nlayers": spec.nlayers,
                "layer_bottoms": list(spec.layer_bottoms) or [float(spec.node_depths[-1])],
                **soil}
    z = spec.node_depths
    grid = ({"nodes": int(spec.nz), "depth": float(z[-1]), "top_depth": float(z[0])}
            if spec.uniform else {"nodes": int(spec.nz), "node_depths": [float(x) for x in z]})
    opts: dict[str, Any] = {"dt": float(spec.dt)}
    opts.update(dict(spec.options))
    opts.update(tol=float(spec.tol), max_iter=int(spec.max_iter),
                spinup_tol=float(spec.spinup_tol), spinup_max_cycles=int(spec.spinup_max_cycles),
                wind_min=float(spec.wind_min))
    if spec.init_profile is not None:
        opts["init_profile"] = [float(t) for t in spec.init_profile]
    out = {"sebcal_params": params}
    if soil:
        out["sebcal_soil"] = soil
    out.update(sebcal_grid=grid, sebcal_options=opts)
    return out


def write(ctx: Context) -> tuple[list[Item], list[str]]:
    import f90nml

    from ...output import atomic_path

    tpl = ctx.templates.get("sebcal.nml")
    if tpl is None:
        g = groups(ctx.cal)
        items = []
        for row in ROWS:
            grp = "sebcal_params" if row.param in _ONE_LAYER_IN_PARAMS and \
                row.address.key in g["sebcal_params"] else row.address.group
            if row.address.key in g.get(grp, {}):
                items.append(Item(row, f"&{grp} {row.address.key}", ctx.value(row.param),
                                  ctx.fitted(row.param), g[grp][row.address.key]))
        nml = f90nml.Namelist(g)
        nml.float_format = ".17g"
        with atomic_path(ctx.out) as tmp:
            tmp.write_text("\n".join(header(ctx, "!", items, VERSION)) + "\n" + str(nml) + "\n")
        return items, []
    from ...errors import ConfigError, FortranError
    from ...fortran import read_namelist as scheme_reader
    from ..common import read_namelist

    try:                     # the scheme's own reader: a template it rejects is refused
        scheme_reader(tpl)
    except FortranError as exc:
        raise ConfigError(f"template {tpl}: the scheme's namelist reader rejects it ({exc}); "
                          "give a complete sebcal namelist (an export without --template "
                          "writes one)") from None
    old = read_namelist(tpl)
    todo, skipped = plan(ctx, ROWS)
    patch: dict[str, dict[str, Any]] = {}
    items = []
    for row, value, fitted in todo:
        grp = row.address.group
        key = row.address.key
        if grp == "sebcal_soil" and key not in old.get("sebcal_soil", {}) and \
                key in old.get("sebcal_params", {}):
            grp = "sebcal_params"
            value = value[0] if isinstance(value, list) else value
        patch.setdefault(grp, {})[key] = value
        items.append(Item(row, f"&{grp} {key}", ctx.value(row.param), fitted, value,
                          old.get(grp, {}).get(key)))
    patch_namelist(tpl, patch, ctx.out, header(ctx, "!", items, VERSION))
    scheme_reader(ctx.out)
    return items, skipped
