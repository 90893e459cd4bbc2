"""Print one version's section of CHANGELOG.md (the release notes); exit 1 when it has none."""

from __future__ import annotations

import re
import sys
from pathlib import Path

CHANGELOG = Path(__file__).resolve().parent.parent / "CHANGELOG.md"


def section(text: str, version: str) -> str | None:
    match = re.search(rf"^## \[{re.escape(version)}\][^\n]*\n(.*?)(?=^## \[|\Z)", text, flags=re.M | re.S)
    return match.group(1).strip() + "\n" if match else None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: changelog_section.py VERSION", file=sys.stderr)
        return 2
    notes = section(CHANGELOG.read_text(encoding="utf-8"), argv[1])
    if notes is None:
        print(f"CHANGELOG.md has no [{argv[1]}] section", file=sys.stderr)
        return 1
    sys.stdout.write(notes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
