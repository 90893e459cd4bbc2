"""A bearer token read from a file that is replaced while the gate runs: the projected ServiceAccount
token of a Pod (/var/run/secrets/kubernetes.io/serviceaccount/token).

The kubelet rotates a projected token before it expires (at 80% of its lifetime) by swapping the
volume's `..data` symlink (kubernetes pkg/volume/util/atomic_writer.go), so the path names a new file. The
kubernetes package's in-cluster loader (kubernetes/config/incluster_config.py) re-reads the file once a
minute and never tells gate.redact about the new token. This source looks at the file (one stat) before
each request and re-reads it when it is another file or was rewritten, registering each token it reads
as a secret before it is sent.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from gate import redact


class TokenFile:
    """The current token of `path`, re-read when the file changes (Configuration.refresh_api_key_hook)."""

    def __init__(self, path: str, prefix: str = "Bearer ") -> None:
        self.path = path
        self.prefix = prefix
        self._lock = threading.Lock()
        self._seen: tuple[int, ...] | None = None
        self.token: str | None = None
        self.reads = 0

    def current(self) -> str | None:
        """The token in the file now; the last one read when the file cannot be read at this moment (a
        rotation is a symlink swap: the path never lacks a file, but a read may race it)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return self.token
        seen = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if seen != self._seen:
                try:
                    with open(self.path, encoding="utf-8", errors="replace") as fh:
                        text = fh.read(1 << 20).strip()
                except OSError:
                    return self.token
                if text:
                    redact.register(text)
                    self.token, self._seen = text, seen
                    self.reads += 1
            return self.token

    @property
    def generation(self) -> int:
        return self.reads

    def renew(self, seen: int) -> bool:
        """The server refused the token of generation `seen`: read the file again now unless a newer token
        was read since; True when there is another token."""
        with self._lock:
            if self.reads != seen:
                return True
            old, self._seen = self.token, None
        return self.current() not in (None, old)

    def refresh_hook(self, configuration: Any) -> None:
        token = self.current()
        if token:
            configuration.api_key["BearerToken"] = self.prefix + token
