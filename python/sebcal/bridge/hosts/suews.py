"""SUEWS (supy 2026.x YAML configuration, schema 2026.5: ``sites[i].properties.land_cover
.<surface>``, values under ``value:``).

Written, for the chosen surface (default bsoil): ``alb`` <- alpha, ``emis`` <- eps, and the
``thermal_layers`` ``k`` <- lambda and ``rho_cp`` <- C (every layer; per layer when the
calibration has as many soil layers). Which of them SUEWS uses depends on the storage-heat
method (supy data_model StorageHeatMethod): OHM (1) uses neither k nor rho_cp, DyOHM (6) the
first layer's, EHC (5) and ESTM (4) every layer's. A SUEWS config is large and site-specific,
so the export edits the user's YAML (--template, ruamel.yaml round trip: comments and layout
kept) and refuses without one; supy's own sample is
``supy/sample_data/sample_config.yml``.
"""

from __future__ import annotations

from typing import Any

from ...errors import ConfigError
from ...output import atomic_path
from ..common import (
    Context,
    Equivalent,
    Item,
    Option,
    Row,
    YamlAddress,
    calibrated_properties,
    check_equivalence,
    plan,
)

NAME = "suews"
VERSION = "SUEWS supy 2026.x YAML (schema 2026.5)"
FILES = ("config.yml",)
NEEDS_TEMPLATE = True
SURFACES = ("paved", "bldgs", "evetr", "dectr", "grass", "bsoil", "water")
OPTIONS = {
    "surface": Option("land_cover surface the soil calibration describes (default bsoil)", str,
                      SURFACES),
    "site": Option("0-based index of the site in sites (default 0; required when there are "
                   "several)", int),
}
#: storage heat methods (supy data_model StorageHeatMethod) -> thermal layers used
STORAGE = {0: ("observed", "none"), 1: ("OHM", "none"), 3: ("ANOHM", "none"),
           4: ("ESTM", "all"), 5: ("EHC", "all"), 6: ("DyOHM", "first"),
           7: ("STEBBS", "none")}
_NAMES = {"observed": 0, "ohm": 1, "anohm": 3, "estm": 4, "ehc": 5, "dyohm": 6, "stebbs": 7}


def _lc(key: str, *tail: str) -> YamlAddress:
    return YamlAddress(lambda ctx: ("sites", ctx.cache["site"], "properties", "land_cover",
                                    ctx.cache["surface"], key, *tail, "value"),
                       f"sites[site].properties.land_cover.<surface>.{'.'.join((key, *tail))}")


def _layers(v: Any, ctx: Context) -> list[float]:
    n = ctx.cache["nlayers_host"]
    vals = [float(x) for x in (v if isinstance(v, tuple) else (v,))]
    if len(vals) == 1:
        return vals * n
    if len(vals) != n:
        raise ConfigError(f"export to suews: the calibration has {len(vals)} soil layers, the "
                          f"surface's thermal_layers {n}; calibrate one layer or {n}")
    return vals


ROWS = (
    Row("alpha", _lc("alb"), "1", "direct", "alb = alpha", "", ("SUEWS-yaml",),
        limits=(0.0, 1.0)),
    Row("eps", _lc("emis"), "1", "direct", "emis = eps", "", ("SUEWS-yaml",), limits=(0.0, 1.0)),
    Row("lambda", _lc("thermal_layers", "k"), "W m-1 K-1", "direct",
        "k = lambda on every thermal layer",
        "used by EHC and ESTM (every layer) and DyOHM (the first layer); OHM ignores it",
        ("SUEWS-yaml", "SUEWS-storage"), convert=_layers, limits=(0.01, 20.0)),
    Row("C", _lc("thermal_layers", "rho_cp"), "J m-3 K-1", "direct",
        "rho_cp = C on every thermal layer", "as k", ("SUEWS-yaml", "SUEWS-storage"),
        convert=_layers, limits=(1e5, 1e8)),
)


def _storage_method(model: Any) -> int | None:
    phys = (model or {}).get("physics") or {}
    flat = phys.get("storageheatmethod")
    if isinstance(flat, dict) and "value" in flat:
        return int(flat["value"])
    sh = phys.get("storage_heat")
    if isinstance(sh, dict):
        if "value" in sh:
            return int(sh["value"])
        keys = [k for k in sh if str(k).lower() in _NAMES]
        if len(keys) == 1:
            return _NAMES[str(keys[0]).lower()]
    if isinstance(sh, str) and sh.lower() in _NAMES:
        return _NAMES[sh.lower()]
    return None


