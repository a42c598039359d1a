"""Writing a benchmark's table into a note between markers, and its JSON beside it."""

from __future__ import annotations

import json
from pathlib import Path


def write_table(md: Path, start: str, end: str, table: str, record: Path, result: dict,
                title: str) -> None:
    """Put ``table`` between the markers ``start`` and ``end`` of the note ``md`` (made
    with ``title`` when missing; the markers appended when absent) and ``result`` as
    JSON in ``record``; each file is written whole or not at all."""
    md.parent.mkdir(parents=True, exist_ok=True)
    text = md.read_text() if md.exists() else f"# {title}\n"
    if start not in text:
        text += f"\n{start}\n{end}\n"
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    for path, content in ((md, before + start + "\n" + table + "\n" + end + after),
                          (record, json.dumps(result, indent=1) + "\n")):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(content)
        tmp.replace(path)
    print(f"-> {md}, {record}")
