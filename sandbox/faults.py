"""Fault injection rules: which request gets which failure, for a count or a probability.

A rule matches ``"*"``, a path (``"/api/v3/order"``, any method) or ``"METHOD /path"``, and,
with ``api_key``, only the requests signed with that key (the admin API's ``drop_answers``).
Each rule draws from its own ``random.Random(seed)``, so a probabilistic fault fires on the
same requests for the same seed and request sequence. Latency rules add up and then the request
continues; of the other kinds, the first matching rule that fires decides the outcome:

* ``latency``       sleep ``latency_ms`` (default 1000), then answer normally; the request
                    takes effect even if the client timed out meanwhile
* ``http5xx``       answer ``status`` (default 503) plain text, or JSON -1001 with ``json: true``
* ``rate_limit``    answer ``status`` (default 429; 418 = IP ban) ``{"code":-1003,...}``
                    (each venue answers in its own format and default status: kraken 200
                    ``{"error":["EAPI:Rate limit exceeded"]}``, coinbase 429
                    ``{"errors":[{"id":"rate_limit_exceeded",...}]}``)
* ``drop``          close the connection without executing the request
* ``lost_response`` execute the request (an order IS placed), then send nothing: hold the
                    connection ``latency_ms`` (default 30000, i.e. past any client timeout;
                    0 = close at once) and close it
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

KINDS = frozenset({"latency", "http5xx", "rate_limit", "drop", "lost_response"})
DEFAULT_LATENCY_MS = {"latency": 1000, "lost_response": 30000}
DEFAULT_STATUS = {"http5xx": 503, "rate_limit": 429}


@dataclass
class FaultRule:
    id: int
    endpoint: str
    kind: str
    count: int | None
    probability: float
    seed: int
    latency_ms: int
    status: int | None
    json: bool
    api_key: str | None = None
    fired: int = 0
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def matches(self, method: str, path: str, api_key: str | None = None) -> bool:
        if self.api_key is not None and self.api_key != api_key:
            return False
        return self.endpoint in ("*", path, f"{method} {path}")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "endpoint": self.endpoint, "kind": self.kind,
                "count": self.count, "probability": self.probability, "seed": self.seed,
                "latency_ms": self.latency_ms, "status": self.status, "json": self.json,
                "api_key": self.api_key, "fired": self.fired, "exhausted": self.exhausted}


class FaultInjector:
    def __init__(self, seed: int = 0, default_status: dict[str, int] | None = None) -> None:
        self.seed = seed
        self.default_status = default_status or DEFAULT_STATUS
        self.rules: list[FaultRule] = []
        self._next_id = 1

    def add(self, spec: dict[str, Any]) -> FaultRule:
        """A rule from the admin API's JSON; raises ``ValueError`` on a bad spec."""
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}")
        endpoint = str(spec.get("endpoint", "*"))
        if endpoint != "*" and "/" not in endpoint:
            raise ValueError("endpoint must be '*', a path or 'METHOD /path'")
        count = spec.get("count")
        probability = float(spec.get("probability", 1.0))
        if (count is not None and int(count) < 0) or not 0.0 <= probability <= 1.0:
            raise ValueError("count must be >= 0 and probability in [0, 1]")
        status = spec.get("status", self.default_status.get(kind))
        rule = FaultRule(
            id=self._next_id, endpoint=endpoint, kind=kind,
            count=None if count is None else int(count), probability=probability,
            seed=int(spec.get("seed", self.seed * 1000 + self._next_id)),
            latency_ms=int(spec.get("latency_ms", DEFAULT_LATENCY_MS.get(kind, 0))),
            status=None if status is None else int(status), json=bool(spec.get("json", False)),
            api_key=None if spec.get("api_key") is None else str(spec["api_key"]))
        self._next_id += 1
        self.rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        return len(self.rules) != before

    def clear(self) -> None:
        self.rules.clear()

    def pick(self, method: str, path: str,
             api_key: str | None = None) -> tuple[int, FaultRule | None]:
        """Total injected latency (ms) and the failure rule, if any, for this request."""
        latency, failure = 0, None
        for rule in self.rules:
            if rule.exhausted or not rule.matches(method, path, api_key):
                continue
            if rule.kind != "latency" and failure is not None:
                continue
            if rule.probability < 1.0 and rule.rng.random() >= rule.probability:
                continue
            rule.fired += 1
            if rule.kind == "latency":
                latency += rule.latency_ms
            else:
                failure = rule
        return latency, failure
