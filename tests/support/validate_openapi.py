#!/usr/bin/env python3
"""Validates answers of a live paddockd against the schemas of docs/openapi.json.

  validate_openapi.py OPENAPI_JSON CASES_JSON

CASES_JSON is a list of {"route": "/v1/workers/{id}", "method": "get", "status": 200,
"body": <the parsed answer>} or {"schema": "Event", "body": ...}. Each case's schema is the one
the document gives for that route, method, status and application/json (or the named component);
a status the document does not list for the route is a failure too. Prints one line per case and
exits 1 when any case fails. Uses python3-jsonschema; OpenAPI 3.0's `nullable` becomes a JSON
Schema "null" type.
"""
import json
import sys

import jsonschema


def to_json_schema(node):
    """OpenAPI 3.0 schema objects -> JSON Schema (draft 4 family): `nullable: true` allows null."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        if "$ref" in out:
            return {"anyOf": [{"$ref": out["$ref"]}, {"type": "null"}]}
        if "type" in out:
            out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else out["type"] + ["null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = out["enum"] + [None]
    return out


def schema_for(doc, case):
    if "schema" in case:
        return {"$ref": "#/components/schemas/" + case["schema"]}, "components.schemas." + case["schema"]
    path = doc["paths"].get(case["route"])
    if path is None:
        raise LookupError("route %s is not in the document" % case["route"])
    op = path.get(case["method"])
    if op is None:
        raise LookupError("%s %s is not in the document" % (case["method"].upper(), case["route"]))
    response = op["responses"].get(str(case["status"]))
    if response is None:
        raise LookupError("%s %s does not document status %s" % (case["method"].upper(), case["route"], case["status"]))
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    content = response.get("content", {}).get("application/json")
    if content is None:
        raise LookupError("%s %s %s has no application/json schema" % (case["method"].upper(), case["route"], case["status"]))
    return content["schema"], "%s %s %s" % (case["method"].upper(), case["route"], case["status"])


def main():
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    with open(sys.argv[2]) as f:
        cases = json.load(f)
    components = to_json_schema(doc["components"])
    failed = 0
    for case in cases:
        try:
            schema, where = schema_for(doc, case)
        except LookupError as e:
            print("FAIL %s" % e)
            failed += 1
            continue
        root = {"allOf": [to_json_schema(schema)], "components": components}
        validator = jsonschema.Draft4Validator(root)
        errors = sorted(validator.iter_errors(case["body"]), key=lambda e: list(e.absolute_path))
        if errors:
            failed += 1
            for e in errors[:5]:
                at = "/".join(str(p) for p in e.absolute_path) or "(root)"
                print("FAIL %s: at %s: %s" % (where, at, e.message))
        else:
            print("ok   %s" % where)
    print("%d of %d answers match their schema" % (len(cases) - failed, len(cases)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