def _equivalence(ctx: Context, doc: Any, uses: tuple[str, str], wrote: set[str]) -> list[str]:
    """What SUEWS takes from the edited config: the first thermal layer's k and rho_cp (the
    layer at the surface, which DyOHM uses alone and EHC/ESTM first) and alb."""
    lc = doc["sites"][ctx.cache["site"]]["properties"]["land_cover"][ctx.cache["surface"]]
    ref = calibrated_properties(ctx, None)
    where = f"land_cover.{ctx.cache['surface']}"
    eqs = []
    tl = lc.get("thermal_layers") or {}
    for p, key, unit in (("lambda", "k", "W m-1 K-1"), ("C", "rho_cp", "J m-3 K-1")):
        if p in wrote and p in ref:
            v = (tl.get(key) or {}).get("value")
            first = float(v[0] if isinstance(v, list) else v)
            eqs.append(Equivalent(p, ref[p], first, unit, f"SUEWS {uses[0]} reads {where}."
                                  f"thermal_layers.{key}[0]"))
    if "alpha" in wrote and "alpha" in ref:
        eqs.append(Equivalent("alpha", ref["alpha"], float(lc["alb"]["value"]), "1",
                              f"SUEWS {where}.alb"))
    return check_equivalence(ctx, eqs)


def write(ctx: Context) -> tuple[list[Item], list[str]]:
    from ruamel.yaml import YAML

    tpl = ctx.templates.get("config.yml")
    if tpl is None:
        raise ConfigError("export to suews needs your SUEWS YAML configuration as --template "
                          "(supy's sample: supy/sample_data/sample_config.yml): sebcal changes "
                          "only the entries it owns and keeps the rest")
    yaml = YAML()
    yaml.preserve_quotes = True
    try:
        doc = yaml.load(tpl.read_text())
    except Exception as exc:      # noqa: BLE001 - ruamel raises many kinds
        raise ConfigError(f"template {tpl}: not readable YAML ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sites"), list):
        old = " (it has 'site:', the layout before supy 2025)" if isinstance(doc, dict) and \
            "site" in doc else ""
        raise ConfigError(f"template {tpl}: no 'sites:' list{old}; supy 2026.x reads "
                          "sites: [...]")
    sites = doc["sites"]
    site = ctx.option("site")
    if site is None:
        if len(sites) != 1:
            raise ConfigError(f"template {tpl} has {len(sites)} sites: give --option site=I "
                              "(0-based)")
        site = 0
    if not 0 <= site < len(sites):
        raise ConfigError(f"--option site={site}: the template has {len(sites)} sites")
    surface = ctx.option("surface", "bsoil")
    ctx.cache.update(site=site, surface=surface)
    try:
        lc = sites[site]["properties"]["land_cover"][surface]
    except (KeyError, TypeError):
        raise ConfigError(f"template {tpl}: no sites[{site}].properties.land_cover.{surface}") \
            from None
    sfr = (lc.get("sfr") or {}).get("value")
    if sfr is not None and float(sfr) == 0.0:
        ctx.warn("suews-zero-fraction", f"land_cover.{surface}.sfr = 0 in the template: SUEWS "
                 f"gives this surface no area, so the values written would change nothing; "
                 "choose the surface the calibrated soil describes with --option surface=...")
    layers = (lc.get("thermal_layers") or {}).get("k", {}).get("value")
    ctx.cache["nlayers_host"] = len(layers) if isinstance(layers, list) else 1
    method = _storage_method(doc.get("model"))
    todo, skipped = plan(ctx, ROWS)
    uses = STORAGE.get(method, ("unknown", "unknown"))
    if any(r.param in ("lambda", "C") for r, _, _ in todo) and uses[1] == "none":
        ctx.warn("suews-storage-method", f"the template's storage heat method is {uses[0]} "
                 f"({method}), which does not use thermal_layers k and rho_cp (only EHC, ESTM "
                 "and DyOHM do)")
    items = []
    for row, value, fitted in todo:
        path = row.address.path(ctx)
        node = doc
        for key in path[:-1]:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                raise ConfigError(f"template {tpl}: no {'.'.join(str(p) for p in path[:-1])}") \
                    from None
        old = node.get("value")
        old_copy = list(old) if isinstance(old, list) else old
        if isinstance(value, list):
            new: Any = [float(x) for x in value]
            if isinstance(old, list) and len(old) == len(new):
                for i, x in enumerate(new):      # in place: the sequence keeps its style
                    old[i] = x
            else:
                node["value"] = new
        else:
            new = float(value)
            node["value"] = new
        note = ""
        if row.param in ("lambda", "C") and uses[1] == "first":
            note = "DyOHM uses the first layer"
        items.append(Item(row, ".".join(str(p) for p in path[:-1]), ctx.value(row.param),
                          fitted, new, old_copy, note))
    _equivalence(ctx, doc, uses, {it.row.param for it in items})
    if isinstance(doc, dict):
        from ..common import header

        doc.yaml_set_start_comment("\n".join(line[2:] for line in header(ctx, "#", items,
                                                                           VERSION)))
    with atomic_path(ctx.out) as tmp:
        with open(tmp, "w") as fh:
            yaml.dump(doc, fh)
        back = YAML(typ="safe").load(tmp.read_text())
        for it in items:
            node = back
            for key in it.where.split("."):
                node = node[int(key)] if key.isdigit() else node[key]
            got = node["value"]
            want = it.new
            if (isinstance(want, list) and [float(x) for x in got[:len(want)]] != want) or \
                    (not isinstance(want, list) and float(got) != want):
                raise ConfigError(f"export to suews: {it.where} reads back as {got}, not {want}")
    return items, skipped
