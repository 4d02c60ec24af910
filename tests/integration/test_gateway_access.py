"""Per-user access, checked on every operation of the gateway's own OpenAPI document (so a
route added later is covered without touching this test): no token → 401; user A's token
acting for user B → 403 (and nothing happens); the operator token is never refused."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared import streams, tokens
from tests.integration.gateway_support import running_gateway

pytestmark = pytest.mark.integration

PUBLIC = {("get", "/api/health")}
# Market facts, not a user's data: any valid token may ask (still 401 without one).
ANY_TOKEN = {("GET", "/api/minimum"), ("GET", "/api/whoami")}
VALUES = {"userId": None, "user_id": None, "exchange": "binanceus", "amountUsd": "2",
          "symbol": "BTCUSDT", "symbolCcxt": "BTC/USDT", "apiKey": "KEY12345",
          "apiSecret": "SECRET12", "side": "buy", "confirmToken": "", "reason": "test",
          "limit": 5}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _value(name: str, user: str) -> Any:
    return user if name in ("userId", "user_id") else VALUES.get(name, "x")


def requests_for(spec: dict[str, Any], user: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx kwargs) for every operation, naming ``user`` wherever a user id goes."""
    out = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if (method, path) in PUBLIC:
                continue
            url, params = path, {}
            for p in op.get("parameters", []):
                if p["in"] == "path":
                    url = url.replace("{" + p["name"] + "}", str(_value(p["name"], user)))
                elif p["in"] == "query" and (p.get("required") or p["name"] in ("userId",)):
                    params[p["name"]] = _value(p["name"], user)
            kwargs: dict[str, Any] = {"params": params}
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                schema = _resolve(spec, body["schema"])
                props = schema.get("properties", {})
                kwargs["json"] = {name: _value(name, user) for name in props
                                  if name in schema.get("required", []) or name in VALUES}
            out.append((method.upper(), url, kwargs))
    return out


async def test_every_operation_needs_a_token_and_a_user_token_acts_only_for_its_user(
        redis_url: str, tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path, reply_timeout_s=0.3) as gw:
        redis = gw.ctx.bus.redis
        alice, _ = await tokens.create(redis, "alice")
        spec = (await gw.http.get("/openapi.json")).json()
        as_bob = requests_for(spec, "bob")
        assert len(as_bob) >= 9, [r[:2] for r in as_bob]
        problems = []
        for method, url, kw in as_bob:
            anonymous = await gw.http.request(method, url, headers={"Authorization": ""}, **kw)
            wrong = await gw.http.request(method, url, headers={"Authorization": "Bearer nope"}, **kw)
            other = await gw.http.request(method, url, headers={"Authorization": f"Bearer {alice}"},
                                          **kw)
            if anonymous.status_code != 401 or wrong.status_code != 401:
                problems.append(f"{method} {url} without a valid token: "
                                f"{anonymous.status_code}/{wrong.status_code}")
            if (method, url) in ANY_TOKEN:
                if other.status_code in (401, 403):
                    problems.append(f"{method} {url} with alice's token: {other.status_code}")
            elif other.status_code != 403:
                problems.append(f"{method} {url} as alice for bob: {other.status_code} {other.text[:120]}")
        # nothing was done for bob: no intent, no key, no kill switch
        assert await redis.xlen(streams.INTENTS) == 0
        assert not await redis.keys("piggy:vault:*") and not await redis.exists("piggy:kill")
        # alice's own user id is not refused (answers vary: 404 no keys, 503 no executor...)
        own = [(m, u, kw) for m, u, kw in requests_for(spec, "alice")
               if "alice" in u or "alice" in str(kw)]
        assert len(own) >= 7
        for method, url, kw in own:
            resp = await gw.http.request(method, url, headers={"Authorization": f"Bearer {alice}"},
                                         **kw)
            if resp.status_code in (401, 403):
                problems.append(f"{method} {url} as alice for alice: {resp.status_code}")
            operator = await gw.http.request(method, url, **kw)
            if operator.status_code in (401, 403):
                problems.append(f"{method} {url} as the operator: {operator.status_code}")
    assert problems == [], "\n".join(problems)


async def test_user_tokens_are_stored_hashed_and_revoked_at_once(redis_url: str, tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path) as gw:
        redis = gw.ctx.bus.redis
        token, info = await tokens.create(redis, "alice", "phone")
        other, _ = await tokens.create(redis, "bob")
        auth = {"Authorization": f"Bearer {token}"}
        before = await gw.http.get("/api/trades", params={"userId": "alice"}, headers=auth)
        dump = [str(v) for v in (await redis.hgetall(tokens.TOKENS)).items()]
        listed = await tokens.list_all(redis, "alice")
        gone = await tokens.revoke(redis, user_id="alice")
        after = await gw.http.get("/api/trades", params={"userId": "alice"}, headers=auth)
        bob_still = await gw.http.get("/api/trades", params={"userId": "bob"},
                                      headers={"Authorization": f"Bearer {other}"})
    assert before.status_code == 200
    assert not any(token in d or other in d for d in dump)  # only hashes are kept
    assert [i.id for i in listed] == [info.id] and listed[0].label == "phone"
    assert [i.id for i in gone] == [info.id]
    assert after.status_code == 401 and bob_still.status_code == 200
