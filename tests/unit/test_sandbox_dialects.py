"""Pure parts of the sandbox's venues: Kraken and Coinbase authentication checked against the
signatures ccxt itself computes (``sign()`` only builds a request; nothing is sent), order ids,
quote-sized market orders with a fee in quote, and venue routing."""
from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import urlsplit

import ccxt
import pytest

from sandbox.auth import KeyStore
from sandbox.dialects import coinbase_keys, ids, kraken_markets
from sandbox.dialects.coinbase_auth import AuthFailure, check_hmac, check_jwt
from sandbox.dialects.kraken import KrakenError, authenticate, sign, translate
from sandbox.errors import BinanceError
from sandbox.routing import split_venue
from sandbox.rules import market_request
from sandbox.state import SandboxState

pytestmark = pytest.mark.unit
D = Decimal


def kraken_store(can_trade: bool = True) -> tuple[KeyStore, str, str]:
    material = kraken_markets.kraken_keys("")
    store = KeyStore()
    store.create(1, can_trade=can_trade, api_key=material.api_key, secret=material.secret)
    return store, material.api_key, material.secret


def ccxt_kraken_request(api_key: str, secret: str, path: str,
                        params: dict[str, str]) -> tuple[str, dict[str, str], str]:
    ex = ccxt.kraken({"apiKey": api_key, "secret": secret})
    signed = ex.sign(path, ["private"], "POST", params)
    return urlsplit(signed["url"]).path, signed["headers"], signed["body"]


def test_kraken_accepts_what_ccxt_signs_and_its_signature_is_ours() -> None:
    store, api_key, secret = kraken_store()
    path, headers, body = ccxt_kraken_request(api_key, secret, "AddOrder", {
        "pair": "XXBTZUSD", "type": "buy", "ordertype": "market", "volume": "2",
        "oflags": "viqc", "cl_ord_id": "cp-1"})
    nonce = body.split("&")[0].split("=")[1]
    assert headers["API-Sign"] == sign(path, nonce, body, secret)
    key, params = authenticate(store.keys, headers["API-Key"], headers["API-Sign"], path, body,
                               need_trade=True)
    assert (key.api_key, params["cl_ord_id"], key.nonce) == (api_key, "cp-1", int(nonce))


@pytest.mark.parametrize(("case", "message"), [
    ("unknown key", "EAPI:Invalid key"), ("tampered body", "EAPI:Invalid signature"),
    ("replayed nonce", "EAPI:Invalid nonce"), ("read-only key", "EGeneral:Permission denied")])
def test_kraken_refusals(case: str, message: str) -> None:
    store, api_key, secret = kraken_store(can_trade=case != "read-only key")
    path, headers, body = ccxt_kraken_request(api_key, secret, "AddOrder", {"volume": "2"})
    if case == "replayed nonce":
        authenticate(store.keys, api_key, headers["API-Sign"], path, body, need_trade=True)
    with pytest.raises(KrakenError) as exc:
        authenticate(store.keys, "other" if case == "unknown key" else api_key,
                     headers["API-Sign"], path,
                     body.replace("2", "3") if case == "tampered body" else body,
                     need_trade=True)
    assert exc.value.body() == {"error": [message]} and exc.value.status == 200


def test_kraken_market_spec_matches_the_recorded_minimums() -> None:
    spec = kraken_markets.kraken_fixture().markets["XXBTZUSD"]
    assert (spec.base, spec.quote, spec.min_qty, spec.min_notional, spec.step, spec.tick) == (
        "BTC", "USD", D("0.0001"), D("0.5"), D("1E-8"), D("0.1"))


def coinbase_request(ex: ccxt.coinbase, path: str, api: list[str], method: str,
                     params: dict[str, object]) -> tuple[str, str, dict[str, str], str]:
    signed = ex.sign(path, api, method, params)
    url = urlsplit(signed["url"])
    return url.path, url.query, signed["headers"], signed["body"] or ""


@pytest.mark.parametrize(("path", "api", "method", "params"), [
    ("accounts", ["v2", "private"], "GET", {"limit": 250}),
    ("brokerage/orders/historical/batch", ["v3", "private"], "GET",
     {"order_status": "FILLED", "limit": 100}),
    ("brokerage/orders", ["v3", "private"], "POST",
     {"client_order_id": "cp-1", "product_id": "BTC-USD", "side": "BUY",
      "order_configuration": {"market_market_ioc": {"quote_size": "2"}}})])
def test_coinbase_hmac_accepts_what_ccxt_signs(path: str, api: list[str], method: str,
                                               params: dict[str, object]) -> None:
    material = coinbase_keys.new_key("hmac")
    store = KeyStore()
    store.create(1, api_key=material.api_key, secret=material.secret)
    ex = ccxt.coinbase({"apiKey": material.api_key, "secret": material.secret})
    url_path, query, headers, body = coinbase_request(ex, path, api, method, params)
    now = int(headers["CB-ACCESS-TIMESTAMP"])
    assert check_hmac(store.keys, headers, method, url_path, query, body, now).api_key == \
        material.api_key
    with pytest.raises(AuthFailure, match="invalid signature"):
        check_hmac(store.keys, headers, method, url_path + "x", query, body, now)
    if method == "POST" or url_path.startswith("/v2/"):  # v3 GETs sign the path only
        with pytest.raises(AuthFailure, match="invalid signature"):
            check_hmac(store.keys, headers, method, url_path, query + "0", body + " ", now)
    with pytest.raises(AuthFailure, match="timestamp expired"):
        check_hmac(store.keys, headers, method, url_path, query, body, now + 31)


