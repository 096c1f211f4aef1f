#!/usr/bin/env python3
"""Copies the error-code table of src/api/error_codes.cpp (the source of truth) into
docs/openapi.json (components.x-error-codes and the ErrorCode enum), docs/openapi.yaml and the
table in docs/api.md. Run it after editing the table; unit tests fail until the copies agree.
"""
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def read_table():
    src = (ROOT / "src/api/error_codes.cpp").read_text()
    start = src.index("kCodes{")
    body = src[start:src.index("};", start)]
    table = []
    for part in body.split("ErrorCode{")[1:]:
        entry = part[:part.index("}")]
        strings = re.findall(r'"([^"]*)"', entry)
        status = int(re.search(r",\s*(\d{3}),", entry).group(1))
        table.append({"code": strings[0], "status": status, "meaning": "".join(strings[1:])})
    return table


def main():
    table = read_table()
    openapi = ROOT / "docs/openapi.json"
    doc = json.loads(openapi.read_text())
    doc["components"]["x-error-codes"] = table
    doc["components"]["schemas"]["ErrorCode"]["enum"] = [t["code"] for t in table]
    openapi.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")

    api_md = ROOT / "docs/api.md"
    text = api_md.read_text()
    header = "| code | status | meaning |\n| --- | --- | --- |\n"
    start = text.index(header) + len(header)
    end = start
    while text.startswith("| `", end):
        end = text.index("\n", end) + 1
    rows = "".join("| `%s` | %d | %s |\n" % (t["code"], t["status"], t["meaning"]) for t in table)
    api_md.write_text(text[:start] + rows + text[end:])

    subprocess.run([sys.executable, str(ROOT / "scripts/openapi_yaml.py")], check=True)
    print("%d codes written to docs/openapi.json, docs/openapi.yaml and docs/api.md" % len(table))


if __name__ == "__main__":
    main()
