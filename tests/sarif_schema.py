"""Validate SARIF logs against the SARIF 2.1.0 JSON schema in both published forms (tests/schemas/:
Microsoft's, which the SARIF Multitool uses, and OASIS's own; sources in tests/schemas/README.md). conftest.py wraps the filter's SARIF writer with `checked_chunks`, so
every SARIF log the suite writes in-process is validated when it is complete."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema

SCHEMA_FILES = tuple(
    Path(__file__).resolve().parent / "schemas" / name
    for name in ("sarif-2.1.0.json", "sarif-schema-2.1.0.json")
)
WRITTEN: list[int] = []  # how many logs were checked (a test asserts the check ran)


@functools.cache
def _validators() -> tuple[jsonschema.protocols.Validator, ...]:
    validators = []
    for path in SCHEMA_FILES:
        schema = json.loads(path.read_text(encoding="utf-8"))
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft4Validator)
        cls.check_schema(schema)
        validators.append(cls(schema))
    return tuple(validators)


def validate_sarif(log: dict) -> None:
    """AssertionError naming the first schema violation, if any."""
    for path, validator in zip(SCHEMA_FILES, _validators()):
        errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
        assert not errors, (
            f"SARIF schema ({path.name}): {errors[0].message} at {list(errors[0].absolute_path)}"
        )


def checked_chunks(real):
    """`sarif_chunks` that also validates the whole log once its last chunk is out."""

    def wrapper(*args, **kwargs) -> Iterator[str]:
        parts: list[str] = []
        for chunk in real(*args, **kwargs):
            parts.append(chunk)
            yield chunk
        validate_sarif(json.loads("".join(parts)))
        WRITTEN.append(1)

    return wrapper
