"""`--via cli`: create the Promotion with an installed `kargo` binary (reads still go through the API).

`kargo promote --wait` exits 0 even when the Promotion fails and prints the object as created
(notes/kargo.md §0.4), so the gate never uses `--wait`: it creates, reads the name from the output
and follows the Promotion's phase itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

from gate.cluster.kube import Permission
from gate.errors import ConfigError, EvaluationError, PermissionDenied
from gate.kargo.client import GROUP, KargoConfig, map_error
from gate.redact import redact


class KargoCli:
    def __init__(self, config: KargoConfig, reader: Any, binary: str | None = None) -> None:
        self.binary = binary or shutil.which("kargo")
        if not self.binary:
            raise ConfigError("--via cli needs the kargo CLI on PATH", key="--via")
        self.config, self.reader = config, reader

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.config.address and self.config.token:  # the CLI uses these only when both are set
            env["KARGO_API_ADDRESS"], env["KARGO_API_TOKEN"] = self.config.address, self.config.token
        if self.config.insecure_skip_tls_verify:
            env["KARGO_INSECURE_SKIP_TLS_VERIFY"] = "true"
        return env

    def promote(
        self,
        project: str,
        stage: str,
        *,
        freight: str | None = None,
        alias: str | None = None,
        origin: str | None = None,
    ) -> dict:
        args = [self.binary, "promote", "--project", project, "--stage", stage, "-o", "json"]
        if freight:
            args += ["--freight", freight]
        elif alias:
            args += ["--freight-alias", alias]
        else:
            args += ["--warehouse", (origin or "").split("/", 1)[-1]]
        before = {p["metadata"]["name"] for p in self.reader.list_promotions(project, stage)}
        try:
            done = subprocess.run(args, env=self._env(), capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EvaluationError(f"kargo CLI failed to run: {exc}") from None
        if done.returncode != 0:
            msg = redact(
                (done.stderr or done.stdout).strip().splitlines()[-1:][0]
                if (done.stderr or done.stdout)
                else "no output"
            )
            perm = Permission("promote", "stages", GROUP, project, stage)
            low = msg.lower()
            status = (
                400
                if "not available" in low
                else 401
                if "unauthenticated" in low or "401" in low
                else 403
                if "permission" in low or "forbidden" in low
                else 404
                if "not found" in low
                else 500
            )
            err = map_error(
                status, msg, what=f'Stage "{stage}" in project "{project}"', key="--freight", permission=perm
            )
            if status == 500:
                raise EvaluationError(f"kargo promote failed (exit {done.returncode}): {msg}")
            if isinstance(err, PermissionDenied) or status != 500:
                raise err
        try:
            promo = json.loads(done.stdout)
        except ValueError:
            promo = {}
        if (promo.get("metadata") or {}).get("name"):
            return promo
        # Some CLI versions print an empty object (issue #5650): find the Promotion it created.
        fresh = [
            p for p in self.reader.list_promotions(project, stage) if p["metadata"]["name"] not in before
        ]
        if not fresh:
            raise EvaluationError("kargo promote reported success but no new Promotion is visible")
        return max(fresh, key=lambda p: p["metadata"]["name"])
