"""Capture and replay: keep the world a verdict was made on, and make the verdict again offline.

- `tap`: the one global the shared clients look at (kube, Kargo, HTTP): a Recorder while a run is
  captured, a Replayer while one is replayed, None otherwise (one attribute read per request).
- `record`: what the gate read, as it read it (objects, logs, permissions, faults, HTTP answers,
  check observations that have no world behind them).
- `world`: a Recorder's reading as a simulator scenario (gate/sim/scenario.py), times made relative.
- `scrub`: redaction before anything is written; `scan`: `gate capture --check`.
- `replay`: the simulator serving a capture in-process, and the HTTP answers served again.
- `options`: `--replay`, `--capture`, `--capture-on-failure` on verify, precheck, promote, diagnose, status.
"""
