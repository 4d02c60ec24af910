"""Test helpers for observability: scraping /metrics, a webhook receiver, a real Prometheus."""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.support.redis_server import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Scrape:
    """One /metrics page: its samples and the metric families it declares."""

    samples: list[tuple[str, dict[str, str], float]]
    families: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples, families = [], set()
        for fam in text_string_to_metric_families(text):
            families.add(fam.name)  # the parser drops a counter's _total; a family may
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
            families.update(fam.name + x for x in suffixes.get(fam.type, ()))  # have no samples
            samples += [(s.name, dict(s.labels), s.value) for s in fam.samples]
        return cls(samples, frozenset(families))

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples named ``name`` whose labels include ``labels``."""
        return sum(v for n, lab, v in self.samples
                   if n == name and all(lab.get(k) == want for k, want in labels.items()))

    def names(self) -> set[str]:
        return {n for n, _, _ in self.samples} | set(self.families)


def scrape(url: str) -> Scrape:
    reply = httpx.get(url, timeout=5)
    reply.raise_for_status()
    assert reply.headers["content-type"].startswith("text/plain")
    return Scrape.parse(reply.text)


@dataclass
class Receiver:
    """A JSON webhook on loopback (aiohttp, its own thread) recording every POST body."""

    port: int = field(default_factory=free_port)
    got: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/alerts"

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        runner: list[web.AppRunner] = []

        async def record(request: web.Request) -> web.Response:
            text = await request.text()
            self.raw.append(text + json.dumps(dict(request.headers)))
            self.got.append(json.loads(text))
            return web.json_response({"ok": True})

        async def serve() -> None:
            app = web.Application()
            app.router.add_post("/alerts", record)
            r = web.AppRunner(app)
            await r.setup()
            await web.TCPSite(r, "127.0.0.1", self.port).start()
            runner.append(r)
            started.set()

        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(serve(), loop).result(10)
        started.wait(10)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(runner[0].cleanup(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


def prometheus_config(targets: dict[str, int], interval: str = "1s") -> dict[str, Any]:
    """deploy/prometheus.yml's embedded-stack job, pointed at ``targets`` (service → port)."""
    config = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "piggy-embedded")
    statics = []
    for entry in job["static_configs"]:
        service = entry["labels"]["service"]
        statics.append({"targets": [f"127.0.0.1:{targets[service]}"], "labels": entry["labels"]})
    job["static_configs"] = statics
    config["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
    config["scrape_configs"] = [job]
    return config


@dataclass
class Prometheus:
    proc: subprocess.Popen[bytes]
    url: str

    def query(self, promql: str) -> list[dict[str, Any]]:
        reply = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        reply.raise_for_status()
        body = reply.json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait_value(self, promql: str, predicate: Any, timeout: float = 30) -> float:
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            result = self.query(promql)
            if result:
                last = float(result[0]["value"][1])
                if predicate(last):
                    return last
            time.sleep(0.5)
        raise AssertionError(f"{promql}: last value {last}")


PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


@contextmanager
def running_prometheus(folder: Path, targets: dict[str, int]) -> Iterator[Prometheus]:
    """Debian's prometheus on a free loopback port, stopped by its pid."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(targets)))
    port = free_port()
    log = (folder / "prometheus.log").open("ab")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}",
                             f"--storage.tsdb.path={folder / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    prom = Prometheus(proc, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{prom.url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("prometheus did not start: "
                                   + (folder / "prometheus.log").read_text()[-2000:])
            time.sleep(0.2)
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
