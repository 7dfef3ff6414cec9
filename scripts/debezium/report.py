#!/usr/bin/env python3
"""Writes tests/fixtures/debezium/TYPES.md: the type mapping Debezium 3.6 showed in the recorded
fixtures, column by column, so that nobody has to dig it out of the JSON lines by hand.

Why this exists: the fixtures are the evidence, but a person implementing the mapping needs a
table: for every column of scripts/debezium/all_types.sql, its PostgreSQL type, the Connect schema
Debezium gave it (type, name, parameters; "dropped" when the column is missing from the value),
and the value of every row as the snapshot read it and, where different, as the stream sent it
(rows 1..n are snapshot reads, rows 101..100+n the same values inserted again while streaming).
Option sets other than `defaults` appear only where they change a column's schema or value.

Standard library only; reads the fixtures and columns.json that scripts/debezium/record.py wrote.
Run by record.py after a full recording, or alone:
    python3 scripts/debezium/report.py [--dir tests/fixtures/debezium]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE.parent.parent / "tests" / "fixtures" / "debezium"
PREFIX = "dbz.public."
MAX_CELL = 70


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def schema_text(field: dict) -> str:
    """A Connect field schema in one line: type, logical name, parameters, element schema."""
    t = field["type"]
    if t == "array":
        return f"array<{schema_text(field['items'])}{'' if field['items'].get('optional') else ' (required)'}>"
    out = t
    if t == "struct" and "name" not in field:
        out += "{" + ", ".join(f["field"] + ": " + schema_text(f) for f in field["fields"]) + "}"
    if "name" in field:
        out += f" `{field['name']}`"
        if t == "struct":
            out += "{" + ", ".join(f["field"] for f in field["fields"]) + "}"
    if field.get("parameters"):
        out += " " + json.dumps(field["parameters"], separators=(",", ":"), ensure_ascii=False)
    return out


def cell(value) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(text) > MAX_CELL:
        text = text[: MAX_CELL - 10] + f"…({len(text)} chars)"
    return "`" + text.replace("|", "\\|").replace("`", "ˋ") + "`"


class Recorded:
    """One option set's records: value schemas per table, snapshot and stream rows per id."""

    def __init__(self, directory: Path, name: str):
        self.name = name
        self.fields: dict[str, dict[str, dict]] = {}  # table -> column -> field schema
        self.snapshot: dict[str, dict[int, dict]] = {}  # table -> id -> after
        self.stream: dict[str, dict[int, dict]] = {}  # table -> id - 100 -> after
        self.updates: dict[str, list[dict]] = {}  # table -> payloads of op u, in order
        for r in load(directory / f"{name}.schemas.jsonl"):
            v = r["value"]
            if v is None or not r["topic"].startswith(PREFIX):
                continue
            table = r["topic"][len(PREFIX):]
            if table not in self.fields:
                after = next(f for f in v["schema"]["fields"] if f["field"] == "after")
                self.fields[table] = {f["field"]: f for f in after["fields"]}
            p = v["payload"]
            a = p["after"]
            if a is None or a.get("id") is None:
                continue
            if p["op"] == "u":
                self.updates.setdefault(table, []).append(p)
            if p["op"] == "r":
                self.snapshot.setdefault(table, {})[a["id"]] = a
            elif p["op"] == "c" and 100 < a["id"] < 200:
                self.stream.setdefault(table, {})[a["id"] - 100] = a

    def values(self, table: str, column: str) -> list[tuple[int, object, object]]:
        """(id, snapshot value, stream value) per snapshot row; '<missing>' when absent."""
        out = []
        for rid, row in sorted(self.snapshot.get(table, {}).items()):
            s = row.get(column, "<missing>")
            st = self.stream.get(table, {}).get(rid, {}).get(column, "<missing>") if rid in self.stream.get(table, {}) else "<not streamed>"
            out.append((rid, s, st))
        return out


def values_cell(vals: list[tuple[int, object, object]]) -> str:
    parts = []
    for rid, s, st in vals:
        if st == "<not streamed>" or s == st:
            parts.append(f"{rid}: {cell(s)}")
        else:
            parts.append(f"{rid}: snapshot {cell(s)}, **stream {cell(st)}**")
    return "<br>".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = ap.parse_args()
    write_types(args.dir)
    return 0


def write_types(directory: Path) -> None:
    columns = json.loads((directory / "columns.json").read_text(encoding="utf-8"))
    sets = sorted(p.name[: -len(".schemas.jsonl")] for p in directory.glob("*.schemas.jsonl"))
    base = Recorded(directory, "defaults")
    others = [Recorded(directory, s) for s in sets if s != "defaults"]

    lines = [
        "# Debezium 3.6 type mapping, as recorded",
        "",
        "Generated by `scripts/debezium/report.py` from the fixtures in this directory (re-recorded",
        "with `scripts/record-debezium.sh`); do not edit. What it means and what Debezium gets wrong:",
        "[README.md](README.md).",
        "",
        "Per table: each column's PostgreSQL type, the Connect schema of the column in the value",
        "(`defaults` set; **dropped** = the column is absent from `before`/`after`), and the value of",
        "each row (ids as in `scripts/debezium/all_types.sql`) as the snapshot read it; where the",
        "stream sent the same value differently (the row inserted again with id + 100 by",
        "`changes.sql`), both are shown and the stream's is bold. Values are the JSON of the payload",
        f"with `schemas.enable=false`, cut at {MAX_CELL} characters. Below each table, the option sets",
        "that change a column's schema or values.",
        "",
    ]
    for table, cols in columns.items():
        if table == "marker" or table not in base.fields:
            continue
        lines += [f"## `{table}`", "", "| column | PostgreSQL type | Connect schema | values (row id: value) |", "|---|---|---|---|"]
        for c in cols:
            name = c["column"]
            field = base.fields[table].get(name)
            schema = schema_text(field) if field else "**dropped**"
            opt = "" if field is None or field.get("optional") else " (required)"
            vals = values_cell(base.values(table, name)) if field and name != "id" else ""
            lines.append(f"| `{name}` | `{c['type']}` | {schema}{opt} | {vals} |")
        lines.append("")
        changes = []
        for rec in others:
            if table not in rec.fields:
                continue
            for c in cols:
                name = c["column"]
                f0, f1 = base.fields[table].get(name), rec.fields[table].get(name)
                v0, v1 = base.values(table, name), rec.values(table, name)
                if f0 == f1 and (f1 is None or v0 == v1):
                    continue
                schema = schema_text(f1) if f1 else "**dropped**"
                vals = values_cell(v1) if f1 else ""
                changes.append(f"| `{rec.name}` | `{name}` | {schema} | {vals} |")
        if changes:
            lines += ["| option set | column | Connect schema | values |", "|---|---|---|---|"] + changes + [""]
    lines += [
        "## Unchanged TOAST values",
        "",
        "`toast_types` (default replica identity): `UPDATE toast_types SET note = ...` leaves the",
        "large values unchanged, so pgoutput does not send them; Debezium writes",
        "`unavailable.value.placeholder` in a form that depends on the column's type. The second",
        "update changes `c_text` and `c_int4_arr`, which are then sent in full.",
        "",
        "| option set | update | column | value in `after` |",
        "|---|---|---|---|",
    ]
    for rec in [base] + others:
        for n, p in enumerate(rec.updates.get("toast_types", []), 1):
            for name, value in p["after"].items():
                if name != "id":
                    lines.append(f"| `{rec.name}` | {n} | `{name}` | {cell(value)} |")
    lines.append("")
    (directory / "TYPES.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
