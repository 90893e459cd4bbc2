"""setuptools reads the project from pyproject.toml; this file adds the one thing pyproject's package
discovery cannot say: the repository's checks/ folder is installed as the package gate.checks, so the wheel
puts no top-level `checks` package into site-packages (gate/__init__.py finds it in a source tree)."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["gate", "gate.*"]), "gate.checks"], package_dir={"gate.checks": "checks"})
