"""Sentinel settings and URLs: what an operator writes becomes the URL every client is built
from, a wrong one is refused naming the part, and no password is ever shown."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared import redis_conn
from shared.orderflow import MAYBE_SENT_AFTER_S, maybe_sent
from shared.settings import RedisSettings

pytestmark = pytest.mark.unit


def test_sentinels_and_master_become_a_sentinel_url_with_the_services_login() -> None:
    settings = RedisSettings(redis_sentinels="10.0.0.1:26379, 10.0.0.2:26380", redis_master="prod",
                             redis_username="gateway", redis_password="p@ss/word",
                             redis_url="redis://ignored:6379/3")
    target = redis_conn.parse_sentinel(settings.url())
    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380))
    assert (target.master, target.db) == ("prod", 3)
    assert (target.username, target.password) == ("gateway", "p@ss/word")
    # the sentinels are asked with the same login unless they have their own
    assert target.sentinel_kwargs()["username"] == "gateway"
    assert target.sentinel_kwargs()["password"] == "p@ss/word"
    assert settings.durability(settings.url()).replicas == 1


def test_sentinels_may_have_their_own_login() -> None:
    settings = RedisSettings(redis_sentinels="127.0.0.1:26379", redis_username="executor",
                             redis_password="data-pw", redis_sentinel_username="watcher",
                             redis_sentinel_password="sentinel-pw")
    target = redis_conn.parse_sentinel(settings.url())
    assert target.data_kwargs()["password"] == "data-pw"
    assert target.sentinel_kwargs()["username"] == "watcher"
    assert target.sentinel_kwargs()["password"] == "sentinel-pw"


def test_no_password_is_shown_in_a_printed_url() -> None:
    url = redis_conn.sentinel_url([("127.0.0.1", 26379)], "piggy", username="operator",
                                  password="s3cret", sentinel_password="t0psecret")
    shown = redis_conn.redact(url)
    assert "s3cret" not in shown and "t0psecret" not in shown
    assert "operator:***@127.0.0.1:26379" in shown
    assert redis_conn.redact("redis://op:pw@localhost:1/0") == "redis://op:***@localhost:1/0"


@pytest.mark.parametrize(("sentinels", "names"), [
    ("localhost", "is not host:port"), ("h:0", "is not host:port"), (" , ", "no sentinels")])
def test_a_wrong_sentinel_list_is_refused_naming_the_setting(sentinels: str, names: str) -> None:
    with pytest.raises(ValidationError) as err:
        RedisSettings(redis_sentinels=sentinels)
    assert "PIGGY_REDIS_SENTINELS" in str(err.value) and names in str(err.value)


def test_blank_sentinels_mean_one_redis_and_no_waiting() -> None:
    settings = RedisSettings(redis_sentinels=" ")
    assert settings.url() == "redis://127.0.0.1:16379/0"
    assert settings.durability(settings.url()).replicas == 0
    assert RedisSettings(redis_wait_replicas=2).durability(settings.url()).replicas == 2


@pytest.mark.parametrize(("url", "names"), [
    ("redis+sentinel://127.0.0.1:26379", "master's name"),
    ("redis+sentinel://127.0.0.1:26379/piggy/x", "database"),
    ("redis+sentinel://127.0.0.1:26379/piggy?foo=1", "unknown Sentinel URL option"),
])
def test_a_wrong_sentinel_url_is_refused_naming_the_part(url: str, names: str) -> None:
    with pytest.raises(ValidationError) as err:
        RedisSettings(redis_url=url)
    assert names in str(err.value)


def test_a_sentinel_url_in_piggy_redis_url_works_like_the_two_settings() -> None:
    url = "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/piggy/0"
    settings = RedisSettings(redis_url=url, redis_username="notifier", redis_password="pw")
    target = redis_conn.parse_sentinel(settings.url())
    assert target.username == "notifier" and len(target.sentinels) == 2


def test_an_order_request_read_late_or_again_may_have_been_sent() -> None:
    now = 1_700_000_000.0
    fresh = f"{int(now * 1000) - 5}-0"
    old = f"{int((now - MAYBE_SENT_AFTER_S - 1) * 1000)}-3"
    assert not maybe_sent(fresh, 1, now)
    assert maybe_sent(fresh, 2, now)  # claimed from a dead consumer
    assert maybe_sent(old, 1, now)  # re-read as new after a failover lost its ack
    assert maybe_sent("garbage", 1, now)
