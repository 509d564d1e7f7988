"""Regenerate the generated parts of docs/ (``make docs``); tests fail when they are stale."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def splice(path: Path | str, marker: str, body: str) -> str:
    """The text of ``path`` (or the text itself) with the block between
    ``<!-- marker:start/end -->`` replaced by ``body``."""
    text = path.read_text(encoding="utf-8") if isinstance(path, Path) else path
    pattern = re.compile(rf"(<!-- {marker}:start -->\n).*?(<!-- {marker}:end -->)", re.S)
    if not pattern.search(text):
        where = path if isinstance(path, Path) else "text"
        raise SystemExit(f"{where}: no <!-- {marker}:start --> ... <!-- {marker}:end --> block")
    return pattern.sub(lambda m: m[1] + body + m[2], text)


def ccpp_variables() -> str:
    """The argument table of sebcal_ccpp_run, from fortran/ccpp/sebcal_ccpp.meta."""
    sys.path.insert(0, str(ROOT / "tools"))
    from ccpp_meta_check import parse_meta

    _, tables = parse_meta((ROOT / "fortran" / "ccpp" / "sebcal_ccpp.meta").read_text())
    run = next(t for t in tables if t.name == "sebcal_ccpp_run")
    lines = ["| argument | standard name | units | dimensions | intent |", "|---|---|---|---|---|"]
    for v in run.variables:
        p = v.props
        intent = p["intent"] + (" (optional)" if p.get("optional", "").lower() == "true" else "")
        lines.append(f"| `{v.local}` | `{p['standard_name']}` | {p['units']} | "
                     f"{p['dimensions']} | {intent} |")
    return "\n".join(lines) + "\n"


def ccpp_parameters() -> str:
    """The columns of psurf and psoil, from the vocabulary's slots."""
    from sebcal.vocabulary import PARAMETERS

    out = []
    for title, groups in (("psurf", ("surface", "site")), ("psoil", ("soil",))):
        out += [f"| `{title}` column | parameter | unit |", "|---|---|---|"]
        for p in sorted((p for p in PARAMETERS.values() if p.group in groups and p.slot),
                        key=lambda p: p.slot):
            out.append(f"| {p.slot} | `{p.name}`: {p.long_name} | {p.unit} |")
        out.append("")
    return "\n".join(out[:-1]) + "\n"


def cli_verbs() -> str:
    """One section per verb: its description and a table of its arguments (from argparse)."""
    import argparse

    from sebcal.cli import build_parser

    os.environ["COLUMNS"] = "100"        # argparse wraps usage lines to the terminal's width
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = []
    for name, p in sub.choices.items():
        out.append(f"### `sebcal {name}`\n\n{p.description or ''}\n\n"
                   f"```\n{p.format_usage().strip().replace('usage: ', '')}\n```\n\n"
                   "| argument | default | meaning |\n|---|---|---|\n")
        for a in p._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            flag = ", ".join(f"`{o}`" for o in a.option_strings) or f"`{a.dest.upper()}`"
            if a.choices:
                flag += " (" + " \\| ".join(str(c) for c in a.choices) + ")"
            default = ("" if a.default in (None, False, argparse.SUPPRESS) or a.required
                       else f"`{a.default}`")
            helptext = (a.help or "").replace("|", "\\|")
            out.append(f"| {flag} | {default} | {helptext} |\n")
        out.append("\n")
    return "".join(out)


def cli_exit_codes() -> str:
    from sebcal.cli import EXIT_CODES

    rows = "".join(f"| {code} | {what} |\n" for code, what in EXIT_CODES.items())
    return "| status | meaning |\n|---|---|\n" + rows


def generated() -> dict[Path, str]:
    from sebcal.bridge import HOSTS, SOURCES, markdown_table
    from sebcal.config import markdown_reference
    from sebcal.vocabulary import markdown_parameters

    hosts_md = ROOT / "docs" / "hosts.md"
    text = hosts_md.read_text(encoding="utf-8")
    for name in HOSTS:
        text = splice(text, f"hosts-{name}", markdown_table(name))
    text = splice(text, "hosts-sources", "".join(f"* `{k}`: {what}. {where}\n"
                                                for k, (what, where) in SOURCES.items()))
    from sebcal.bmi import SebcalBmi

    frameworks = ROOT / "docs" / "frameworks.md"
    fw = splice(frameworks, "ccpp-variables", ccpp_variables())
    fw = splice(fw, "ccpp-parameters", ccpp_parameters())
    fw = splice(fw, "bmi-variables", SebcalBmi.markdown_variables())
    return {
        hosts_md: text,
        frameworks: fw,
        ROOT / "docs" / "cli.md": splice(splice(ROOT / "docs" / "cli.md", "cli-verbs",
                                                cli_verbs()), "cli-exit", cli_exit_codes()),
        ROOT / "docs" / "config.md": splice(ROOT / "docs" / "config.md", "keys",
                                            markdown_reference()),
        ROOT / "docs" / "parameters.md": splice(ROOT / "docs" / "parameters.md", "parameters",
                                                markdown_parameters()),
    }


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for path, text in generated().items():
        if path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if not check:
                path.write_text(text, encoding="utf-8")
    if check and stale:
        print("stale: " + ", ".join(str(p.relative_to(ROOT)) for p in stale) + "; run make docs")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
