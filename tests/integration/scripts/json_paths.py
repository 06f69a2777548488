#!/usr/bin/env python3
"""Reads one JSON document (strictly: control characters in strings are refused) from the file
named on the command line and prints each scalar as "path<TAB>value", the value as JSON text
(strings quoted and escaped by json.dumps, so one per line): generations.0.state\t"serving".
Exit status 1 when the document is not valid JSON."""
import json
import sys


def walk(value, path):
    if isinstance(value, dict):
        for key, item in value.items():
            walk(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        print(f"{path}.length\t{len(value)}")
        for index, item in enumerate(value):
            walk(item, f"{path}.{index}")
    else:
        print(f"{path}\t{json.dumps(value)}")


with open(sys.argv[1], "rb") as source:
    raw = source.read()
try:
    document = json.loads(raw.decode("utf-8"))
except (UnicodeDecodeError, json.JSONDecodeError) as error:
    print(f"invalid JSON: {error}", file=sys.stderr)
    sys.exit(1)
walk(document, "")
