"""Check a CCPP metadata file against the Fortran scheme it describes.

    python tools/ccpp_meta_check.py fortran/ccpp/sebcal_ccpp.meta fortran/ccpp/sebcal_ccpp.F90

For every ``[ccpp-arg-table]`` of type ``scheme``, the subroutine of that name must exist and
its dummy arguments must be exactly the table's variables, in the same order, with the same
intent, type, kind, rank (number of dimensions) and optional attribute. It also checks what a
CCPP generator relies on: the table properties name the module, each variable has the
required keys, dimensions name integer arguments of the same table (or the horizontal
extents), errmsg/errflg carry the CCPP standard names, and the subroutine is preceded by the
``arg_table`` comment lines (``\\section arg_table_<name>``, ``\\htmlinclude <name>.html``).

Exit status 0 when the files agree, 1 with one line per problem otherwise. Handles the free-form
Fortran that sebcal's schemes are written in (one declaration per statement, ``&``
continuations, ``!`` comments); it is not a general Fortran parser.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REQUIRED_KEYS = ("standard_name", "long_name", "units", "dimensions", "type", "intent")
HORIZONTAL = ("horizontal_loop_extent", "horizontal_dimension")
CCPP_ERRORS = {"errmsg": ("ccpp_error_message", "character"),
               "errflg": ("ccpp_error_code", "integer")}


@dataclass
class MetaVar:
    local: str
    line: int
    props: dict[str, str] = field(default_factory=dict)


@dataclass
class MetaTable:
    name: str
    kind: str
    line: int
    variables: list[MetaVar] = field(default_factory=list)


@dataclass
class FortranArg:
    name: str
    type: str = ""
    kind: str = ""
    intent: str = ""
    rank: int = 0
    optional: bool = False
    declared: bool = False


@dataclass
class FortranRoutine:
    name: str
    args: list[FortranArg]
    comment_lines: list[str]


def parse_meta(text: str) -> tuple[dict[str, str], list[MetaTable]]:
    """The table properties and the argument tables of a .meta file, in file order."""
    props: dict[str, str] = {}
    tables: list[MetaTable] = []
    section = None
    var: MetaVar | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line == "[ccpp-table-properties]":
            section, var = "props", None
        elif line == "[ccpp-arg-table]":
            section, var = "table", None
            tables.append(MetaTable(name="", kind="", line=n))
        elif line.startswith("[") and line.endswith("]"):
            if section != "table":
                raise ValueError(f"line {n}: variable {line} outside a [ccpp-arg-table]")
            var = MetaVar(local=line[1:-1].strip(), line=n)
            tables[-1].variables.append(var)
        elif "=" in line:
            key, value = (s.strip() for s in line.split("=", 1))
            if section == "props":
                props[key] = f"{props[key]},{value}" if key in props else value
            elif section == "table" and var is None:
                if key == "name":
                    tables[-1].name = value
                elif key == "type":
                    tables[-1].kind = value
            elif var is not None:
                var.props[key] = value
        else:
            raise ValueError(f"line {n}: cannot read {raw!r}")
    return props, tables


def _statements(text: str) -> list[tuple[str, list[str]]]:
    """Fortran statements with '&' continuations joined, each with the comment lines just
    before it."""
    out: list[tuple[str, list[str]]] = []
    comments: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("!"):
            if not current:
                comments.append(stripped)
            continue
        code = re.sub(r"!.*$", "", raw).rstrip()  # sebcal code has no '!' inside strings here
        if not code.strip():
            if not current:
                comments = []
            continue
        cont = code.endswith("&")
        piece = code[:-1] if cont else code
        piece = piece.strip()
        if piece.startswith("&"):
            piece = piece[1:]
        current = f"{current} {piece}" if current else piece
        if not cont:
            out.append((current.strip(), comments))
            current, comments = "", []
    return out


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


DECL = re.compile(r"^(integer|real|character|logical|complex|type)"
                  r"\s*(\([^:]*?\))?\s*(,.*?)?::(.*)$", re.IGNORECASE)


def parse_fortran(text: str) -> dict[str, FortranRoutine]:
    """The subroutines of a module (not those contained in a subroutine) with their dummy
    arguments as declared."""
    routines: dict[str, FortranRoutine] = {}
    current: FortranRoutine | None = None
    depth = 0
    for stmt, comments in _statements(text):
        low = stmt.lower()
        m = re.match(r"^(?:pure\s+|elemental\s+|recursive\s+)*subroutine\s+(\w+)\s*(?:\((.*)\))?",
                     low)
        if m:
            depth += 1
            if depth == 1:
                names = [a.strip() for a in (m.group(2) or "").split(",") if a.strip()]
                current = FortranRoutine(m.group(1), [FortranArg(a) for a in names], comments)
                routines[current.name] = current
            continue
        if re.match(r"^end\s+subroutine\b", low):
            depth -= 1
            if depth == 0:
                current = None
            continue
        if current is None or depth != 1:
            continue
        d = DECL.match(stmt)
        if not d:
            continue
        typ = d.group(1).lower()
        kind = (d.group(2) or "").strip()[1:-1].replace(" ", "").lower()
        if kind.startswith("kind="):
            kind = kind[5:]
        attrs = [a.strip().lower() for a in _split_top((d.group(3) or "").lstrip(","))]
        intent = next((re.sub(r"\s", "", a)[7:-1] for a in attrs if a.startswith("intent")), "")
        dim_attr = next((a for a in attrs if a.startswith("dimension")), None)
        optional = "optional" in attrs
        by_name = {a.name: a for a in current.args}
        for entity in _split_top(d.group(4)):
            em = re.match(r"^(\w+)\s*(\((.*)\))?", entity.strip())
            if not em:
                continue
            name = em.group(1).lower()
            if name not in by_name:
                continue
            dims = em.group(3) if em.group(2) else (dim_attr[dim_attr.index("(") + 1:-1]
                                                    if dim_attr else None)
            arg = by_name[name]
            arg.type, arg.kind, arg.intent, arg.optional = typ, kind, intent, optional
            arg.rank = len(_split_top(dims)) if dims else 0
            arg.declared = True
    return routines


def check(meta_path: str | Path, fortran_path: str | Path) -> list[str]:
    """Every disagreement between the metadata and the Fortran, one message each (empty when
    they agree)."""
    meta_path, fortran_path = Path(meta_path), Path(fortran_path)
    problems: list[str] = []
    try:
        props, tables = parse_meta(meta_path.read_text())
    except ValueError as exc:
        return [f"{meta_path}: {exc}"]
    routines = parse_fortran(fortran_path.read_text())
    module = re.search(r"^\s*module\s+(\w+)\s*$", fortran_path.read_text(), re.I | re.M)
    where = f"{meta_path.name}"
    if props.get("name", "").lower() != (module.group(1).lower() if module else ""):
        problems.append(f"{where}: [ccpp-table-properties] name = {props.get('name')!r} is not "
                        f"the module name {module.group(1) if module else None!r}")
    if props.get("type") != "scheme":
        problems.append(f"{where}: [ccpp-table-properties] type must be 'scheme'")
    for dep in filter(None, props.get("dependencies", "").split(",")):
        if not (meta_path.parent / dep.strip()).is_file():
            problems.append(f"{where}: dependency {dep.strip()} does not exist")
    seen = set()
    for table in tables:
        tw = f"{where}:{table.line} [{table.name}]"
        if table.kind != "scheme":
            problems.append(f"{tw}: type must be 'scheme', got {table.kind!r}")
        routine = routines.get(table.name.lower())
        if routine is None:
            problems.append(f"{tw}: no subroutine {table.name} in {fortran_path.name}")
            continue
        seen.add(routine.name)
        comments = " ".join(routine.comment_lines)
        if f"\\section arg_table_{table.name}" not in comments or \
                f"\\htmlinclude {table.name}.html" not in comments:
            problems.append(f"{tw}: {table.name} must be preceded by the comment lines "
                            f"'!> \\section arg_table_{table.name} Argument Table' and "
                            f"'!! \\htmlinclude {table.name}.html'")
        locals_meta = [v.local.lower() for v in table.variables]
        locals_f = [a.name for a in routine.args]
        if locals_meta != locals_f:
            problems.append(f"{tw}: variables {locals_meta} differ from the dummy arguments "
                            f"{locals_f} (names and order must agree)")
        args = {a.name: a for a in routine.args}
        integer_std = {v.props.get("standard_name") for v in table.variables
                       if v.props.get("type") == "integer" and v.props.get("dimensions") == "()"}
        for var in table.variables:
            vw = f"{where}:{var.line} [{var.local}] in {table.name}"
            missing = [k for k in REQUIRED_KEYS if k not in var.props]
            if missing:
                problems.append(f"{vw}: missing {', '.join(missing)}")
                continue
            if var.local.lower() in CCPP_ERRORS:
                std, typ = CCPP_ERRORS[var.local.lower()]
                if var.props["standard_name"] != std or var.props["type"] != typ:
                    problems.append(f"{vw}: must be standard_name = {std}, type = {typ}")
            dims = var.props["dimensions"].strip()
            if not (dims.startswith("(") and dims.endswith(")")):
                problems.append(f"{vw}: dimensions must be written (d1,d2,...), got {dims}")
                continue
            dim_names = [d.strip() for d in dims[1:-1].split(",") if d.strip()]
            for d in dim_names:
                for part in d.split(":"):
                    if not (part in HORIZONTAL or part in integer_std or part.isdigit()):
                        problems.append(f"{vw}: dimension {part!r} is neither a horizontal "
                                        "extent nor an integer argument of this table")
            arg = args.get(var.local.lower())
            if arg is None:
                continue
            if not arg.declared:
                problems.append(f"{vw}: dummy argument {arg.name} is not declared")
                continue
            if var.props["type"].lower() != arg.type:
                problems.append(f"{vw}: type {var.props['type']} but Fortran has {arg.type}")
            kind_meta = var.props.get("kind", "").replace(" ", "").lower()
            if kind_meta != arg.kind:
                problems.append(f"{vw}: kind {kind_meta or '(none)'} but Fortran has "
                                f"{arg.kind or '(none)'}")
            if var.props["intent"].lower() != arg.intent:
                problems.append(f"{vw}: intent {var.props['intent']} but Fortran has "
                                f"{arg.intent or '(none)'}")
            if len(dim_names) != arg.rank:
                problems.append(f"{vw}: {len(dim_names)} dimensions but Fortran has rank "
                                f"{arg.rank}")
            optional_meta = var.props.get("optional", "false").lower() in ("true", "t", ".true.")
            if optional_meta != arg.optional:
                problems.append(f"{vw}: optional = {optional_meta} but the Fortran argument is "
                                f"{'' if arg.optional else 'not '}optional")
    for name, routine in routines.items():
        if name not in seen and any("arg_table_" in c for c in routine.comment_lines):
            problems.append(f"{where}: {fortran_path.name} has an arg_table comment for {name} "
                            "but the metadata has no table for it")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1])
        return 2
    problems = check(*argv)
    for p in problems:
        print(p)
    if not problems:
        print(f"{argv[0]}: agrees with {argv[1]}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
