#!/usr/bin/env python3
"""Writes src/data/ of this crate from the installed PyPI package zxcvbn==4.4.28 (MIT).

Run with the interpreter of a venv holding exactly that version, from the workspace root:
    target/pyvenv/bin/python crates/frappe-password/scripts/zxcvbn-data.py
The files are data, regenerated rather than edited: one word a line in list order
(the Rust side ranks by position, later duplicates win, as Python's dict does), the
keyboard graphs as JSON, and the Unicode decimal-digit ranges Python's `\\d` and `int()`
accept, from this interpreter's unicodedata.
"""
import json
import pathlib
import sys
import unicodedata

import zxcvbn
from zxcvbn.adjacency_graphs import ADJACENCY_GRAPHS
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from importlib.metadata import version

if version("zxcvbn") != "4.4.28":
    sys.exit(f"need zxcvbn 4.4.28, found {version('zxcvbn')}")

out = pathlib.Path(__file__).resolve().parent.parent / "src" / "data"
out.mkdir(parents=True, exist_ok=True)

for name, words in FREQUENCY_LISTS.items():
    assert all("\n" not in w and w == w.strip() for w in words), name
    (out / f"{name}.txt").write_text("\n".join(words) + "\n", encoding="utf-8")

(out / "adjacency_graphs.json").write_text(
    json.dumps(ADJACENCY_GRAPHS, ensure_ascii=False, sort_keys=False, separators=(",", ":")) + "\n",
    encoding="utf-8",
)

# Decimal digits (category Nd) as inclusive code point ranges, one "start end" a line.
ranges = []
for cp in range(sys.maxunicode + 1):
    if unicodedata.category(chr(cp)) == "Nd":
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
for s, e in ranges:
    for cp in range(s, e + 1):
        assert unicodedata.decimal(chr(cp)) == (cp - s) % 10, hex(cp)
(out / "decimal_digits.txt").write_text(
    "".join(f"{s:x} {e:x}\n" for s, e in ranges), encoding="ascii"
)
(out / "ORDER").write_text("\n".join(FREQUENCY_LISTS) + "\n", encoding="ascii")
print("unicode", unicodedata.unidata_version, "lists", {k: len(v) for k, v in FREQUENCY_LISTS.items()})
