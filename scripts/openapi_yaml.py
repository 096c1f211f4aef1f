#!/usr/bin/env python3
"""Writes docs/openapi.yaml from docs/openapi.json (the source of truth, compiled into paddockd).

  scripts/openapi_yaml.py           regenerate docs/openapi.yaml
  scripts/openapi_yaml.py --check   exit 1 when docs/openapi.yaml is out of date (run by ctest)

Only the standard library is used: the emitter below covers what JSON can hold.
"""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "docs" / "openapi.json"
TARGET = ROOT / "docs" / "openapi.yaml"

PLAIN = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$./ -]*$")
RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}


def scalar(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    if (PLAIN.match(text) and text.lower() not in RESERVED and not text.endswith(" ")
            and ": " not in text and " #" not in text):
        return text
    return json.dumps(text, ensure_ascii=False)


def emit(value, indent, out):
    pad = "  " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            k = scalar(key)
            if isinstance(item, dict) and item:
                out.append(f"{pad}{k}:")
                emit(item, indent + 1, out)
            elif isinstance(item, list) and item:
                out.append(f"{pad}{k}:")
                emit(item, indent + 1, out)
            else:
                out.append(f"{pad}{k}: {inline(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                sub = []
                emit(item, indent + 1, sub)
                first = sub[0].lstrip()
                out.append(f"{pad}- {first}")
                out.extend(sub[1:])
            else:
                out.append(f"{pad}- {inline(item)}")
    else:
        out.append(pad + inline(value))


def inline(value):
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return scalar(value)


def render():
    doc = json.loads(SOURCE.read_text(encoding="utf-8"))
    out = ["# Generated from docs/openapi.json by scripts/openapi_yaml.py; edit the JSON, not this file."]
    emit(doc, 0, out)
    return "\n".join(out) + "\n"


def main():
    text = render()
    if "--check" in sys.argv[1:]:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date; run scripts/openapi_yaml.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
