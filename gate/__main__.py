"""`python -m gate` runs the CLI, for machines where the console script is not on PATH.

The signal handlers go in before anything else is imported, so a Ctrl-C during start-up ends the process
with 130 (143 for SIGTERM) and no traceback."""

import _signal  # the C module: `signal` itself takes a while to import (enums)
import os


def _quiet_interrupt(signum: int, frame: object) -> None:
    os.write(2, b"gate: interrupted\n")
    os._exit(143 if signum == _signal.SIGTERM else 130)


_signal.signal(_signal.SIGINT, _quiet_interrupt)
_signal.signal(_signal.SIGTERM, _quiet_interrupt)

try:
    from gate.cli import main
except KeyboardInterrupt:  # a handler replaced during import: still quiet
    os._exit(130)

main()
