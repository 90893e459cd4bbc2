"""`gate capture --check FILE`: anything in a capture that looks like a credential, by path.

A capture the gate wrote passes (gate/capture/scrub.py removed all of it); one edited by hand, or
written by an older gate, may not. Looked for: the credential shapes of scrub.SHAPES in every string
and key, Secret `data`/`stringData` values other than the placeholder, and literal env values whose
name says secret (`*_TOKEN`, `*_PASSWORD`, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gate import redact
from gate.capture.scrub import PLACEHOLDER, PLACEHOLDER_B64, find


def findings(data: Any) -> list[tuple[str, str]]:
    """(path, what) for every credential-looking value; the path as `objects[3].data.password`."""
    return list(_walk(data, ""))


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        for name in find(value):
            yield path or "(top)", name
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")
        return
    if not isinstance(value, dict):
        return
    if value.get("kind") == "Secret" and value.get("apiVersion") == "v1":
        for key in ("data", "stringData"):
            for name, v in (value.get(key) or {}).items() if isinstance(value.get(key), dict) else ():
                if v not in (None, "", PLACEHOLDER, PLACEHOLDER_B64, redact.MASK):
                    yield _join(_join(path, key), name), "Secret value"
    if isinstance(value.get("name"), str) and "value" in value and redact.is_secret_name(value["name"]) \
            and value["value"] not in (None, "", PLACEHOLDER, redact.MASK) and path.split(".")[-1].startswith("env"):
        yield _join(path, "value"), f"env value of {value['name']}"
    for key, sub in value.items():
        if isinstance(key, str):
            for name in find(key):
                yield _join(path, key) + " (key)", name
        yield from _walk(sub, _join(path, str(key)))


def _join(path: str, key: str) -> str:
    simple = key.replace("_", "").replace("-", "").isalnum()
    return (f"{path}.{key}" if path else key) if simple else f'{path}["{key}"]'
