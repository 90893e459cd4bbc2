"""`python -m gate` runs the CLI, for machines where the console script is not on PATH."""

from gate.cli import main

main()
