#!/usr/bin/env python3
"""Generates a C++ file holding docs/openapi.yaml as JSON, for GET /admin/openapi.json (one source:
the YAML). Run at build time: embed_openapi.py docs/openapi.yaml OUT.cpp"""
import json
import os
import sys

import yaml

source, out = sys.argv[1], sys.argv[2]
with open(source, encoding="utf-8") as f:
    document = yaml.safe_load(f)
if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3.0."):
    sys.exit(f"{source}: not an OpenAPI 3.0 document")
text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
delimiter = "openapi_json"  # at most 16 characters
if f"){delimiter}\"" in text:
    sys.exit(f"{source}: holds the raw string delimiter {delimiter}")
cpp = ("// Generated from docs/openapi.yaml by api-daemon/embed_openapi.py. Do not edit.\n"
       "#include \"api-daemon/openapi.hpp\"\n\n"
       "namespace smsbridge::api {\n\n"
       f"std::string_view openapi_json() {{\n  return R\"{delimiter}({text}){delimiter}\";\n}}\n\n"
       "}  // namespace smsbridge::api\n")
# Written only when it changed, so an edit of the YAML's comments rebuilds nothing.
try:
    with open(out, encoding="utf-8") as f:
        if f.read() == cpp:
            sys.exit(0)
except OSError:
    pass
with open(out + ".tmp", "w", encoding="utf-8") as f:
    f.write(cpp)
os.replace(out + ".tmp", out)
