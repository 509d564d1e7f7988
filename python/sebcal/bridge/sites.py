"""`sebcal export` of a `calibrate-sites` result (sites.json): each class's shared values into
its slot of the host's class table, in one file.

A multi-site calibration shares parameters per class of sites (``[multisite.shared] lambda =
"soil_class"``: one value per soil class; ``"all"``: one for every site). A host keeps such
values per class too: Noah-MP per soil type (MAXSMC, QTZ of the STAS table), CTSM per urban
density class (TK/CV_IMPROAD), SUEWS per land-cover surface. ``--option classes="sandy
loam=1;urban lawn=6"`` says which slot each class goes to; the export writes the classes one
after the other into the same file (each with its own conversion at its own porosity and its
host-equivalence lines), then checks that no class's entries were overwritten by another's
(Noah-MP's CSOIL_DATA, for one, is one value for every soil type).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError, SebcalError
from .common import ExportResult, Item, check_out

#: host -> the option that names a class's slot
SLOTS = {"noahmp": "soil_type", "clm": "urban_class", "suews": "surface"}


def is_sites_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is the sites.json of `sebcal calibrate-sites`."""
    p = Path(path)
    if p.is_dir():
        p = p / "sites.json"
    if p.suffix != ".json" or not p.is_file():
        return False
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(doc, dict) and "sites" in doc and "multisite" in doc


def _same(old: Any, new: Any) -> bool:
    olds = old if isinstance(old, (list, tuple)) else [old]
    news = new if isinstance(new, (list, tuple)) else [new] * len(olds)
    try:
        return len(olds) == len(news) and all(abs(float(a) - float(b)) <= 1e-12 * abs(float(b))
                                              for a, b in zip(olds, news))
    except (TypeError, ValueError):
        return old == new


def _classes(doc: dict, where: Path) -> dict[str, dict]:
    """class -> {"values": {param: value}, "std": {...}, "sites": [...], "site": first site}.

    Classes come from the per-class keys (e.g. soil_class); a value shared by all sites
    ("all") goes into every class (a single class "all" when nothing is shared per class)."""
    shared = doc.get("shared") or {}
    if not shared:
        raise ConfigError(f"{where}: the multi-site calibration shares no parameter "
                          "([multisite.shared] is empty), so it has no class values to export")
    keys = {k for k in shared.values() if k != "all"}
    out: dict[str, dict] = {}
    common: dict[str, tuple[float, Any]] = {}
    for site in doc.get("sites") or []:
        if site.get("failed"):
            continue
        attrs = site.get("attributes") or {}
        for param, key in shared.items():
            if param not in (site.get("shared") or {}):
                continue
            v = (site.get("values") or {}).get(param)
            if v is None:
                continue
            sd = (site.get("std") or {}).get(param)
            targets = [str(attrs.get(k)) for k in sorted(keys) if key == k] if key != "all" \
                else []
            if key == "all":
                if param in common and abs(common[param][0] - v) > 1e-12 * abs(v):
                    raise SebcalError(f"{where}: {param}, shared by all sites, differs between "
                                      f"them ({common[param][0]} and {v})")
                common[param] = (v, sd)
            for cls in targets:
                c = out.setdefault(cls, {"values": {}, "std": {}, "sites": [], "site": site})
                if param in c["values"] and abs(c["values"][param] - v) > 1e-12 * abs(v):
                    raise SebcalError(f"{where}: {param} differs between the sites of class "
                                      f"'{cls}' ({c['values'][param]} and {v}); a shared value "
                                      "is one value")
                c["values"][param] = v
                c["std"][param] = sd
                if site["name"] not in c["sites"]:
                    c["sites"].append(site["name"])
    if not out and common:
        first = next(s for s in doc["sites"] if not s.get("failed"))
        out["all"] = {"values": {}, "std": {}, "sites": [], "site": first}
    for c in out.values():
        for param, (v, sd) in common.items():
            c["values"].setdefault(param, v)
            c["std"].setdefault(param, sd)
    if not out:
        raise ConfigError(f"{where}: no site that finished fits a shared parameter")
    return out


def _calibration(cls: str, c: dict, doc_path: Path, theta: float | None) -> Any:
    from ..config import load_config
    from ..paramsfile import Calibrated

    cfg_path = Path(c["site"]["config"])
    if not cfg_path.is_absolute():
        cfg_path = (doc_path.parent / cfg_path).resolve()
    config = load_config(cfg_path)
    params = config.full_params().replace(**c["values"])
    fitted = {k: k in c["values"] for k in params}
    std = {k: c["std"].get(k) for k in params}
    data = {"fit": {"soil_moisture_mean": theta}, "class": cls}
    verdict = {"status": "none", "reasons": [],
               "notes": ["a multi-site result has no verdict; check each site's report"]}
    return Calibrated(doc_path, data, params, std, fitted, verdict, config)


