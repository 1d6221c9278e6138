"""Where every benchmark writes its figures: its own section of bench/RESULTS.md, the others untouched."""
from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def write_section(section: str, path: Path = RESULTS) -> Path:
    """`section` begins with its "## Heading" line: it replaces that heading's section (up to the next
    "## " heading) or, the first time, is appended."""
    heading = section.lstrip("\n").split("\n", 1)[0]
    if not heading.startswith("## "):
        raise ValueError(f"a section begins with its '## ' heading, not {heading[:60]!r}")
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    body = section.strip("\n") + "\n\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _m: body, text, count=1) if pattern.search(text) else text.rstrip("\n") + "\n\n" + body
    path.write_text(text.rstrip("\n") + "\n")
    return path
