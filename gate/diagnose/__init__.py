"""Diagnose mode (the guide's D1–D7): gather a read-only view of a Stage, walk the decision tree, report.

`gather` (D1) reads; `view` is the plain record of those readings; `tree` (D4/D5) holds the rules as data;
`diagnose(view)` walks them; `report` prints the DIAGNOSIS block (D7), JSON and JUnit; `status` is the
pipeline overview.
"""

from gate.diagnose.tree import RULES, Diagnosis, diagnose
from gate.diagnose.view import View

__all__ = ["RULES", "Diagnosis", "View", "diagnose"]
