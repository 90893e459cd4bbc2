"""Promotion Gate: verify a Kargo stage level by level, and promote through the Kargo API."""

# Between releases the next version with .dev0, while CHANGELOG.md has [Unreleased] entries; a release
# drops it (CHANGELOG.md says how).
__version__ = "0.2.0.dev0"
