"""The JSON Schema of rule files, generated from the pydantic models.

``python -m collector.rules.schema > rules/rule-file.schema.json`` refreshes the shipped
file; a test fails when it is out of date. Editors use it for completion and validation;
the loader stays the authority (it also checks durations, regexes and duplicate ids).
"""

from __future__ import annotations

import json
from typing import Any

from collector.rules.model import RuleFile

SCHEMA_FILE = "rule-file.schema.json"


def rule_file_schema() -> dict[str, Any]:
    schema = RuleFile.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://upkeep.example/schemas/rule-file.schema.json"
    return schema


def render_schema() -> str:
    return json.dumps(rule_file_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render_schema(), end="")
