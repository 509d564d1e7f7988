"""Change single values in a Fortran namelist file's text, keeping everything else.

f90nml reads and writes namelists, but ``write`` drops every comment and ``patch`` is known to
corrupt arrays (f90nml issues #80, #159). For a user's template we therefore edit only the
value tokens of the entries sebcal owns, leave every other character as it was, and check the
result by reading it back with f90nml (:func:`verify_edit`): every value not ours must equal
the template's, every value of ours must equal what we meant to write.

Supported statement forms: ``key = v1, v2 ...`` (scalar or whole array, values separated by
commas and/or blanks, ``r*v`` repeat counts) and ``key(i) = v ...``. Strings may hold any
character; ``!`` starts a comment outside strings.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

_STMT = re.compile(r"(?<![\w%])([A-Za-z_]\w*)\s*(\(\s*(\d+)\s*\))?\s*=(?!=)")
_GROUP = re.compile(r"[&$]([A-Za-z_]\w*)")


def mask(text: str) -> str:
    """``text`` with comments blanked and string contents replaced by 'x' (same length)."""
    out = list(text)
    i, n = 0, len(text)
    quote = None
    while i < n:
        c = text[i]
        if quote:
            if c == quote:
                if i + 1 < n and text[i + 1] == quote:   # doubled quote inside a string
                    out[i] = out[i + 1] = "x"
                    i += 2
                    continue
                quote = None
            elif c != "\n":
                out[i] = "x"
        elif c in "'\"":
            quote = c
        elif c == "!":
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
            continue
        i += 1
    return "".join(out)


@dataclass
class Group:
    name: str           # lower case
    start: int          # index of '&'
    body: int           # first index after the group name
    end: int            # index of the terminating '/'


@dataclass
class Statement:
    key: str            # lower case
    index: int | None   # i of key(i) = ..., None for key = ...
    key_start: int
    value_start: int
    value_end: int      # exclusive; trailing blanks and comments excluded
    tokens: list[tuple[int, int]]   # value tokens (start, end) in the text


def groups(text: str) -> list[Group]:
    """Every namelist group in ``text``, in order."""
    m = mask(text)
    out = []
    pos = 0
    while True:
        g = _GROUP.search(m, pos)
        if not g:
            return out
        j = g.end()
        end = m.find("/", j)
        if end < 0:
            raise ConfigError(f"namelist group &{g.group(1)} has no terminating '/'")
        if g.group(1).lower() != "end":
            out.append(Group(g.group(1).lower(), g.start(), j, end))
        pos = end + 1


def statements(text: str, group: Group) -> list[Statement]:
    """The assignments of one group, with the positions of their value tokens."""
    m = mask(text)
    found = list(_STMT.finditer(m, group.body, group.end))
    out = []
    for k, st in enumerate(found):
        vs = st.end()
        ve = found[k + 1].start() if k + 1 < len(found) else group.end
        seg = m[vs:ve]
        tokens = [(vs + t.start(), vs + t.end()) for t in re.finditer(r"[^,\s]+", seg)]
        end = tokens[-1][1] if tokens else vs
        # null values ("a,,b" or a trailing ",,") are not supported: we could not index them
        if re.search(r",\s*,", seg[: end - vs]):
            tokens = None  # type: ignore[assignment]
        out.append(Statement(st.group(1).lower(), int(st.group(3)) if st.group(3) else None,
                             st.start(), vs, end, tokens))
    return out


def find_group(text: str, name: str) -> Group | None:
    for g in groups(text):
        if g.name == name.lower():
            return g
    return None


def _expand(text: str, tokens: list[tuple[int, int]]) -> list[tuple[int, int, int, str]]:
    """Tokens as (start, end, count, value text): r*v gives count r."""
    out = []
    for s, e in tokens:
        tok = text[s:e]
        rep = re.fullmatch(r"(\d+)\*(.+)", tok)
        if rep:
            out.append((s, e, int(rep.group(1)), rep.group(2)))
        else:
            out.append((s, e, 1, tok))
    return out


def fortran_real(value: float) -> str:
    """Shortest text that reads back as exactly ``value`` (Fortran list-directed input)."""
    if not math.isfinite(value):
        raise ValueError(f"cannot write {value!r} to a namelist")
    text = repr(float(value))
    return text if ("e" in text or "." in text) else text + ".0"


def set_value(text: str, group_name: str, key: str, value: float | str, position: int | None,
              where: str = "template") -> str:
    """``text`` with element ``position`` (0-based; None: a scalar) of ``key`` set to ``value``.

    Raises:
        ConfigError: the group or key is missing, the array is shorter than ``position``, or
            the statement has a form we cannot edit safely (the message says how to fix it).
    """
    grp = find_group(text, group_name)
    if grp is None:
        raise ConfigError(f"{where} has no namelist group &{group_name}; add the group "
                          f"(&{group_name} ... /) with {key} = ..., or export without "
                          "--template to get a complete group")
    new = fortran_real(value) if isinstance(value, float) else value
    stmts = [s for s in statements(text, grp) if s.key == key.lower()]
    if not stmts:
        raise ConfigError(f"{where}: &{group_name} has no entry {key}; add a line "
                          f"'{key} = ...' to the group (one value per element) and export "
                          "again")
    for st in reversed(stmts):   # the last assignment wins in Fortran namelist input
        if st.tokens is None:
            raise ConfigError(f"{where}: &{group_name} {key} has null values (',,'); write "
                              "every element explicitly so that sebcal can change one")
        first = 0 if st.index is None else st.index - 1
        want = 0 if position is None else position
        if want < first:
            continue
        items = _expand(text, st.tokens)
        k = first
        for s, e, count, val in items:
            if k <= want < k + count:
                if count == 1:
                    repl = new
                else:
                    parts = []
                    before, after = want - k, count - (want - k) - 1
                    if before:
                        parts.append(f"{before}*{val}" if before > 1 else val)
                    parts.append(new)
                    if after:
                        parts.append(f"{after}*{val}" if after > 1 else val)
                    repl = ", ".join(parts)
                return text[:s] + repl + text[e:]
            k += count
        if st.index is None:
            n = k - first
            raise ConfigError(f"{where}: &{group_name} {key} has {n} value(s), but sebcal "
                              f"needs element {want + 1}; give {key} one value per element "
                              f"(at least {want + 1})")
    element = position + 1 if position is not None else 1
    raise ConfigError(f"{where}: &{group_name} {key} does not set element {element}; "
                      f"write it as '{key} = v1, v2, ...' with every element")


def insert_comment(text: str, group_name: str, key: str | None, comment: str) -> str:
    """Insert ``! comment`` lines before the statement ``key`` of a group (or after '&name')."""
    grp = find_group(text, group_name)
    if grp is None:
        return text
    lines = [f"! {c}" if c else "!" for c in comment.splitlines()]
    if key is None:
        nl = text.find("\n", grp.body)
        nl = len(text) if nl < 0 else nl
        indent = "  "
        block = "".join(f"\n{indent}{ln}" for ln in lines)
        return text[:nl] + block + text[nl:]
    stmts = [s for s in statements(text, grp) if s.key == key.lower()]
    if not stmts:
        return text
    st = stmts[-1]
    line_start = text.rfind("\n", 0, st.key_start) + 1
    prefix = text[line_start:st.key_start]
    if prefix.strip():          # the statement shares its line with another: put it there
        indent = " " * (len(prefix) - len(prefix.lstrip()))
        block = "".join(f"{indent}{ln}\n" for ln in lines)
        return text[:line_start] + block + text[line_start:]
    block = "".join(f"{prefix}{ln}\n" for ln in lines)
    return text[:line_start] + block + text[line_start:]


def read(text: str) -> Any:
    """The namelist in ``text`` read by f90nml."""
    import f90nml

    return f90nml.reads(text)


def _norm(value: Any) -> Any:
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if hasattr(value, "todict"):
        return {k: _norm(v) for k, v in value.todict().items() if not k.startswith("_")}
    return value


def verify_edit(before: str, after: str, changed: dict[tuple[str, str], Any],
                where: str = "template") -> None:
    """Read both texts with f90nml and check that only the ``changed`` values differ.

    Args:
        changed: (group, key) -> the full expected value after the edit (list or scalar).

    Raises:
        ConfigError: a value changed that should not have, or an expected value is missing
            (this is a bug or an unsupported template form; the message names the entry).
    """
    a, b = read(before), read(after)
    ga = {g: _norm(v) for g, v in a.items()}
    gb = {g: _norm(v) for g, v in b.items()}
    if set(ga) != set(gb):
        raise ConfigError(f"{where}: editing changed the namelist groups "
                          f"({sorted(set(ga) ^ set(gb))}); please report this")
    for g in ga:
        va, vb = ga[g], gb[g]
        if isinstance(va, list) or isinstance(vb, list):    # repeated groups: not ours
            if va != vb:
                raise ConfigError(f"{where}: editing changed the repeated group &{g}")
            continue
        for k in set(va) | set(vb):
            want = changed.get((g, k), va.get(k))
            if not _equal(vb.get(k), want):
                raise ConfigError(f"{where}: after the edit &{g} {k} reads {vb.get(k)!r}, "
                                  f"expected {want!r}; the template form is not supported "
                                  "here, write the entry as 'key = v1, v2, ...'")


def _equal(x: Any, y: Any) -> bool:
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_equal(a, b) for a, b in zip(x, y))
    if isinstance(x, float) and isinstance(y, (int, float)) and not isinstance(y, bool):
        return x == y or (math.isnan(x) and math.isnan(y))
    return x == y