def export_sites(path: str | os.PathLike, host: str, out: str | os.PathLike,
                 template: Any, force: bool = False, options: Mapping[str, Any] | None = None,
                 acknowledge: Iterable[str] = ()) -> ExportResult:
    """Write every class's shared values of a sites.json into its slot of one host file.

    Args:
        path: sites.json of `sebcal calibrate-sites` (or its folder).
        host: noahmp, clm or suews (the hosts with a class table).
        out: the file to write.
        template: the host file (required).
        options: host options; ``classes`` maps each class to its slot ("name=slot;..."),
            ``theta`` the mean soil moisture for moisture-dependent conversions (Noah-MP).

    Raises:
        ConfigError: a host without classes, a class without a slot, a bad sites.json;
        SebcalError: classes that overwrite each other's entries, a refused check.
    """
    from .export import export

    p = Path(path)
    if p.is_dir():
        p = p / "sites.json"
    if host not in SLOTS:
        raise ConfigError(f"export of a multi-site result to {host}: {host} has no table of "
                          f"classes sebcal writes; hosts with one: {', '.join(SLOTS)}")
    doc = json.loads(p.read_text(encoding="utf-8"))
    classes = _classes(doc, p)
    opts = dict(options or {})
    raw = opts.pop("classes", None)
    theta = opts.pop("theta", None) if host != "noahmp" else opts.get("theta")
    slot_opt = SLOTS[host]
    if slot_opt in opts:
        raise ConfigError(f"export of a multi-site result: give the slot of each class with "
                          f"--option classes=\"CLASS={slot_opt.upper()};...\", not "
                          f"--option {slot_opt}")
    if raw is None:
        raise ConfigError(f"export of a multi-site result to {host}: say which {slot_opt} each "
                          f"class goes to, e.g. --option classes=\""
                          + ";".join(f"{c}=..." for c in classes) + "\"")
    mapping: dict[str, str] = {}
    for part in str(raw).split(";"):
        if not part.strip():
            continue
        name, sep, slot = part.rpartition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--option classes: '{part}' is not CLASS={slot_opt.upper()}")
        mapping[name.strip()] = slot.strip()
    missing = [c for c in classes if c not in mapping]
    if missing:
        raise ConfigError(f"--option classes: no {slot_opt} for class(es) {', '.join(missing)} "
                          f"(the classes are {', '.join(classes)})")
    unknown = [c for c in mapping if c not in classes]
    if unknown:
        raise ConfigError(f"--option classes: no class {', '.join(unknown)} in {p} (the "
                          f"classes are {', '.join(classes)})")
    tpls = [Path(template)] if isinstance(template, (str, os.PathLike)) else \
        [Path(t) for t in (template or [])]
    if len(tpls) != 1:
        raise ConfigError(f"export of a multi-site result to {host} needs one --template")
    out = Path(out)
    check_out(out, tpls, force)
    th = None if theta is None else float(theta)
    cals = {c: _calibration(c, classes[c], p, th) for c in classes}
    items: list[Item] = []
    skipped: list[str] = []
    warnings: list[str] = []
    equivalence: list[str] = []
    with tempfile.TemporaryDirectory(dir=out.parent) as tmpd:
        cur = tpls[0]
        for k, c in enumerate(classes):
            step = Path(tmpd) / f"{k}{tpls[0].suffix}"
            res = export(cals[c], host, step, template=cur,
                         options={**opts, slot_opt: mapping[c]}, allow_implausible=True,
                         acknowledge=acknowledge)
            for it in res.items:
                it.where = f"[{c}] {it.where}"
            items += res.items
            skipped += [f"[{c}] {s}" for s in res.skipped]
            warnings += [f"[{c}] {w}" for w in res.warnings]
            equivalence += [f"[{c}] {e}" for e in res.equivalence]
            cur = step
        # every class's entries still hold its values in the final file: re-exporting a class
        # into it changes nothing
        for c in classes:
            again = export(cals[c], host, Path(tmpd) / "check", template=cur, force=True,
                           options={**opts, slot_opt: mapping[c]}, allow_implausible=True,
                           acknowledge=set(acknowledge) | {"host-equivalence"})
            for it in again.items:
                if not _same(it.old, it.new):
                    raise SebcalError(f"export of {p}: class '{c}' needs {it.where} = "
                                      f"{it.new}, but another class wrote {it.old} there: the "
                                      f"host has one such entry for all classes, and they need "
                                      "different values (a value shared per class, or one "
                                      "value converted at each class's own porosity); nothing "
                                      "was written. Export the classes to separate files, or "
                                      "choose slots the entry suits")
        shutil.move(str(cur), str(out))
    return ExportResult(host, res.version, [out], tpls, items, skipped, warnings, equivalence)


__all__ = ["SLOTS", "export_sites", "is_sites_file"]
