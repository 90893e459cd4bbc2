"""Promotion Gate: verify a Kargo stage level by level, and promote through the Kargo API."""

import os as _os
import sys as _sys

# Between releases the next version with .dev0, while CHANGELOG.md has [Unreleased] entries; a release
# drops it (CHANGELOG.md says how).
__version__ = "0.2.0.dev0"


def _find_checks_in_the_source_tree() -> None:
    """The check kinds are the package gate.checks. In the repository they keep their own folder, checks/
    beside gate/ (one module per check kind); the wheel installs that folder as gate/checks (pyproject's
    package-dir), so nothing named `checks` lands at the top of site-packages. Run from a source tree,
    this finder maps the one name gate.checks to that folder; an installed gate has gate/checks itself."""
    here = _os.path.dirname(__file__)
    folder = _os.path.join(_os.path.dirname(here), "checks")
    if _os.path.isdir(_os.path.join(here, "checks")) or not _os.path.isfile(_os.path.join(folder, "__init__.py")):
        return
    from importlib.util import spec_from_file_location

    class ChecksFolder:
        @staticmethod
        def find_spec(name: str, path: object = None, target: object = None) -> object:
            if name != "gate.checks":
                return None
            return spec_from_file_location(name, _os.path.join(folder, "__init__.py"),
                                           submodule_search_locations=[folder])

    _sys.meta_path.append(ChecksFolder)


_find_checks_in_the_source_tree()
