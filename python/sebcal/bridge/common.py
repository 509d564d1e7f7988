"""What every host exporter shares: mapping rows with typed addresses, the export context,
the items written, the result, and the editing of Fortran namelists (f90nml, which keeps a
template's comments and layout) and of YAML (ruamel.yaml round trip).

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

    @property
    def path(self) -> Path:
        return self.paths[0]

    @property
    def template(self) -> Path | None:
        return self.templates[0] if self.templates else None

    def summary(self) -> list[str]:
        return [it.line() for it in self.items] + [f"not written: {s}" for s in self.skipped]


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
        raise SebcalError(f"export to {self.host}: {text}. Nothing was written; fix it, or "
                          f"pass --acknowledge {key} to export anyway")


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
        if not fitted and not ctx.include_fixed:
            skipped.append(f"{row.param} (fixed in the calibration; --include-fixed writes it) "
                           f"-> {row.address.describe()}")
            continue
        host = row.convert(v, ctx)
        vals = host if isinstance(host, (list, tuple)) else [host]
        lo, hi = row.limits
        for x in vals:
            if not (isinstance(x, (int, float)) and math.isfinite(x) and lo <= x <= hi):
                raise ConfigError(f"export to {ctx.host}: {row.param} = {_fmt(v)} gives "
                                  f"{row.address.describe()} = {_fmt(x)} [{row.unit}], outside "
                                  f"the host's valid range [{lo:g}, {hi:g}]")
        todo.append((row, host, fitted))
    return todo, skipped


def header(ctx: Context, mark: str, items: Sequence[Item], version: str) -> list[str]:
    """Comment lines that say what was written, from what, and what was fitted."""
    when = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"written by sebcal export on {when} for {ctx.host} ({version})",
             f"from {ctx.cal.path or 'params.json'} (verdict: "
             f"{(ctx.cal.verdict or {}).get('status', 'none')})",
             "entries written (old -> new, fitted or fixed):"]
    lines += [f"  {it.line()}" for it in items] or ["  none"]
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


def patch_namelist(template: Path, patch: dict, out: Path, comments: Sequence[str]) -> None:
    """Write ``template`` with the values of ``patch`` replaced (f90nml.patch keeps every other
    line, comment and layout), the comment lines first, atomically; then read it back and
    check the values."""
    import f90nml

    with atomic_path(out) as tmp:
        body = tmp.with_suffix(".body")
        try:
            f90nml.patch(str(template), patch, str(body))
            text = body.read_text()
        finally:
            if body.exists():
                body.unlink()
        tmp.write_text("\n".join(comments) + "\n" + text)
        back = read_namelist(tmp)
        for g, members in patch.items():
            for k, v in members.items():
                got = back[g][k]
                if not _same(got, v):
                    raise SebcalError(f"export: {out}: &{g} {k} reads back as {got!r}, not "
                                      f"{v!r}; nothing was written")


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


__all__ = ["Address", "Context", "ExportResult", "Item", "NamelistAddress", "NetCDFAddress",
           "Option", "Row", "YamlAddress", "check_out", "element_list", "group", "header",
           "parse_options", "patch_namelist", "plan", "read_namelist"]
