"""Promotion Gate: verify a Kargo stage level by level, and promote through the Kargo API."""

__version__ = "0.1.0"
