"""Credentials end to end, in-process: real Redis, the sandbox over HTTP, unmodified ccxt."""
from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aredis

from sandbox import AsyncSandboxAdmin, SandboxServer
from services.credentials.handlers import revalidate_all
from shared import streams
from shared.settings import VaultSettings
from shared.vault import Vault, load_master_key, vault_ref
from tests.integration.credentials_support import (
    assert_secret_absent_from_redis,
    eventually,
    original_client_success,
    service_env,
    services,
    stream_events,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(port=0, seed=1) as sb:
        yield sb


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, sandbox: SandboxServer
        ) -> Callable[..., dict[str, str]]:
    def apply(**extra: str) -> dict[str, str]:
        values = service_env(str(tmp_path), sandbox.url, **extra)
        for k, v in values.items():
            monkeypatch.setenv(k, v)
        return values
    apply()
    return apply


@pytest.fixture
def admin(sandbox: SandboxServer) -> AsyncSandboxAdmin:
    return AsyncSandboxAdmin(sandbox.url)


def body(user: str | None, key: str, secret: str) -> dict[str, Any]:
    b = {"exchange": "binanceus", "apiKey": key, "apiSecret": secret}
    return b | ({"userId": user} if user else {})


async def test_good_key_validates_persists_across_restart_and_never_leaks(
        redis_url: str, env: Callable[..., dict[str, str]], admin: AsyncSandboxAdmin,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = await admin.create_key(can_trade=True, can_withdraw=False, balances={"USDT": "100"})
    responses: list[str] = []
    async with services(redis_url, responses) as s:
        resp = await s.call("POST", "/api/credentials", json=body("alice", key["api_key"], key["secret"]))
        assert resp.status_code == 200, resp.text
        assert original_client_success(resp)
        out = resp.json()
        assert out | {"checkedAt": None} == out | {
            "ok": True, "validated": True, "canTrade": True, "canWithdraw": False,
            "status": "validated", "error": None, "warning": None, "userId": "alice",
            "checkedAt": None}
        events = await stream_events(redis_url)
        assert [e["type"] for e in events] == ["CredentialsSubmitted", "CredentialsValidated"]
        assert events[0]["vault_ref"] == vault_ref("alice", "binanceus")

    # a new gateway and a new credentials service, same master key: state is still there
    async with services(redis_url, responses) as s:
        resp = await s.call("GET", "/api/credentials/alice")
        assert resp.status_code == 200
        got = resp.json()
        assert got["status"] == "validated" and got["canTrade"] is True
        assert got["apiKeyMasked"] == key["api_key"][:4] + "…" + key["api_key"][-4:]
        pair = await s.credentials.state.ctx.vault.get(vault_ref("alice", "binanceus"))
        assert (pair.api_key, pair.secret) == (key["api_key"], key["secret"])
        results = await revalidate_all(s.credentials.state.ctx)
        assert [a.value for a in results.values()] == ["refresh"]

    # the vault holds ciphertext only, and that ciphertext opens with the master key
    r = aredis.from_url(redis_url, decode_responses=True)
    entry = await r.hgetall(vault_ref("alice", "binanceus"))
    assert set(entry) == {"api_key", "secret", "masked"}
    for field in ("api_key", "secret"):
        raw = base64.b64decode(entry[field])
        assert key["secret"].encode() not in raw and key["api_key"].encode() not in raw
    vault = Vault(r, load_master_key(VaultSettings()))
    assert (await vault.get(vault_ref("alice", "binanceus"))).secret == key["secret"]
    await r.aclose()

    assert await assert_secret_absent_from_redis(redis_url, key["secret"]) >= 3
    assert key["secret"] not in caplog.text
    assert all(key["secret"] not in (r.getMessage() + repr(r.args)) for r in caplog.records)
    assert all(key["secret"] not in text for text in responses)
    assert any(rec.name.startswith("piggy.credentials") for rec in caplog.records)


async def test_bad_keys_are_rejected_each_with_its_own_reason(
        redis_url: str, env: Callable[..., dict[str, str]], admin: AsyncSandboxAdmin,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    good = await admin.create_key(can_trade=True)
    no_trade = await admin.create_key(can_trade=False)
    wrong_secret = "f" * 64
    cases = {
        "wrong": (good["api_key"], wrong_secret, "wrong_secret", "wrong secret (signature rejected)"),
        "unknown": ("Unknown" + "0" * 57, "a" * 64, "unknown_key", "unknown API key"),
        "notrade": (no_trade["api_key"], no_trade["secret"], "no_trading_permission",
                    "key has no trading permission"),
    }
    responses: list[str] = []
    async with services(redis_url, responses) as s:
        for user, (api_key, secret, code, text) in cases.items():
            resp = await s.call("POST", "/api/credentials", json=body(user, api_key, secret))
            out = resp.json()
            assert resp.status_code == 422  # refused by the exchange: never a 2xx
            assert not original_client_success(resp)
            assert (out["ok"], out["validated"], out["canTrade"], out["status"]) == (
                False, False, False, "rejected"), out
            assert out["reasonCode"] == code and out["error"].startswith(text)
            status = (await s.call("GET", f"/api/credentials/{user}")).json()
            assert status["status"] == "rejected" and status["reasonCode"] == code
    rejected = [e for e in await stream_events(redis_url) if e["type"] == "CredentialsRejected"]
    assert {e["user_id"]: e["reason_code"] for e in rejected} == {
        "wrong": "wrong_secret", "unknown": "unknown_key", "notrade": "no_trading_permission"}
    for secret in (wrong_secret, no_trade["secret"], "a" * 64):
        await assert_secret_absent_from_redis(redis_url, secret)
        assert secret not in caplog.text and all(secret not in t for t in responses)


async def test_unreachable_exchange_is_its_own_reason(
        redis_url: str, env: Callable[..., dict[str, str]], free_port: Callable[[], int]) -> None:
    env(PIGGY_BINANCEUS_URL=f"http://127.0.0.1:{free_port()}")
    async with services(redis_url, []) as s:
        resp = await s.call("POST", "/api/credentials", json=body("bob", "K" * 64, "S" * 64))
        out = resp.json()
    assert resp.status_code == 503 and int(resp.headers["retry-after"]) > 0
    assert not original_client_success(resp)
    assert out["status"] == "rejected" and out["reasonCode"] == "exchange_unreachable"
    assert out["error"].startswith("exchange unreachable")


async def test_withdrawal_key_is_accepted_with_a_loud_warning(
        redis_url: str, env: Callable[..., dict[str, str]], admin: AsyncSandboxAdmin) -> None:
    key = await admin.create_key(can_trade=True, can_withdraw=True)
    async with services(redis_url, []) as s:
        sent = body(None, key["api_key"], key["secret"])
        out = (await s.call("POST", "/api/credentials", json=sent)).json()
    assert out["ok"] and out["canWithdraw"] is True and "WITHDRAW" in out["warning"]
    assert len(out["userId"]) == 36  # generated UUID, returned


@pytest.mark.parametrize("change", [{"revoked": True}, {"can_trade": False}])
async def test_key_revoked_at_the_exchange_is_detected_by_revalidation(
        redis_url: str, env: Callable[..., dict[str, str]], admin: AsyncSandboxAdmin,
        change: dict[str, bool]) -> None:
    env(PIGGY_REVALIDATE_INTERVAL_S="0.2")
    key = await admin.create_key(can_trade=True)
    async with services(redis_url, []) as s:
        sent = body("carol", key["api_key"], key["secret"])
        out = (await s.call("POST", "/api/credentials", json=sent)).json()
        assert out["status"] == "validated"
        await admin.set_key(key["api_key"], **change)

        async def revoked() -> list[dict[str, Any]]:
            return [e for e in await stream_events(redis_url) if e["type"] == "CredentialsRevoked"]

        events = await eventually(revoked, timeout=10)
        status = (await s.call("GET", "/api/credentials/carol")).json()
    assert len(events) == 1 and events[0]["user_id"] == "carol"
    assert status["status"] == "revoked" and status["canTrade"] is False
    expected = "revoked at the exchange" if "revoked" in change else "trading permission was removed"
    assert expected in events[0]["reason"] and expected in status["error"]


async def test_delete_removes_the_vault_entry_and_publishes_revoked(
        redis_url: str, env: Callable[..., dict[str, str]], admin: AsyncSandboxAdmin) -> None:
    key = await admin.create_key(can_trade=True)
    async with services(redis_url, []) as s:
        await s.call("POST", "/api/credentials", json=body("dave", key["api_key"], key["secret"]))
        resp = await s.call("DELETE", "/api/credentials/dave")
        assert resp.status_code == 200 and resp.json()["deleted"] == ["binanceus"]
        status = (await s.call("GET", "/api/credentials/dave")).json()
        assert status["status"] == "revoked" and status["canTrade"] is False
        assert (await s.call("GET", "/api/credentials/nobody")).status_code == 404
        assert (await s.call("DELETE", "/api/credentials/nobody")).status_code == 404
    r = aredis.from_url(redis_url)
    assert not await r.exists(vault_ref("dave", "binanceus"))
    await r.aclose()
    events = await stream_events(redis_url)
    assert events[-1]["type"] == "CredentialsRevoked" and events[-1]["user_id"] == "dave"


async def test_reply_times_out_as_pending_and_status_shows_the_result_later(
        redis_url: str, env: Callable[..., dict[str, str]], admin: AsyncSandboxAdmin) -> None:
    env(PIGGY_REPLY_TIMEOUT_S="0.3")
    key = await admin.create_key(can_trade=True)
    async with services(redis_url, [], with_credentials=False) as s:
        resp = await s.call("POST", "/api/credentials", json=body("erin", key["api_key"], key["secret"]))
        assert resp.status_code == 202
        assert resp.json()["status"] == "pending" and resp.json()["ok"] is False
    async with services(redis_url, []) as s:  # the credentials service comes up later

        async def validated() -> bool:
            return (await s.call("GET", "/api/credentials/erin")).json()["status"] == "validated"

        await eventually(validated)


async def test_requests_without_the_token_get_401(
        redis_url: str, env: Callable[..., dict[str, str]]) -> None:
    async with services(redis_url, []) as s:
        for method, path in [("POST", "/api/credentials"), ("GET", "/api/credentials/x"),
                             ("DELETE", "/api/credentials/x")]:
            resp = await s.call(method, path, auth=False, json=body("x", "KEY12345", "SECRET12"))
            assert resp.status_code == 401


@pytest.mark.parametrize(("payload", "field"), [
    ({"exchange": "binanceus", "apiKey": "KEY12345"}, "apiSecret"),
    ({"exchange": "mtgox", "apiKey": "KEY12345", "apiSecret": "leaky-secret-1"}, "exchange"),
    ({"exchange": "binanceus", "apiSecret": "leaky-secret-1"}, "apiKey"),
    ({"userId": "bad id!", "exchange": "binanceus", "apiKey": "KEY12345",
      "apiSecret": "leaky-secret-1"}, "userId"),
    ("{not json leaky-secret-1", "body"),
])
async def test_malformed_body_gets_422_naming_the_field_and_stores_nothing(
        redis_url: str, env: Callable[..., dict[str, str]], payload: Any, field: str) -> None:
    r = aredis.from_url(redis_url)
    async with services(redis_url, []) as s:
        kw = {"content": payload} if isinstance(payload, str) else {"json": payload}
        resp = await s.call("POST", "/api/credentials", **kw)
        assert resp.status_code == 422
        assert field in {e["field"] for e in resp.json()["detail"]}
        assert "leaky-secret-1" not in resp.text
        # nothing stored: no vault entry, no status, no credentials event, no secret anywhere
        assert not await r.keys("piggy:vault:*") and not await r.keys("piggy:credstatus:*")
        assert await r.xlen(streams.CREDENTIALS) == 0
        await assert_secret_absent_from_redis(redis_url, "leaky-secret-1")
    await r.aclose()


async def test_resubmitting_the_validated_key_changes_nothing(
        redis_url: str, env: Callable[..., dict[str, str]], admin: AsyncSandboxAdmin) -> None:
    """The same key again: the same answer, no event (so live stays armed), the status as it
    was; another key for the same user and exchange is saved and validated as before."""
    key = await admin.create_key(can_trade=True, balances={"USDT": "100"})
    other = await admin.create_key(can_trade=True, balances={"USDT": "100"})
    async with services(redis_url, []) as s:
        first = await s.call("POST", "/api/credentials", json=body("rita", key["api_key"],
                                                                   key["secret"]))
        assert first.status_code == 200, first.text
        before = await stream_events(redis_url)
        again = await s.call("POST", "/api/credentials", json=body("rita", key["api_key"],
                                                                   key["secret"]))
        assert again.status_code == 200 and again.json() == first.json()
        assert await stream_events(redis_url) == before  # nothing published: nothing disarmed
        wrong_secret = await s.call("POST", "/api/credentials", json=body(
            "rita", key["api_key"], other["secret"]))
        assert wrong_secret.json()["status"] == "rejected"  # not the same key: checked again
        replaced = await s.call("POST", "/api/credentials", json=body("rita", other["api_key"],
                                                                      other["secret"]))
        assert replaced.status_code == 200
        types = [e["type"] for e in await stream_events(redis_url)][len(before):]
        assert types == ["CredentialsSubmitted", "CredentialsRejected", "CredentialsSubmitted",
                         "CredentialsValidated"]
