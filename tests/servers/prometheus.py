"""Debian's prometheus scraping a small local exporter (one target up, one down), and Debian's
prometheus-alertmanager; both on 127.0.0.1 with ports chosen at run time."""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from .common import Process, closed_port, free_port, http_ok, wait_until

JOB = "exporter"


class _Exporter(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = b"# HELP demo_ready Demo readiness.\n# TYPE demo_ready gauge\ndemo_ready 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class Prometheus:
    url: str
    up_target: str
    down_target: str
    process: Process
    exporter: ThreadingHTTPServer
    workdir: str

    def stop(self) -> None:
        self.process.stop()
        self.exporter.shutdown()
        self.exporter.server_close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_prometheus() -> Prometheus:
    work = Path(tempfile.mkdtemp(prefix="gate-prom-"))
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    exporter.daemon_threads = True
    threading.Thread(target=exporter.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    up = f"127.0.0.1:{exporter.server_address[1]}"
    down = f"127.0.0.1:{closed_port()}"
    (work / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n"
        f"      - targets: ['{up}', '{down}']\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = Process(["prometheus", f"--config.file={work / 'prometheus.yml'}",
                       f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                       "--log.level=warn"], work / "prometheus.log")
    prom = Prometheus(url, up, down, process, exporter, str(work))

    def scraped() -> bool:
        targets = requests.get(f"{url}/api/v1/targets", timeout=1).json()["data"]["activeTargets"]
        return len(targets) == 2 and all(t["health"] in ("up", "down") for t in targets)

    try:
        wait_until(http_ok(f"{url}/-/ready"), 30, "prometheus", process.proc, process.log)
        wait_until(scraped, 30, "prometheus' first scrape", process.proc, process.log)
    except Exception:
        prom.stop()
        raise
    return prom


@dataclass
class Alertmanager:
    url: str
    process: Process
    workdir: str

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_alertmanager() -> Alertmanager:
    work = Path(tempfile.mkdtemp(prefix="gate-am-"))
    (work / "alertmanager.yml").write_text("route: {receiver: blackhole}\nreceivers: [{name: blackhole}]\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = Process(["prometheus-alertmanager", f"--config.file={work / 'alertmanager.yml'}",
                       f"--storage.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                       "--cluster.listen-address=", "--log.level=warn"], work / "alertmanager.log")
    am = Alertmanager(url, process, str(work))
    try:
        wait_until(http_ok(f"{url}/api/v2/status"), 30, "alertmanager", process.proc, process.log)
    except Exception:
        am.stop()
        raise
    return am
