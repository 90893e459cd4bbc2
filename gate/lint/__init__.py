"""`gate lint` and `gate scaffold`: the operations guide's SETUP mode (S1–S4) over manifests.

manifests -> Pipeline (the graph: Warehouses, Stages, Applications, templates, RBAC) -> rules (one
declarative entry each, in `rules.py`) -> findings -> text/JSON/JUnit/SARIF, or the graph as Mermaid/dot.
"""
