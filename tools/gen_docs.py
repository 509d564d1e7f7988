"""Regenerate the generated parts of docs/ (``make docs``); tests fail when they are stale."""

from __future__ import annotations

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
    return {
        hosts_md: text,
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
