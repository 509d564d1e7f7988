"""A small YAML reader and line editor for the subset SUEWS configuration files use.

PyYAML is not a sebcal dependency, and a PyYAML round trip would drop every comment of a
user's template anyway. This module reads block mappings (``key: value``), block sequences
(``- item``, also ``- key: value`` items and sequences indented like their key), one-line flow
sequences (``[a, b]``), plain and quoted scalars and ``#`` comments, and remembers where every
scalar is in the text, so that sebcal can replace single values and keep every other line as
it was. Anchors, tags, multi-line scalars and flow mappings are not supported (a clear error
says so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError


@dataclass
class Scalar:
    value: Any
    line: int           # 0-based line number
    c0: int             # column span of the value text in the line
    c1: int


@dataclass
class Flow:
    items: list[Scalar]
    line: int
    c0: int
    c1: int


@dataclass
class Seq:
    items: list[Any]
    line: int


@dataclass
class Map:
    keys: dict[str, Any] = field(default_factory=dict)
    key_lines: dict[str, int] = field(default_factory=dict)
    line: int = 0
    indent: int = 0


@dataclass
class _Line:
    indent: int
    content: str        # without comment and trailing blanks
    no: int
    col: int            # column of content[0] in the original line


def _strip_comment(s: str) -> str:
    quote = None
    for i, c in enumerate(s):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or s[i - 1] in " \t"):
            return s[:i].rstrip()
    return s.rstrip()


def _scalar(text: str) -> Any:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1].replace("''", "'") if t[0] == "'" else t[1:-1]
    if t in ("", "~", "null", "Null", "NULL"):
        return None
    if t in ("true", "True", "TRUE"):
        return True
    if t in ("false", "False", "FALSE"):
        return False
    if re.fullmatch(r"[-+]?\d+", t):
        return int(t)
    if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", t) or t in (".inf", "-.inf"):
        return float(t.replace(".inf", "inf"))
    if t[0] in "&*!|>{":
        raise ConfigError(f"YAML feature not supported by sebcal's reader: {t!r} (anchors, "
                          "tags, block scalars, flow mappings)")
    return t


def _split_key(content: str) -> tuple[str, str, int] | None:
    """(key, rest, column of rest) of 'key: rest', or None."""
    quote = None
    for i, c in enumerate(content):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == ":" and (i + 1 == len(content) or content[i + 1] in " \t"):
            key = content[:i].strip()
            if len(key) >= 2 and key[0] == key[-1] and key[0] in "'\"":
                key = key[1:-1]
            rest = content[i + 1:]
            lead = len(rest) - len(rest.lstrip())
            return key, rest.strip(), i + 1 + lead
    return None


class _Parser:
    def __init__(self, text: str) -> None:
        self.raw = text.splitlines()
        self.lines: list[_Line] = []
        for no, line in enumerate(self.raw):
            if "\t" in line[: len(line) - len(line.lstrip())]:
                raise ConfigError(f"YAML line {no + 1}: tabs in indentation are not allowed")
            c = _strip_comment(line)
            if not c.strip() or c.strip() in ("---", "..."):
                continue
            ind = len(c) - len(c.lstrip())
            self.lines.append(_Line(ind, c.strip(), no, ind))

    def parse(self) -> Any:
        if not self.lines:
            return None
        node, i = self.block(0, self.lines[0].indent)
        if i < len(self.lines):
            ln = self.lines[i]
            raise ConfigError(f"YAML line {ln.no + 1}: unexpected indentation")
        return node

    def value(self, ln: _Line, rest: str, col: int) -> Any:
        if rest.startswith("["):
            if not rest.endswith("]"):
                raise ConfigError(f"YAML line {ln.no + 1}: multi-line flow sequences are not "
                                  "supported")
            items = []
            inner = rest[1:-1]
            pos = 0
            for part in inner.split(","):
                if part.strip():
                    off = col + 1 + pos + (len(part) - len(part.lstrip()))
                    items.append(Scalar(_scalar(part), ln.no, off, off + len(part.strip())))
                pos += len(part) + 1
            return Flow(items, ln.no, col, col + len(rest))
        return Scalar(_scalar(rest), ln.no, col, col + len(rest))

    def block(self, i: int, indent: int) -> tuple[Any, int]:
        ln = self.lines[i]
        if ln.content == "-" or ln.content.startswith("- "):
            return self.seq(i, indent)
        return self.map(i, indent)

    def child(self, i: int, indent: int, allow_seq_same: bool) -> tuple[Any, int]:
        """The block value starting at line i (deeper than ``indent``), or None."""
        if i < len(self.lines):
            nxt = self.lines[i]
            if nxt.indent > indent or (allow_seq_same and nxt.indent == indent and
                                        (nxt.content == "-" or nxt.content.startswith("- "))):
                return self.block(i, nxt.indent)
        return None, i

    def map(self, i: int, indent: int) -> tuple[Map, int]:
        m = Map(line=self.lines[i].no, indent=indent)
        while i < len(self.lines) and self.lines[i].indent == indent:
            ln = self.lines[i]
            if ln.content.startswith("- ") or ln.content == "-":
                break
            kv = _split_key(ln.content)
            if kv is None:
                raise ConfigError(f"YAML line {ln.no + 1}: expected 'key: value', got "
                                  f"{ln.content!r}")
            key, rest, rcol = kv
            if key in m.keys:
                raise ConfigError(f"YAML line {ln.no + 1}: duplicate key {key!r}")
            m.key_lines[key] = ln.no
            i += 1
            if rest:
                m.keys[key] = self.value(ln, rest, ln.col + rcol)
            else:
                m.keys[key], i = self.child(i, indent, allow_seq_same=True)
        return m, i

    def seq(self, i: int, indent: int) -> tuple[Seq, int]:
        s = Seq([], self.lines[i].no)
        while i < len(self.lines) and self.lines[i].indent == indent and \
                (self.lines[i].content == "-" or self.lines[i].content.startswith("- ")):
            ln = self.lines[i]
            rest = ln.content[1:]
            lead = len(rest) - len(rest.lstrip())
            rest = rest.strip()
            col = ln.col + 1 + lead
            if not rest:
                item, i = self.child(i + 1, indent, allow_seq_same=False)
                s.items.append(item)
                continue
            if not rest.startswith("[") and _split_key(rest) is not None:
                # '- key: value': a mapping whose keys sit at column `col`
                self.lines[i] = _Line(col, rest, ln.no, col)
                item, i = self.map(i, col)
                s.items.append(item)
                continue
            s.items.append(self.value(ln, rest, col))
            i += 1
        return s, i


def parse(text: str) -> Any:
    """The node tree of a YAML text (Map, Seq, Flow, Scalar)."""
    return _Parser(text).parse()


def to_python(node: Any) -> Any:
    """Plain Python values (dict, list, scalars) of a node tree."""
    if isinstance(node, Map):
        return {k: to_python(v) for k, v in node.keys.items()}
    if isinstance(node, (Seq,)):
        return [to_python(v) for v in node.items]
    if isinstance(node, Flow):
        return [v.value for v in node.items]
    if isinstance(node, Scalar):
        return node.value
    return node


def loads(text: str) -> Any:
    """Read a YAML text of the supported subset into plain Python values."""
    return to_python(parse(text))


def get(node: Any, path: list[Any]) -> Any:
    """The node at ``path`` (keys and sequence indices), or None."""
    for p in path:
        if isinstance(node, Map) and isinstance(p, str):
            node = node.keys.get(p)
        elif isinstance(node, Seq) and isinstance(p, int) and 0 <= p < len(node.items):
            node = node.items[p]
        else:
            return None
    return node


def format_number(v: float) -> str:
    """Shortest text that reads back as exactly ``v``."""
    return repr(float(v))


def replace(text: str, node: Any, values: Any) -> str:
    """``text`` with the scalar / sequence ``node`` set to ``values`` (same number of items)."""
    lines = text.split("\n")

    def put(s: Scalar, v: Any) -> None:
        line = lines[s.line]
        lines[s.line] = line[:s.c0] + format_number(v) + line[s.c1:]

    if isinstance(node, Scalar):
        if isinstance(values, (list, tuple)):
            raise ConfigError("a list cannot replace a single value")
        put(node, values)
    elif isinstance(node, (Seq, Flow)):
        items = node.items
        if not isinstance(values, (list, tuple)) or len(values) != len(items) or \
                not all(isinstance(x, Scalar) for x in items):
            raise ConfigError(f"the sequence at line {node.line + 1} has {len(items)} items; "
                              f"sebcal writes "
                              f"{len(values) if isinstance(values, (list, tuple)) else 1}")
        # right to left so that columns on a shared line (flow style) stay valid
        for s, v in sorted(zip(items, values), key=lambda t: (t[0].line, t[0].c0), reverse=True):
            put(s, v)
    else:
        raise ConfigError("cannot replace this YAML node")
    return "\n".join(lines)


def insert_comment(text: str, line_no: int, comment: str) -> str:
    """Insert ``# comment`` lines before line ``line_no``, indented like it."""
    lines = text.split("\n")
    line = lines[line_no]
    indent = line[: len(line) - len(line.lstrip())]
    lines[line_no:line_no] = [f"{indent}# {c}" for c in comment.splitlines()]
    return "\n".join(lines)


def dumps(data: Any, indent: int = 0) -> str:
    """Block-style YAML of nested dicts/lists of numbers and strings (SUEWS style)."""
    pad = " " * indent
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:")
                out.append(dumps(v, indent + 2 if isinstance(v, dict) else indent))
            else:
                out.append(f"{pad}{k}: {_emit_scalar(v)}")
    elif isinstance(data, list):
        for v in data:
            if isinstance(v, dict):
                body = dumps(v, indent + 2).split("\n")
                out.append(f"{pad}- {body[0].lstrip()}")
                out.extend(body[1:])
            else:
                out.append(f"{pad}- {_emit_scalar(v)}")
    return "\n".join(out)


def _emit_scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    if s == "" or _scalar(s) != s or any(c in s for c in ":#[]{},&*!|>'\"%@`"):
        return "'" + s.replace("'", "''") + "'"
    return s
