"""What masking costs at start-up with real credentials (run by hand: `python3 benchmarks/bench_masking.py`;
bench_startup.py prints the same lines). Every secret the gate learns (kubeconfig token, Kargo API token,
CI tokens, `${env:}` values, client keys) is registered in ~20 encoded forms, and every output line is
masked. Prints, per shape: the time to register the secrets, to build the matcher, and to mask a 10 KB
report holding one of them (median of 5), in-process, no server involved."""

from __future__ import annotations

import base64
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gate import redact  # noqa: E402


def _b64url(size: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(size)).decode().rstrip("=")


def _jwt(length: int) -> str:
    header, signature = _b64url(27), _b64url(256)
    return f"{header}.{_b64url(length)[: length - len(header) - len(signature) - 2]}.{signature}"


SHAPES: list[tuple[str, Callable[[], str], int]] = [
    ("ServiceAccount token (914 chars)", lambda: _jwt(914), 1),
    ("Kargo API JWT (2,000 chars)", lambda: _jwt(2000), 1),
    ("EKS token (k8s-aws-v1. + 1,000)", lambda: "k8s-aws-v1." + _b64url(750), 1),
    ("token of 10,000 chars", lambda: _b64url(7500), 1),
    ("token of 100,000 chars", lambda: _b64url(75000), 1),
    ("a CI job's worth: 12 tokens of 40-2,000 chars", lambda: _jwt(secrets.choice([40, 900, 2000])), 12),
    ("300 secrets of 40 chars", lambda: _b64url(30), 300),
    ("300 JWTs of 1,000 chars", lambda: _jwt(1000), 300),
]


def measure(make: Callable[[], str], count: int, runs: int = 5) -> tuple[float, float, float]:
    register, build, mask = [], [], []
    for _ in range(runs):
        redact.clear()
        values = [make() for _ in range(count)]
        report = ("level 1: pods ready in monitoring, 4/4 PASS\n" * 220)[:10_000] + values[-1]
        started = time.perf_counter()
        for value in values:
            redact.register(value)
        registered = time.perf_counter()
        redact.longest()  # builds the matcher
        built = time.perf_counter()
        masked = redact.redact(report)
        done = time.perf_counter()
        assert values[-1] not in masked
        register.append(registered - started)
        build.append(built - registered)
        mask.append(done - built)
    redact.clear()
    return statistics.median(register), statistics.median(build), statistics.median(mask)


def report() -> None:
    print("masking (in-process; median of 5): register / build matcher / mask a 10 KB report")
    for label, make, count in SHAPES:
        reg, build, mask = measure(make, count)
        print(f"  {label:48s} {reg * 1000:8.2f} ms / {build * 1000:7.2f} ms / {mask * 1000:7.2f} ms")


if __name__ == "__main__":
    report()
