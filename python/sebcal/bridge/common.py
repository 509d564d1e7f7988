"""What every host exporter shares: mapping rows with typed addresses, the export context,
the items written, the result, the host-equivalence check (the host's formulas applied to
what it will read, beside the calibrated values), the digits a value's standard error
supports, and the editing of Fortran namelists (:mod:`.nmltext` splices single elements,
f90nml reads the result back) and of YAML (ruamel.yaml round trip).

A host module (:mod:`sebcal.bridge.hosts`) declares

* ``NAME``, ``VERSION`` (the host version whose current file layout it targets), ``FILES``
  (the file roles it edits, e.g. ancillaries.nml), ``OPTIONS`` (name -> :class:`Option`),
  ``ROWS`` (the mapping rows) and ``NEEDS_TEMPLATE``;
* ``write(ctx) -> list[Item]``: edit the templates (or write a complete file) and return what
  changed.

Rows name a sebcal parameter, a typed address in the host's files, the host unit, how the
value converts (``direct``: the host means the same thing; ``approximate``: a documented
conversion), the caveat and the sources (keys of :data:`SOURCES` in docs/hosts.md).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, SebcalError
from ..output import atomic_path
from ..paramsfile import Calibrated

# ============================================================================ addresses


@dataclass(frozen=True)
class NamelistAddress:
    """A namelist member, optionally one element of it (index: 1-based, from the context)."""

    file: str                                   # file role, e.g. "ancillaries.nml"
    group: str
    key: str
    index: Callable[[Any], int] | None = None   # ctx -> 1-based element
    index_text: str = ""                        # how the element is chosen, for docs

    def describe(self) -> str:
        el = f"({self.index_text})" if self.index_text else ""
        return f"{self.file}: &{self.group} {self.key}{el}"


@dataclass(frozen=True)
class NetCDFAddress:
    """A NetCDF variable; index(ctx) gives the element (a tuple of slices/ints)."""

    var: str
    index: Callable[[Any], tuple] | None = None
    index_text: str = ""

    def describe(self) -> str:
        return f"{self.var}{'(' + self.index_text + ')' if self.index_text else ''}"


@dataclass(frozen=True)
class YamlAddress:
    """A YAML path under the site; path(ctx) gives the keys/indices."""

    path: Callable[[Any], tuple]
    text: str

    def describe(self) -> str:
        return self.text


Address = NamelistAddress | NetCDFAddress | YamlAddress


@dataclass(frozen=True)
class Row:
    """One sebcal parameter -> one host entry.

    Attributes:
        param: vocabulary name (its value, std and fitted flag come from params.json).
        address: where it goes.
        unit: the host unit.
        kind: "direct" or "approximate".
        convert: (value, ctx) -> host value; raises ConfigError when the host cannot take it.
        conversion: the conversion in words (docs, comments).
        caveat: what a modeller must know.
        sources: keys of SOURCES.
        when: ctx -> bool, whether the row applies (e.g. the soil option of the calibration).
        limits: the host's valid range (lo, hi) of the host value.
    """

    param: str
    address: Address
    unit: str
    kind: str
    conversion: str
    caveat: str
    sources: tuple[str, ...]
    convert: Callable[[float, Any], Any] = lambda v, ctx: v
    when: Callable[[Any], bool] = lambda ctx: True
    limits: tuple[float, float] = (-math.inf, math.inf)


@dataclass(frozen=True)
class Option:
    """An export option (--option KEY=VALUE)."""

    description: str
    kind: type = str
    choices: tuple[str, ...] = ()


# ============================================================================ items, results


@dataclass
class Item:
    """One entry the export wrote (or left, with why)."""

    row: Row
    where: str                 # the address with its element resolved
    value: Any                 # the sebcal value (a list for layered soil parameters)
    fitted: bool
    new: Any                   # host value written
    old: Any = None            # host value before (None: the entry is new)
    note: str = ""

    def line(self) -> str:
        fit = "fitted" if self.fitted else "fixed (--include-fixed)"
        old = "(new)" if self.old is None else _fmt(self.old)
        return (f"{self.where}: {old} -> {_fmt(self.new)} [{self.row.unit}] from "
                f"{self.row.param} ({fit}; {self.row.kind}{': ' + self.note if self.note else ''})")


def _fmt(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


@dataclass
class ExportResult:
    """What :func:`sebcal.bridge.export` wrote."""

    host: str
    version: str
    paths: list[Path]
    templates: list[Path]
    items: list[Item]
    skipped: list[str]          # parameters not written, with why
    warnings: list[str]
    equivalence: list[str] = field(default_factory=list)   # host value beside calibrated

    @property
    def path(self) -> Path:
        return self.paths[0]

    @property
    def template(self) -> Path | None:
        return self.templates[0] if self.templates else None

    def summary(self) -> list[str]:
        return ([it.line() for it in self.items] + [f"not written: {s}" for s in self.skipped]
                + [f"host computes: {e}" for e in self.equivalence])


# ============================================================================ context


@dataclass
class Context:
    """What a host writer needs: the calibration, the options, the templates, the output."""

    cal: Calibrated
    host: str
    options: dict[str, Any]
    templates: dict[str, Path]          # file role -> template path
    out: Path
    include_fixed: bool = False
    out_is_dir: bool = False
    acknowledged: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)
    equivalence: list[str] = field(default_factory=list)
    verdict_text: str = ""
    excluded: set[str] = field(default_factory=set)    # fitted, but outside --stage/--only

    def out_for(self, template: Path) -> Path:
        """Where the edited copy of ``template`` goes: --out itself, or --out/<its name>
        when the host edits several files."""
        return self.out / Path(template).name if self.out_is_dir else self.out

    def value(self, name: str) -> Any:
        return self.cal.params.get(name)

    def fitted(self, name: str) -> bool:
        return bool(self.cal.fitted.get(name))

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)

    def need(self, name: str, why: str) -> Any:
        if name not in self.options:
            raise ConfigError(f"export to {self.host}: {why}; give --option {name}=...")
        return self.options[name]

    def warn(self, key: str, text: str) -> None:
        """A situation the host would silently ignore: an error unless acknowledged with
        --acknowledge KEY."""
        if key in self.acknowledged:
            self.warnings.append(f"{text} (acknowledged: {key})")
            return
        raise SebcalError(f"export to {self.host}: {text.rstrip('.')}. Nothing was written; "
                          f"fix it, or pass --acknowledge {key} to export anyway")


def parse_options(host: str, raw: Mapping[str, Any], spec: Mapping[str, Option]
                  ) -> dict[str, Any]:
    import difflib

    out: dict[str, Any] = {}
    for k, v in raw.items():
        if k not in spec:
            near = difflib.get_close_matches(k, list(spec), n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise ConfigError(f"unknown option '{k}' for host {host}{hint}; options of {host}: "
                              f"{', '.join(spec) or 'none'}")
        o = spec[k]
        if o.choices and str(v) not in o.choices:
            raise ConfigError(f"--option {k}={v}: choose one of {', '.join(o.choices)}")
        try:
            out[k] = o.kind(v) if o.kind is not str else str(v)
        except (TypeError, ValueError):
            raise ConfigError(f"--option {k}={v}: not a {o.kind.__name__}") from None
        if isinstance(out[k], float) and not math.isfinite(out[k]):
            raise ConfigError(f"--option {k}={v}: not a finite number")
    return out


def plan(ctx: Context, rows: Sequence[Row]) -> tuple[list[tuple[Row, Any, bool]], list[str]]:
    """(row, host value, fitted) for every row to write, and why the others are not written.

    Only fitted parameters are written unless ctx.include_fixed; a row whose conversion cannot
    apply raises (never a silent skip)."""
    todo, skipped = [], []
    for row in rows:
        if not row.when(ctx):
            continue
        v = ctx.value(row.param)
        if v is None:
            continue
        fitted = ctx.fitted(row.param)
        if row.param in ctx.excluded:
            skipped.append(f"{row.param} (fitted outside the exported stage/parameters) -> "
                           f"{row.address.describe()}")
            continue
        if not fitted and not ctx.include_fixed:
            skipped.append(f"{row.param} (fixed in the calibration; --include-fixed writes it) "
                           f"-> {row.address.describe()}")
            continue
        host = row.convert(v, ctx)
        if ctx.host != "sebcal":     # the scheme's own namelist keeps every digit: a run from
            # it reproduces the calibration's run exactly
            host = _round_host(host, v, ctx.cal.std.get(row.param), row.kind != "direct")
        vals = host if isinstance(host, (list, tuple)) else [host]
        lo, hi = row.limits
        for x in vals:
            if not (isinstance(x, (int, float)) and math.isfinite(x) and lo <= x <= hi):
                raise ConfigError(f"export to {ctx.host}: {row.param} = {_fmt(v)} gives "
                                  f"{row.address.describe()} = {_fmt(x)} [{row.unit}], outside "
                                  f"the host's valid range [{lo:g}, {hi:g}]")
        todo.append((row, host, fitted))
    return todo, skipped


def significant_digits(value: Any, std: Any, approximate: bool = False) -> int:
    """Significant digits a value's standard error supports: the value's digits down to the
    error's second significant digit (at least 3; 6 when there is no error), and one more
    for a value converted through a host formula (so the value the host recomputes from it
    keeps the calibrated one's precision). 0.2652 +/- 0.018 -> 3 (0.265); 2.447e6 +/- 7e4
    -> 4 (2.447e6)."""
    try:
        v, e = abs(float(value)), abs(float(std))
    except (TypeError, ValueError):
        return 6
    if not (math.isfinite(v) and math.isfinite(e)) or v == 0.0 or e == 0.0:
        return 6
    n = max(3, math.floor(math.log10(v)) - math.floor(math.log10(e)) + 2)
    return min(n + (1 if approximate else 0), 15)


def round_sig(x: float, n: int) -> float:
    """x rounded to n significant digits (its shortest repr then shows those digits)."""
    if x == 0.0 or not math.isfinite(x):
        return float(x)
    return float(f"{x:.{n}g}")


def _round_host(host: Any, value: Any, std: Any, approximate: bool) -> Any:
    if isinstance(host, (list, tuple)):
        vs = list(value) if isinstance(value, (list, tuple)) else [value] * len(host)
        ss = list(std) if isinstance(std, (list, tuple)) else [std] * len(host)
        vs += [vs[-1]] * (len(host) - len(vs))
        ss += [ss[-1] if ss else None] * (len(host) - len(ss))
        return [round_sig(float(h), significant_digits(v, s, approximate and h != v))
                if isinstance(h, float) else h for h, v, s in zip(host, vs, ss)]
    if isinstance(host, float):
        v = value[0] if isinstance(value, (list, tuple)) else value
        s = std[0] if isinstance(std, (list, tuple)) and std else std
        return round_sig(host, significant_digits(v, s, approximate and host != v))
    return host


def real_token(x: Any) -> str:
    """A namelist token for a host value: the shortest text that reads back as x."""
    if isinstance(x, bool):
        return ".true." if x else ".false."
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if x != 0.0 and math.isfinite(x) and not 1e-4 <= abs(x) < 1e5:
            m, e = f"{x:.15e}".split("e")
            m = m.rstrip("0")
            return f"{m}0e{int(e)}" if m.endswith(".") else f"{m}e{int(e)}"
        r = repr(x)
        return r if ("." in r or "e" in r or "n" in r) else r + ".0"
    if isinstance(x, str):
        return "'" + x.replace("'", "''") + "'"
    raise TypeError(f"no namelist token for {x!r}")


# ============================================================================ host equivalence


@dataclass
class Equivalent:
    """A quantity the host computes from what it reads, beside the calibrated one."""

    name: str                  # "lambda", "C", "alpha"
    calibrated: float
    host: float
    unit: str
    how: str                   # the host formula and the inputs it reads

    @property
    def rel(self) -> float:
        return (self.host - self.calibrated) / self.calibrated if self.calibrated else \
            (0.0 if self.host == 0.0 else math.inf)

    def line(self) -> str:
        return (f"{self.name} = {self.host:.5g} {self.unit} (calibrated {self.calibrated:.5g}, "
                f"{100 * self.rel:+.2f} %): {self.how}")


#: the largest relative difference between host and calibrated values an export accepts
#: without --acknowledge host-equivalence
EQUIVALENCE_TOL = 0.01


def calibrated_properties(ctx: Context, theta: float | None) -> dict[str, float]:
    """The calibrated soil conductivity and heat capacity (top layer) at the soil moisture
    theta [m3 m-3] (sebcal's own formulas, physics.soil), and the albedo."""
    from ..physics.soil import node_properties

    cal = ctx.cal
    first = {k: (v[0] if isinstance(v, (tuple, list)) else v) for k, v in cal.params.items()}
    opt = cal.config.options.get("soil_thermal", "constant")
    out: dict[str, float] = {}
    if opt == "johansen":
        if theta is not None and all(first.get(k) is not None for k in
                                     ("porosity", "lambda_dry", "lambda_solids", "C_dry")):
            lam, c = node_properties({k: float(first[k]) for k in
                                      ("porosity", "lambda_dry", "lambda_solids", "C_dry")},
                                     float(theta), "johansen")
            out.update({"lambda": float(lam), "C": float(c)})
    else:
        for k in ("lambda", "C"):
            if first.get(k) is not None:
                out[k] = float(first[k])
    if first.get("alpha") is not None:
        out["alpha"] = float(first["alpha"])
    return out


def check_equivalence(ctx: Context, eqs: Sequence[Equivalent]) -> list[str]:
    """Record the host-equivalence lines; refuse (unless acknowledged) when a host value
    differs from the calibrated one by more than EQUIVALENCE_TOL. Returns the lines."""
    lines = [e.line() for e in eqs]
    ctx.equivalence[:] = lines
    bad = [e for e in eqs if not abs(e.rel) <= EQUIVALENCE_TOL]
    if bad:
        ctx.warn("host-equivalence", "what the host computes from the written file differs "
                 f"from the calibration by more than {100 * EQUIVALENCE_TOL:g} %: "
                 + "; ".join(e.line() for e in bad))
    return lines


def header(ctx: Context, mark: str, items: Sequence[Item], version: str,
           equivalence: Sequence[str] = ()) -> list[str]:
    """Comment lines that say what was written, from what, and what was fitted."""
    when = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    verdict = ctx.verdict_text or (ctx.cal.verdict or {}).get("status", "none")
    lines = [f"written by sebcal export on {when} for {ctx.host} ({version})",
             f"from {ctx.cal.path or 'params.json'} (verdict: {verdict})",
             "entries written (old -> new, fitted or fixed):"]
    lines += [f"  {it.line()}" for it in items] or ["  none"]
    eq = list(equivalence) or ctx.equivalence
    if eq:
        lines.append("what the host computes from this file (host-equivalence check):")
        lines += [f"  {e}" for e in eq]
    lines.append("mapping, units and caveats: sebcal docs/hosts.md")
    return [f"{mark} {ln}" for ln in lines]


# ============================================================================ namelists


def read_namelist(path: Path) -> Any:
    """A namelist file parsed with f90nml (an error names the file)."""
    import contextlib
    import io

    import f90nml

    try:
        # f90nml prints its tokenizer's state on some malformed input: keep stdout clean
        with contextlib.redirect_stdout(io.StringIO()):
            return f90nml.read(str(path))
    except Exception as exc:       # noqa: BLE001 - f90nml raises many kinds
        why = str(exc) or f"{type(exc).__name__}, e.g. an unterminated string"
        raise ConfigError(f"template {path}: not a readable Fortran namelist ({why}); fix "
                          "the file (the host's own reader would reject it too)") from None


def group(nml: Any, name: str, path: Path) -> Any:
    g = nml.get(name.lower())
    if g is None:
        raise ConfigError(f"template {path}: no &{name} group; give the file that holds it "
                          f"(groups found: {', '.join('&' + k for k in nml.keys()) or 'none'})")
    if isinstance(g, list):
        raise ConfigError(f"template {path}: &{name} appears {len(g)} times; sebcal does not "
                          "know which one the host reads")
    return g


@dataclass
class Prepared:
    """A namelist file edited in memory: its new text, parsed, and the edits."""

    template: Path
    body: str
    parsed: Any
    edits: dict
    old: Any


def prepare_namelist(template: Path, patch: dict) -> Prepared:
    """The text of ``template`` with the elements of ``patch`` replaced, parsed.

    ``patch[group][key]`` is either ``{index: value}`` (1-based elements) or a whole value
    (a list: every element). Only the edited elements' text changes (:func:`.nmltext.splice`).
    """
    import f90nml

    from .nmltext import splice

    edits: dict[str, dict[str, dict[int, Any]]] = {}
    for g, members in patch.items():
        for k, v in members.items():
            if isinstance(v, dict):
                el = dict(v)
            elif isinstance(v, (list, tuple)):
                el = {i + 1: x for i, x in enumerate(v)}
            else:
                el = {1: v}
            edits.setdefault(g, {})[k] = el
    text = Path(template).read_text()
    old = read_namelist(template)
    body = splice(text, {g: {k: {i: real_token(x) for i, x in el.items()}
                             for k, el in m.items()} for g, m in edits.items()})
    try:
        parsed = f90nml.reads(body)
    except Exception as exc:   # noqa: BLE001 - a bug in the splice
        raise SebcalError(f"export: the edited {Path(template).name} is not a readable "
                          f"namelist ({exc}); nothing was written") from None
    return Prepared(Path(template), body, parsed, edits, old)


def commit_namelist(prep: Prepared, out: Path, comments: Sequence[str]) -> None:
    """Write a prepared namelist, the comment lines first, atomically; read it back: the
    edited elements hold the new values, every other element the template's."""
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(comments) + "\n" + prep.body)
        back = read_namelist(tmp)
        _compare(prep.old, back, prep.edits, out)


def patch_namelist(template: Path, patch: dict, out: Path, comments: Sequence[str] | Callable,
                   verify: Callable[[Any], Sequence[str]] | None = None) -> None:
    """Write ``template`` with the elements of ``patch`` replaced (:func:`prepare_namelist`),
    the comment lines first, atomically, and check the result (:func:`commit_namelist`).
    ``verify(parsed)`` (the host-equivalence check) sees the new file's content before
    anything is written and returns lines for the header; ``comments`` may be a function of
    those lines."""
    prep = prepare_namelist(template, patch)
    extra = list(verify(prep.parsed)) if verify else []
    lines = comments(extra) if callable(comments) else list(comments)
    commit_namelist(prep, out, lines)


def _compare(old: Any, back: Any, edits: dict, out: Path) -> None:
    """Every element of ``back`` equals ``old``'s, except the edited ones, which hold their
    new values."""
    for g in set(old.keys()) | set(back.keys()):
        og, bg = old.get(g), back.get(g)
        if isinstance(og, list) or isinstance(bg, list):
            if g not in edits and og == bg:
                continue
        og = og if isinstance(og, dict) else {}
        bg = bg if isinstance(bg, dict) else {}
        for k in set(og.keys()) | set(bg.keys()):
            el = edits.get(g, {}).get(k, {})
            ov = element_list(og.get(k))
            bv = element_list(bg.get(k))
            n = max(len(ov), len(bv), max(el, default=0))
            ov += [None] * (n - len(ov))
            bv += [None] * (n - len(bv))
            for i in range(n):
                want = el[i + 1] if (i + 1) in el else ov[i]
                got = bv[i]
                if want is None and got is None:
                    continue
                if want is None or not _same(got, want):
                    raise SebcalError(f"export: {out}: &{g} {k}({i + 1}) reads back as "
                                      f"{got!r}, not {want!r}; nothing was written")


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, (list, tuple)):
        return isinstance(a, (list, tuple)) and len(a) == len(b) and all(
            _same(x, y) for x, y in zip(a, b))
    if isinstance(b, float):
        return isinstance(a, (int, float)) and math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return a == b


