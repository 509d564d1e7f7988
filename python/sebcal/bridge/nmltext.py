"""Edit single elements of a Fortran namelist file in its text, so that every other token
keeps its exact spelling (a diff of template and output shows only the elements written).

The scanner knows what a list-directed namelist read knows: groups ``&name ... /``,
assignments ``key = v1, v2`` and ``key(i) = v``, null values (``a,,b``, a trailing comma),
repeat counts (``3*0.5``, ``3*``), quoted strings, ``!`` comments and values continued over
lines. An element inside a repeat count is split out of it (``4*0.5`` -> ``2*0.5, 0.3,
0.5``); an element past the listed ones is appended after null values; a member the group
lacks is added on its own line before the closing ``/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ..errors import ConfigError

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_%]*")


@dataclass
class _Tok:
    kind: str        # "word", "str", "comma", "eq", "slash", "amp", "lparen" (unused)
    start: int
    end: int
    text: str


def _tokens(text: str, lo: int, hi: int) -> list[_Tok]:
    """Tokens of text[lo:hi], comments and blanks dropped."""
    return list(_itokens(text, lo, hi))


def _itokens(text: str, lo: int, hi: int) -> Iterator[_Tok]:
    """The tokens of text[lo:hi] one by one (a group's end is found without scanning the
    rest of the file)."""
    i = lo
    while i < hi:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c == "!":
            j = text.find("\n", i)
            i = hi if j < 0 or j > hi else j
        elif c in "'\"":
            j = i + 1
            while j < hi:
                if text[j] == c:
                    if j + 1 < hi and text[j + 1] == c:      # doubled quote
                        j += 2
                        continue
                    break
                j += 1
            yield _Tok("str", i, j + 1, text[i:j + 1])
            i = j + 1
        elif c == ",":
            yield _Tok("comma", i, i + 1, c)
            i += 1
        elif c == "=":
            yield _Tok("eq", i, i + 1, c)
            i += 1
        elif c == "/":
            yield _Tok("slash", i, i + 1, c)
            i += 1
        elif c in "&$":
            yield _Tok("amp", i, i + 1, c)
            i += 1
        else:
            j = i
            depth = 0
            while j < hi:
                d = text[j]
                if d == "(":
                    depth += 1
                elif d == ")":
                    depth -= 1
                elif depth <= 0 and d in " \t\r\n,=/!'\"":
                    break
                elif depth > 0 and d in "\n!":
                    break
                j += 1
            yield _Tok("word", i, j, text[i:j])
            i = max(j, i + 1)


@dataclass
class _Slot:
    """One element of an assignment: the token holding it (None: a null value), its repeat
    count (1 without '*'), the element index of its first copy, and where a null sits."""

    tok: _Tok | None
    count: int
    first: int
    at: int                     # text offset where a null value would be written


@dataclass
class _Assign:
    key: str
    start_index: int            # 1-based element of the first value
    indexed: bool               # written key(i) =
    slots: list[_Slot]
    end: int                    # text offset after the last value token (or after '=')


def _groups(text: str) -> list[tuple[str, int, int]]:
    """(name, body start, offset of the closing '/') of every group."""
    out = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "!":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c in "'\"":
            j = text.find(c, i + 1)
            i = n if j < 0 else j + 1
            continue
        if c in "&$":
            m = _NAME.match(text, i + 1)
            if m and m.group(0).lower() != "end":
                name = m.group(0).lower()
                body = m.end()
                close = next((t for t in _itokens(text, body, n)
                              if t.kind in ("slash", "amp")), None)
                if close is None:
                    raise ConfigError(f"namelist group &{name} has no closing '/'")
                end = close.start
                out.append((name, body, end))
                i = close.end
                if close.kind == "amp":          # &end or $end
                    m2 = _NAME.match(text, close.end)
                    i = m2.end() if m2 else close.end
                continue
        i += 1
    return out


def _assignments(text: str, body: int, end: int) -> list[_Assign]:
    toks = _tokens(text, body, end)
    # positions of "word =" pairs: the keys
    keys = [k for k in range(len(toks) - 1) if toks[k].kind == "word"
            and toks[k + 1].kind == "eq"]
    out = []
    for n, k in enumerate(keys):
        word = toks[k].text
        m = re.match(r"\s*([A-Za-z][A-Za-z0-9_%]*)\s*(?:\(\s*(\d+)\s*(?::[^)]*)?\))?\s*$", word)
        if not m:
            continue
        key = m.group(1).lower()
        start = int(m.group(2)) if m.group(2) else 1
        stop = keys[n + 1] if n + 1 < len(keys) else len(toks)
        vals = toks[k + 2:stop]
        slots: list[_Slot] = []
        idx = start
        pending = True                  # a value is expected (start, or after a comma)
        last_end = toks[k + 1].end
        for t in vals:
            if t.kind == "comma":
                if pending:
                    slots.append(_Slot(None, 1, idx, t.start))
                    idx += 1
                pending = True
                last_end = t.end
                continue
            rep = re.match(r"^(\d+)\*(.*)$", t.text) if t.kind == "word" else None
            count = int(rep.group(1)) if rep else 1
            slots.append(_Slot(t, count, idx, t.start))
            idx += count
            pending = False
            last_end = t.end
        out.append(_Assign(key, start, bool(m.group(2)), slots, last_end))
    return out


def _split_repeat(slot: _Slot, news: Mapping[int, str]) -> str:
    """The text replacing a repeat token n*v so that the elements ``news`` (index -> text)
    get their new values and the others keep v."""
    assert slot.tok is not None
    value = slot.tok.text.split("*", 1)[1]
    parts: list[str] = []
    run = 0

    def flush() -> None:
        nonlocal run
        if run == 1:
            parts.append(value)
        elif run > 1:
            parts.append(f"{run}*{value}")
        run = 0
    for k in range(slot.first, slot.first + slot.count):
        if k in news:
            flush()
            parts.append(news[k])
        else:
            run += 1
    flush()
    return ", ".join(parts)


def splice(text: str, edits: Mapping[str, Mapping[str, Mapping[int, str]]]) -> str:
    """``text`` with ``edits[group][key][index] = token`` written (1-based element index),
    touching nothing else.

    Raises:
        ConfigError: a group is missing or appears more than once.
    """
    groups = _groups(text)
    repl: list[tuple[int, int, str]] = []          # (start, end, new text)
    for gname, members in edits.items():
        found = [g for g in groups if g[0] == gname.lower()]
        if len(found) != 1:
            raise ConfigError(f"namelist: &{gname} appears {len(found)} times; sebcal edits "
                              "a group that appears exactly once")
        _, body, end = found[0]
        assigns = _assignments(text, body, end)
        added: list[str] = []
        split: dict[int, tuple[_Slot, dict[int, str]]] = {}
        for key, elems in members.items():
            mine = [a for a in assigns if a.key == key.lower()]
            for k, new in sorted(elems.items()):
                # the last assignment that covers element k wins (as in a Fortran read)
                cover = None
                for a in mine:
                    for s in a.slots:
                        if s.first <= k < s.first + s.count:
                            cover = (a, s)
                if cover is not None:
                    a, s = cover
                    if s.tok is None:
                        repl.append((s.at, s.at, new))
                    elif s.count > 1:
                        split.setdefault(id(s), (s, {}))[1][k] = new
                    else:
                        repl.append((s.tok.start, s.tok.end, new))
                    continue
                tail = [a for a in mine if not a.indexed]
                if len(mine) == 1 and tail:
                    a = tail[0]
                    last = a.start_index + sum(s.count for s in a.slots) - 1
                    if k > last:
                        trailing = text[a.end - 1] == "," if a.slots else False
                        commas = (k - last) - (1 if trailing else 0) if a.slots else 0
                        if not a.slots and k > a.start_index:
                            commas = k - a.start_index
                        repl.append((a.end, a.end, "," * commas + " " + new))
                        continue
                added.append(f"  {key}({k}) = {new}" if (k != 1 or mine) else f"  {key} = {new}")
        for slot, news in split.values():
            assert slot.tok is not None
            repl.append((slot.tok.start, slot.tok.end, _split_repeat(slot, news)))
        if added:
            # before the closing '/': on its own line
            line_start = text.rfind("\n", body, end) + 1 if "\n" in text[body:end] else end
            head = text[line_start:end]
            if head.strip():
                repl.append((end, end, "\n" + "\n".join(added) + "\n"))
            else:
                repl.append((line_start, line_start, "\n".join(added) + "\n"))
    out = text
    for start, stop, new in sorted(repl, key=lambda r: r[0], reverse=True):
        out = out[:start] + new + out[stop:]
    return out


__all__ = ["splice"]
