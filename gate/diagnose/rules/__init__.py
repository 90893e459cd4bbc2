"""The decision tree's rules as data, one module per branch of the guide (gate/diagnose/tree.py orders them)."""