def element_list(value: Any, n: int | None = None) -> list:
    v = list(value) if isinstance(value, (list, tuple)) else [value]
    if n is not None and len(v) < n:
        v = v + [None] * (n - len(v))
    return v


# ============================================================================ misc


def check_out(out: Path, templates: Sequence[Path], force: bool) -> None:
    if out.exists() and not force:
        raise SebcalError(f"{out} exists; pass --force to overwrite it")
    for t in templates:
        if out.exists() and os.path.samefile(out, t) or out.resolve() == t.resolve():
            raise SebcalError(f"--out {out} is the template {t} itself; sebcal never "
                              "overwrites a template")
    if not out.parent.exists():
        raise SebcalError(f"output folder {out.parent} does not exist; create it first")


def scalar(value: Any) -> Any:
    """A namelist scalar as a reader sees it: ``soil = 8,,`` (rose writes a trailing comma)
    parses as [8, None]; the first non-null element is the value."""
    if isinstance(value, (list, tuple)):
        vals = [v for v in value if v is not None]
        return vals[0] if vals else None
    return value


__all__ = ["Address", "Context", "EQUIVALENCE_TOL", "Equivalent", "ExportResult", "Item",
           "NamelistAddress", "NetCDFAddress", "Option", "Prepared", "Row", "YamlAddress",
           "calibrated_properties", "check_equivalence", "check_out", "commit_namelist",
           "element_list", "group", "header", "parse_options", "patch_namelist", "plan",
           "prepare_namelist", "read_namelist", "real_token", "round_sig", "scalar",
           "significant_digits"]