def test_coinbase_jwt_from_ccxt_is_verified_with_the_public_key() -> None:
    material = coinbase_keys.new_key("ec")
    store = KeyStore(SandboxState(venue="coinbase").venue.key_re)
    store.create(1, api_key=material.api_key, secret=material.secret,
                 public_key=material.public_key)
    ex = ccxt.coinbase({"apiKey": material.api_key, "secret": material.secret})
    ex.urls["api"]["rest"] = "http://127.0.0.1:9/coinbase"
    _, _, headers, _ = coinbase_request(ex, "brokerage/accounts", ["v3", "private"], "GET", {})
    token = headers["Authorization"].removeprefix("Bearer ")
    claims = json.loads(ccxt.Exchange.base64_to_string(token.split(".")[1] + "=="))
    uri = "GET http://127.0.0.1:9/coinbase/api/v3/brokerage/accounts"
    assert claims["uri"] == uri
    now = claims["iat"]
    assert check_jwt(store.keys, token, "GET", {uri}, now).api_key == material.api_key
    with pytest.raises(AuthFailure, match="not valid for this request"):
        check_jwt(store.keys, token, "POST", {uri.replace("GET", "POST")}, now)
    with pytest.raises(AuthFailure, match="expired"):
        check_jwt(store.keys, token, "GET", {uri}, now + 121 + 30)
    other = coinbase_keys.new_key("ec")
    store.keys[material.api_key].public_key = other.public_key
    with pytest.raises(AuthFailure, match="invalid signature"):
        check_jwt(store.keys, token, "GET", {uri}, now)


def test_coinbase_hmac_secret_never_looks_like_an_eddsa_or_cloud_key() -> None:
    for _ in range(20):
        m = coinbase_keys.new_key("hmac")
        assert len(m.secret) != 88 and not m.secret.endswith("=") and "/" not in m.api_key


@pytest.mark.parametrize("number", [1, 1000, 10**15 + 7])
def test_order_ids_round_trip(number: int) -> None:
    assert ids.from_kraken_txid(ids.kraken_txid(number)) == number
    assert ids.from_coinbase_order_id(ids.coinbase_order_id(number)) == number
    assert [len(p) for p in ids.kraken_txid(number).split("-")] == [6, 5, 6]


def test_quote_sized_buy_with_fee_in_quote_never_spends_more_than_asked() -> None:
    spec = kraken_markets.kraken_fixture().markets["XXBTZUSD"]
    req = market_request(spec, "BUY", D("50000"), quote=D("10"), quote_fee_rate=D("0.0026"))
    assert req.qty == D("0.00019948")
    assert req.qty * 50000 * D("1.0026") <= 10
    with pytest.raises(BinanceError, match="LOT_SIZE"):  # 0.0000399 BTC < ordermin 0.0001
        market_request(spec, "BUY", D("50000"), quote=D("2"))
    with pytest.raises(BinanceError, match="NOTIONAL"):  # below costmin 0.5
        market_request(spec, "BUY", D("1000"), quote=D("0.4"))


def test_engine_charges_a_quote_fee_on_top_of_the_cost() -> None:
    state = SandboxState(seed=1, venue="kraken", clock=lambda: 1_000)
    key = state.create_key({"USD": D("100")})
    state.pin("XXBTZUSD", D("50000"))
    spec = state.fixture.markets["XXBTZUSD"]
    req = market_request(spec, "BUY", D("50000"), qty=D("0.0002"), client_order_id="c")
    order = state.engine.place_request(key, req, {})
    fill = order.fills[0]
    assert (order.cum_quote, fill.commission, fill.commission_asset) == (D("10"), D("0.026"), "USD")
    acct = state.engine.accounts[key.account_id]
    assert (acct.available("USD"), acct.available("BTC")) == (D("89.974"), D("0.0002"))


def test_split_venue() -> None:
    venues = frozenset({"kraken", "binance"})
    assert split_venue("/kraken/0/public/Time", venues) == ("kraken", "/kraken", "/0/public/Time")
    assert split_venue("/api/v3/time", venues) == (None, "", "/api/v3/time")
    assert split_venue("/kraken", venues) == ("kraken", "/kraken", "/")


@pytest.mark.parametrize(("refusal", "kraken_says"), [
    (BinanceError(400, -2010, "x", "insufficient_funds"), "EOrder:Insufficient funds"),
    (BinanceError(400, -1013, "x", "below_minimum"), "EOrder:Order minimum not met"),
    (BinanceError(400, -1121, "x", "unknown_symbol"), "EQuery:Unknown asset pair"),
    (BinanceError(400, -1013, "x", "above_maximum"), "EGeneral:Invalid arguments:volume")])
def test_kraken_words_each_core_refusal(refusal: BinanceError, kraken_says: str) -> None:
    assert translate(refusal).body() == {"error": [kraken_says]}


def test_core_refusals_name_their_reason() -> None:
    spec = kraken_markets.kraken_fixture().markets["XXBTZUSD"]
    for kwargs, reason in [({"qty": D("0.00001")}, "below_minimum"),
                           ({"qty": D("100001")}, "above_maximum"),
                           ({"quote": D("0.4")}, "below_minimum")]:
        with pytest.raises(BinanceError) as exc:
            market_request(spec, "BUY", D("50000"), **kwargs)  # type: ignore[arg-type]
        assert exc.value.reason == reason
