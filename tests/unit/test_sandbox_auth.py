"""Signature, timestamp and key checks of the sandbox, with Binance's codes."""
from __future__ import annotations

import pytest

from sandbox.auth import KeyStore, check_timestamp, sign, split_signature, verify_signature
from sandbox.errors import BinanceError

pytestmark = pytest.mark.unit

NOW = 1_795_561_195_454


def test_signature_matches_the_captured_worked_example() -> None:
    payload = "timestamp=1795561195454&symbol=BTCUSDT&orderId=1004&recvWindow=10000"
    expected = "4cd10062f87ad9d9fd0ad2556c80e265efb3f4c82771eb2428a7c5504ab3e26a"
    assert sign(payload, "testsecret") == expected
    assert verify_signature(f"{payload}&signature={expected}", "", "testsecret")


def test_post_body_is_verified_over_its_raw_percent_encoded_bytes() -> None:
    payload = "timestamp=1&symbol=BTCUSDT&newClientOrderId=a.b%3Ac%2Fd_e-f&recvWindow=10000"
    body = f"{payload}&signature={sign(payload, 's')}"
    assert verify_signature("", body, "s")
    decoded = body.replace("%3A", ":").replace("%2F", "/")
    assert not verify_signature("", decoded, "s")


def test_query_and_body_are_concatenated_without_separator() -> None:
    query, body = "symbol=BTCUSDT", "timestamp=1"
    assert verify_signature(query, f"{body}&signature={sign(query + body, 'k')}", "k")


def test_wrong_secret_tampered_or_missing_signature_fails() -> None:
    payload = "timestamp=1&symbol=BTCUSDT"
    good = sign(payload, "secret")
    assert not verify_signature(f"{payload}&signature={good}", "", "other")
    assert not verify_signature(f"timestamp=2&symbol=BTCUSDT&signature={good}", "", "secret")
    assert not verify_signature(payload, "", "secret")


def test_split_signature_keeps_every_other_byte() -> None:
    assert split_signature("a=1&signature=ab&b=%2F") == ("a=1&b=%2F", "ab")


@pytest.mark.parametrize(("ts", "ok"), [
    (NOW, True), (NOW - 5000, True), (NOW - 5001, False), (NOW + 999, True), (NOW + 1000, False)])
def test_timestamp_window_follows_binance_rule(ts: int, ok: bool) -> None:
    if ok:
        check_timestamp(ts, 5000, NOW)
    else:
        with pytest.raises(BinanceError) as exc:
            check_timestamp(ts, 5000, NOW)
        assert exc.value.code == -1021


def _signed(secret: str, ts: int = NOW, extra: str = "") -> str:
    payload = f"timestamp={ts}&recvWindow=10000{extra}"
    return f"{payload}&signature={sign(payload, secret)}"


def _code(store: KeyStore, key: str | None, query: str, **kw: bool) -> int:
    with pytest.raises(BinanceError) as exc:
        store.authenticate(key, query, "", NOW, **kw)
    return exc.value.code


def test_authenticate_maps_each_failure_to_its_binance_code() -> None:
    store = KeyStore()
    key = store.create(1, api_key="good", secret="s3cret", can_trade=False)
    assert store.authenticate("good", _signed("s3cret"), "", NOW)[0] is key
    assert _code(store, None, _signed("s3cret")) == -2014
    assert _code(store, "bad key!", _signed("s3cret")) == -2014
    assert _code(store, "unknown", _signed("s3cret")) == -2015
    assert _code(store, "good", _signed("wrong")) == -1022
    assert _code(store, "good", "recvWindow=10000") == -1102
    assert _code(store, "good", _signed("s3cret", ts=NOW - 20_000)) == -1021
    assert _code(store, "good", _signed("s3cret"), need_trade=True) == -2015
    key.revoked = True
    assert _code(store, "good", _signed("s3cret")) == -2015


def test_recv_window_above_60000_is_refused() -> None:
    store = KeyStore()
    store.create(1, api_key="k", secret="s")
    payload = f"timestamp={NOW}&recvWindow=60001"
    with pytest.raises(BinanceError) as exc:
        store.authenticate("k", f"{payload}&signature={sign(payload, 's')}", "", NOW)
    assert exc.value.code == -1131


def test_key_store_refuses_malformed_or_duplicate_keys() -> None:
    store = KeyStore()
    store.create(1, api_key="abc")
    with pytest.raises(ValueError):
        store.create(1, api_key="abc")
    with pytest.raises(ValueError):
        store.create(1, api_key="has space")
