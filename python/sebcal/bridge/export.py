"""`sebcal export`: write calibrated parameters into a host model's input files."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError, SebcalError
from ..paramsfile import Calibrated, load_params
from .common import Context, ExportResult, check_out, parse_options, read_namelist
from .hosts import check_host

#: largest text template [bytes]: hosts' text files (namelists, MPTABLE.TBL, YAML) are well
#: below 1 MB, and a namelist parser needs minutes for tens of MB, so a larger file is refused
#: at once (binary NetCDF templates are read by the NetCDF library and are not limited)
MAX_TEXT_TEMPLATE = 4 << 20


def _check_size(t: Path) -> None:
    size = t.stat().st_size
    if size <= MAX_TEXT_TEMPLATE:
        return
    with open(t, "rb") as f:
        magic = f.read(4)
    if magic[:3] == b"CDF" or magic == b"\x89HDF":
        return
    raise ConfigError(f"template {t}: {size / 2**20:.0f} MiB of text, more than the "
                      f"{MAX_TEXT_TEMPLATE >> 20} MiB a host's text file has (a namelist, "
                      "MPTABLE.TBL or YAML file is well below 1 MB); give the host's own file")


def _roles(host, templates: list[Path]) -> dict[str, Path]:
    """File role -> template: namelist hosts by the groups each file holds, the others by
    their single file."""
    for t in templates:
        if not t.is_file():
            raise ConfigError(f"template '{t}' does not exist or is not a file; give your "
                              f"existing {host.NAME} file")
        _check_size(t)
    if not templates:
        return {}
    groups = getattr(host, "GROUPS", None)
    if groups is None:
        if len(templates) > 1:
            raise ConfigError(f"export to {host.NAME} takes one --template ({host.FILES[0]}), "
                              f"got {len(templates)}")
        t = templates[0]
        if host.NAME in ("sebcal", "noahmp"):
            read_namelist(t)
        return {host.FILES[0]: t}
    roles: dict[str, Path] = {}
    for t in templates:
        nml = read_namelist(t)
        found = [role for role, g in groups.items() if g in nml]
        if not found:
            raise ConfigError(f"template {t} holds none of the {host.NAME} groups sebcal reads "
                              f"({', '.join('&' + g.upper() for g in groups.values())})")
        for role in found:
            if role in roles:
                raise ConfigError(f"&{groups[role].upper()} is in two templates: {roles[role]} "
                                  f"and {t}")
            roles[role] = t
    return roles


_USABLE = ("usable", "usable with caveats")


def select(cal: Calibrated, stage: str | None = None, only: Iterable[str] | None = None
           ) -> tuple[Calibrated, dict, str]:
    """The part of a calibration to export: a stage's fitted parameters (its values and
    verdict), or the named ones (their stages' verdicts).

    Returns:
        (the calibration with only those parameters fitted, the verdict that governs the
        export, the verdict in words for the files' headers).
    """
    import dataclasses

    from ..vocabulary import parameter

    whole = (cal.verdict or {}).get("status", "none")
    stages = cal.data.get("stages") or []
    names = [st.get("name") for st in stages]
    fitted = dict(cal.fitted)
    params = cal.params
    verdict = cal.verdict or {}
    text = whole
    if stage is not None:
        if not stages:
            raise ConfigError(f"--stage {stage}: {cal.path or 'params.json'} has no stages (the "
                              "calibration had no [[calibration.stages]]); export it whole, or "
                              "choose parameters with --only")
        if stage not in names:
            raise ConfigError(f"--stage {stage}: no such stage; the stages are "
                              f"{', '.join(map(str, names))}")
        st = stages[names.index(stage)]
        free = list(st.get("free") or [])
        fitted = {k: (k in free and bool(v)) for k, v in cal.fitted.items()}
        vals = {k: v for k, v in (st.get("values") or {}).items()
                if k in free and v is not None and k in params}
        if vals:
            params = params.replace(**vals)
        verdict = st.get("verdict") or {"status": "none"}
        text = (f"{verdict.get('status', 'none')} (stage '{stage}': "
                f"{', '.join(free)}; whole calibration: {whole})")
    if only is not None:
        want = [str(x).strip() for x in only if str(x).strip()]
        canon = []
        for w in want:
            try:
                canon.append(parameter(w).name)
            except (ConfigError, KeyError):
                raise ConfigError(f"--only {w}: unknown parameter") from None
        for w in canon:
            if not fitted.get(w):
                raise ConfigError(f"--only {w}: not fitted in this "
                                  f"{'stage' if stage else 'calibration'} (fitted: "
                                  f"{', '.join(k for k, v in fitted.items() if v) or 'none'})")
        fitted = {k: (v and k in canon) for k, v in fitted.items()}
        if stage is None and stages:
            # the verdict of each stage that fitted the named parameters
            owners = {}
            for w in canon:
                own = [st for st in stages if w in (st.get("free") or [])]
                if own:
                    owners[own[-1].get("name")] = own[-1]
            if owners:
                worst = [st.get("verdict") or {"status": "none"} for st in owners.values()]
                bad = [v for v in worst if v.get("status") not in _USABLE]
                verdict = bad[0] if bad else worst[0]
                text = (", ".join(f"stage '{n}': {(st.get('verdict') or {}).get('status')}"
                                  for n, st in owners.items())
                        + f"; whole calibration: {whole}")
        text = f"{text}; only {', '.join(canon)}"
    if stage is None and only is None:
        return cal, verdict, text
    return dataclasses.replace(cal, params=params, fitted=fitted), verdict, text


def export(params: Calibrated | str | os.PathLike | Mapping, host: str, out: str | os.PathLike,
           template: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
           force: bool = False, options: Mapping[str, Any] | None = None,
           allow_implausible: bool = False, include_fixed: bool = False,
           acknowledge: Iterable[str] = (), stage: str | None = None,
           only: Iterable[str] | None = None) -> ExportResult:
    """Write the calibrated parameters into a host model's input file(s).

    Args:
        params: params.json (path, content or :class:`Calibrated`), or the sites.json of
            `sebcal calibrate-sites` (:func:`sebcal.bridge.sites.export_sites`: each class's
            shared values into its slot, ``options["classes"]``).
        host: sebcal, jules, noahmp, clm or suews.
        out: the file to write; a folder when the host's entries live in several template
            files (JULES): each edited file is written there under its own name.
        template: the user's host file(s); only the entries sebcal owns change. Every host but
            sebcal needs them (docs/hosts.md says why).
        force: overwrite existing output files.
        options: host options (docs/hosts.md), e.g. {"soil_type": 3}.
        allow_implausible: export a calibration whose verdict is "not usable for a host".
        include_fixed: also write the parameters the calibration did not fit.
        acknowledge: situations in which the host would ignore what is written (their keys
            are in the error message) that the user accepts; ``host-equivalence`` accepts a
            host value more than 1 % from the calibrated one.
        stage: export only the parameters fitted by this stage of a staged calibration, with
            that stage's values; the stage's verdict governs (and heads the files).
        only: export only these fitted parameters (their stages' verdicts govern).

    Returns:
        the :class:`ExportResult` (every entry written with its old and new value).

    Raises:
        ConfigError: unknown host or option, bad params.json or template, a value the host
            cannot take; SebcalError: a refused verdict, an entry the host would ignore (not
            acknowledged), an output that exists (without force) or is a template.
    """
    mod = check_host(host)
    if isinstance(params, (str, os.PathLike)):
        from .sites import export_sites, is_sites_file

        if is_sites_file(params):
            if stage is not None or only is not None or include_fixed:
                raise ConfigError("--stage, --only and --include-fixed apply to a params.json; "
                                  "a multi-site result exports its shared values per class")
            return export_sites(params, mod.NAME, out, template, force=force, options=options,
                                acknowledge=acknowledge)
    cal = params if isinstance(params, Calibrated) else load_params(params)
    whole_fitted = dict(cal.fitted)
    cal, verdict, verdict_text = select(cal, stage, only)
    if verdict.get("status") == "not usable for a host" and not allow_implausible:
        reasons = "; ".join(verdict.get("reasons", [])[:3])
        usable = [st.get("name") for st in (cal.data.get("stages") or [])
                  if (st.get("verdict") or {}).get("status") in _USABLE]
        part = (f" The usable stage(s) {', '.join(map(str, usable))} can be exported alone "
                "with --stage NAME." if usable and stage is None else "")
        raise SebcalError(f"the verdict is 'not usable for a host' ({reasons}); sebcal does not "
                          "put these values into a host model's file. Fix the calibration "
                          f"(docs/calibration.md), or pass --allow-implausible to export them "
                          f"anyway.{part}")
    opts = parse_options(mod.NAME, dict(options or {}), mod.OPTIONS)
    if template is None:
        tpls: list[Path] = []
    elif isinstance(template, (str, os.PathLike)):
        tpls = [Path(template)]
    else:
        tpls = [Path(t) for t in template]
    if mod.NEEDS_TEMPLATE and not tpls:
        # the host writer says which file it needs and where to get it
        ctx = Context(cal, mod.NAME, opts, {}, Path(out))
        mod.write(ctx)
        raise ConfigError(f"export to {mod.NAME} needs --template")      # pragma: no cover
    roles = _roles(mod, tpls)
    edited = {roles[r] for r in getattr(mod, "EDITED", mod.FILES) if r in roles}
    out = Path(out)
    if isinstance(params, (str, os.PathLike)) and Path(out).resolve() == Path(params).resolve():
        raise SebcalError(f"--out {out} is the params.json being exported; choose another "
                          "file")
    out_is_dir = len(edited) > 1
    if out_is_dir:
        if out.exists() and not out.is_dir():
            raise SebcalError(f"--out {out}: export to {mod.NAME} edits {len(edited)} files "
                              f"({', '.join(p.name for p in edited)}): give a folder")
        out.mkdir(parents=True, exist_ok=True)
        for t in edited:
            check_out(out / t.name, tpls, force)
    else:
        check_out(out, tpls, force)
    kw = dict(include_fixed=include_fixed, out_is_dir=out_is_dir,
              acknowledged=set(acknowledge), verdict_text=verdict_text,
              excluded={k for k, v in whole_fitted.items() if v and not cal.fitted.get(k)})
    if not out_is_dir:
        ctx = Context(cal, mod.NAME, opts, roles, out, **kw)
        items, skipped = mod.write(ctx)
        paths = ctx.cache.get("written") or [out]
    else:
        # several files are one set: written beside the folder, moved in when all are done
        from ..output import output_set

        with output_set(out) as stage:
            ctx = Context(cal, mod.NAME, opts, roles, stage, **kw)
            items, skipped = mod.write(ctx)
        paths = [out / Path(p).name for p in ctx.cache.get("written") or []] or [out]
    return ExportResult(mod.NAME, mod.VERSION, list(paths), tpls, items, skipped, ctx.warnings,
                        list(ctx.equivalence))


__all__ = ["export", "select"]
