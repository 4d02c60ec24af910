"""The ACL rules generated from the access table (pure: no Redis here; the e2e test
tests/e2e/test_stack_under_redis_acl.py runs the stack under them)."""
from __future__ import annotations

import fnmatch
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from services.credentials.store import ROUND_LOCK
from services.executor.ledger import INFLIGHT
from services.executor.ledger import key as ledger_key
from services.executor.risk import spend_key
from services.strategy.store import REGISTRY
from services.strategy.store import claim_key as strategy_claim_key
from services.strategy.store import key as strategy_key
from shared import redis_acl, state, streams, tokens
from shared.bus import failures_key
from shared.cids import key as cid_key
from shared.settings import RedisSettings, with_credentials
from shared.vault import INDEX as VAULT_INDEX
from shared.vault import vault_ref

pytestmark = pytest.mark.unit

PASSWORDS = {n: f"pw-{n}-" + "x" * 20 for n in (*redis_acl.SERVICES, redis_acl.OPERATOR)}


def _patterns(service: str, *, direct: bool = False) -> dict[str, set[str]]:
    """'consume'/'publish'/'read_streams'/'write'/'read' → key patterns, from the rules text."""
    out: dict[str, set[str]] = {}
    for selector in re.findall(r"\(([^)]*)\)", " ".join(redis_acl.rules(
            redis_acl.access_for(service, direct_route=direct)))):
        words = selector.split()
        keys = {w.split("~", 1)[1] for w in words if "~" in w}
        if "+xadd" in words:
            out["publish"] = keys
        elif "+xreadgroup" in words:
            out["consume"] = keys
        elif "+xrevrange" in words:
            out["read_streams"] = keys
        elif "+@write" in words:
            out["write"] = keys
        elif "+@read" in words:
            out["read"] = keys
    return out


def _allowed(patterns: set[str], key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def test_only_the_executor_may_publish_order_requests() -> None:
    publishers = {s for s in redis_acl.SERVICES
                  if _allowed(_patterns(s).get("publish", set()), streams.ORDER_REQUESTS)}
    assert publishers == {"executor"}


def test_only_gateway_credentials_books_and_a_direct_executor_may_read_the_vault() -> None:
    ref = vault_ref("alice", "binanceus")
    readers = {s for s in redis_acl.SERVICES
               if any(_allowed(p, ref) for p in _patterns(s).values())}
    assert readers == {"gateway", "credentials", "books"}  # books: the reconciler's keys
    books = _patterns("books")
    assert _allowed(books["read"], ref) and not _allowed(books.get("write", set()), ref)
    direct = _patterns("executor", direct=True)
    assert _allowed(direct["read"], ref) and not _allowed(direct.get("write", set()), ref)


def test_a_strategy_may_only_add_intents_and_read_tickers_and_trades() -> None:
    rules = _patterns("strategy")
    assert rules["publish"] == {streams.INTENTS, streams.DEAD_LETTER}
    assert rules["consume"] == {streams.TICKERS, streams.TRADES}
    for key in (state.KILL, state.ARMED, vault_ref("a", "binanceus"), tokens.TOKENS,
                state.cred_status_key("a", "binanceus")):
        assert not _allowed(rules.get("write", set()), key), key


def test_every_key_the_services_use_is_in_the_table() -> None:
    """A key added without a row in shared/streams.py would be refused to every service."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    used = [state.KILL, state.HEARTBEATS, state.ARMED, state.cred_status_key("a", "binanceus"),
            state.price_key("binanceus", "BTC/USDT"), vault_ref("a", "binanceus"), tokens.TOKENS,
            failures_key(streams.INTENTS, "executor"), cid_key("cid"), ledger_key("i"),
            spend_key("a", now), INFLIGHT, ROUND_LOCK, REGISTRY, strategy_key("dca", "state"),
            strategy_claim_key("i"), VAULT_INDEX]
    every = set().union(*(p for s in redis_acl.SERVICES for p in _patterns(s).values()))
    assert [k for k in used if not _allowed(every, k)] == []


def test_the_acl_file_holds_hashes_and_switches_the_default_user_off() -> None:
    text = redis_acl.acl_file(redis_acl.users(PASSWORDS))
    assert not any(p in text for p in PASSWORDS.values())
    assert text.count("\nuser ") + text.startswith("user ") == len(redis_acl.SERVICES) + 3
    assert "user default off" in text
    health = next(line for line in text.splitlines() if line.startswith("user health"))
    assert health.endswith("-@all +ping")  # the container healthcheck may only PING
    operator = next(line for line in text.splitlines() if line.startswith("user operator"))
    assert "+@all" in operator


def test_the_generator_refuses_to_write_without_every_password(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PASSWORDS:
        monkeypatch.delenv(f"PIGGY_REDIS_PASSWORD_{name.upper()}", raising=False)
    monkeypatch.setenv("PIGGY_REDIS_PASSWORD_GATEWAY", "only-this-one")
    with pytest.raises(SystemExit, match="PIGGY_REDIS_PASSWORD_EXECUTOR"):
        redis_acl.main(["--out", str(tmp_path / "users.acl")])
    assert not (tmp_path / "users.acl").exists()


@pytest.mark.parametrize(("url", "user", "password", "ca", "expected"), [
    ("redis://127.0.0.1:6379/0", None, None, None, "redis://127.0.0.1:6379/0"),
    ("redis://127.0.0.1:6379/0", "gateway", "p@ss:w/rd", None,
     "redis://gateway:p%40ss%3Aw%2Frd@127.0.0.1:6379/0"),
    ("rediss://redis.internal:6380/1", "executor", "pw", Path("/etc/ca.pem"),
     "rediss://executor:pw@redis.internal:6380/1?ssl_ca_certs=/etc/ca.pem"),
    ("rediss://old:secret@host:6380/0", "strategy", "new", None, "rediss://strategy:new@host:6380/0"),
    ("redis://127.0.0.1:6379/0", None, "pw", None, "redis://default:pw@127.0.0.1:6379/0"),
])
def test_credentials_and_tls_options_go_into_the_url(url: str, user: str | None,
                                                     password: str | None, ca: Path | None,
                                                     expected: str) -> None:
    secret = SecretStr(password) if password is not None else None
    assert with_credentials(url, user, secret, ca) == expected


def test_settings_accept_rediss_and_refuse_other_schemes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIGGY_REDIS_URL", "rediss://cache.example:6380/0")
    monkeypatch.setenv("PIGGY_REDIS_USERNAME", "gateway")
    monkeypatch.setenv("PIGGY_REDIS_PASSWORD", "s3cret-pw")
    settings = RedisSettings()
    assert settings.url() == "rediss://gateway:s3cret-pw@cache.example:6380/0"
    assert "s3cret-pw" not in repr(settings) and "s3cret-pw" not in str(settings.model_dump())
    monkeypatch.setenv("PIGGY_REDIS_URL", "http://cache.example")
    with pytest.raises(ValidationError, match="rediss://"):
        RedisSettings()


def test_redis_py_takes_the_tls_url_apart_as_tls() -> None:
    import redis.asyncio as aredis

    client = aredis.from_url(with_credentials("rediss://host:6380/0", "gateway", SecretStr("pw"),
                                              Path("/etc/ca.pem")))
    kwargs = client.connection_pool.connection_kwargs
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"
    assert (kwargs["username"], kwargs["password"], kwargs["ssl_ca_certs"]) == (
        "gateway", "pw", "/etc/ca.pem")
