"""The CryptoPiggy operator dashboard (Streamlit). Run it with ``python -m services.dashboard``.

The page talks only to the HTTP API (``api.ApiClient``); rows and messages come from the pure
helpers in ``views``. It knows no token of its own: it asks whoever opens it for one (the
operator's or a user's) and keeps it in that browser session only; a user token sees and acts
for its own user id only (``GET /api/whoami`` says whose it is). Actions run in widget
callbacks, before the rerun that shows their outcome, so a submitted secret is cleared from
the session state before anything renders.
"""
from __future__ import annotations

import httpx
import pandas as pd
import streamlit as st

from services.dashboard import views
from services.dashboard.api import ApiClient
from services.dashboard.settings import DashboardSettings
from services.dashboard.views import Message

ss = st.session_state
BANNER = ("<div data-testid='piggy-live-banner' style='background:#d90429;color:#fff;"
          "padding:14px 20px;border-radius:8px;font-size:1.35rem;font-weight:700;"
          "margin-bottom:8px'>● LIVE TRADING ARMED for {user} on {exchange}: "
          "real orders are sent to {exchange} (arming is per exchange)</div>")
HALTED = ("<div style='background:#3d0000;color:#fff;padding:10px 20px;border-radius:8px;"
          "font-weight:700'>■ EMERGENCY STOP ENGAGED: no live order leaves the executor</div>")
LIVE_CELL = "background-color:#d90429;color:#fff;font-weight:700"
PAPER_CELL = "background-color:#dbeafe;color:#1e3a8a"


@st.cache_resource
def settings() -> DashboardSettings:
    return DashboardSettings()


@st.cache_resource
def http() -> httpx.Client:
    """One connection pool for every session of this process (loopback API, no cookies)."""
    return httpx.Client(trust_env=False)


def api() -> ApiClient:
    return ApiClient(ss.api_url, ss.api_token, settings().request_timeout_s, http())


def flash(slot: str, msg: Message) -> None:
    ss[f"flash_{slot}"] = msg


def show_flash(slot: str) -> None:
    msg: Message | None = ss.get(f"flash_{slot}")
    if msg is not None:
        getattr(st, msg.level)(msg.text)


def init_state() -> None:
    s = settings()
    ss.setdefault("user_id", st.query_params.get("user") or s.dashboard_user or views.new_user_id())
    ss.setdefault("exchange", views.EXCHANGES[0])
    ss.setdefault("api_url", s.base_url)
    ss.setdefault("api_token", "")  # never pre-filled: asked for, kept in this session only
    ss.setdefault("api_key", "")
    ss.setdefault("api_secret", "")
    ss.setdefault("arm_pending", False)
    ss.setdefault("test_amount", float(views.MIN_TRADE_USD))
    if not str(ss.user_id).strip():
        ss.user_id = views.new_user_id()


# ---- actions (widget callbacks) ------------------------------------------------------------

def sign_in() -> None:
    ss.api_token, ss.token_entry = str(ss.get("token_entry", "")).strip(), ""


def sign_out() -> None:
    ss.api_token = ""
    ss.pop("signed_in_as", None)

def save_keys() -> bool:
    """Submit the keys through the API; the secret leaves the session state first."""
    key, secret = str(ss.api_key).strip(), str(ss.api_secret)
    ss.api_key, ss.api_secret = "", ""
    if not key or not secret:
        flash("keys", Message("error", "Enter both the exchange API key and the API secret."))
        return False
    result = api().save_credentials(ss.user_id.strip(), ss.exchange, key, secret)
    del secret
    if not result.ok:
        flash("keys", Message("error", f"Saving the keys failed: {result.error}"))
        return False
    flash("keys", views.validation_message(result.data))
    return True


def on_save_keys() -> None:
    save_keys()


def validate_and_sync() -> None:
    if str(ss.api_key).strip() or str(ss.api_secret):
        if not save_keys():
            return
    else:
        result = api().credentials(ss.user_id, ss.exchange)
        flash("keys", views.validation_message(result.data) if result.ok or result.status == 404
              else Message("error", f"Validation status unavailable: {result.error}"))
    fetch_balance()


def fetch_balance() -> None:
    result = api().balance(ss.user_id, ss.exchange)
    ss.balance = result.data if result.ok else None
    flash("balance", Message("success", "Balance synced from the exchange.") if result.ok
          else Message("error", f"Balance unavailable: {result.error}"))


def on_live_toggle() -> None:
    if ss.live_toggle:
        ss.arm_pending = True
        return
    ss.arm_pending = False
    if ss.get("live_armed"):
        result = api().disarm(ss.user_id, ss.exchange)
        flash("live", Message("info", f"Live trading disarmed on {ss.exchange}.") if result.ok
              else Message("error", f"Disarm failed: {result.error}"))


def confirm_arm() -> None:
    token = str(ss.get("confirm_token", ""))
    ss.confirm_token, ss.arm_pending, ss.confirm_ack = "", False, False
    result = api().arm(ss.user_id, ss.exchange, token)
    body = result.data if isinstance(result.data, dict) else {}
    if result.ok and body.get("ok") and body.get("armed"):
        flash("live", Message("success", body.get("message") or "LIVE trading armed"))
    else:
        flash("live", Message("error", f"Not armed: {body.get('message') or result.error}"))


def cancel_arm() -> None:
    ss.arm_pending, ss.confirm_ack, ss.confirm_token = False, False, ""


def emergency_stop() -> None:
    ss.arm_pending = False
    result = api().kill()
    flash("stop", Message("error", "EMERGENCY STOP engaged: no live order leaves the executor "
                                   "until you resume.") if result.ok
          else Message("error", f"Emergency stop failed: {result.error}"))


def resume() -> None:
    result = api().resume()
    flash("stop", Message("success", "Trading resumed.") if result.ok
          else Message("error", f"Resume failed: {result.error}"))


def test_buy(live: bool = False) -> None:
    amount, why = views.parse_amount(ss.test_amount)
    if amount is None:
        flash("trade", Message("error", why))
        return
    symbol = views.TEST_SYMBOLS.get(ss.exchange, views.TEST_SYMBOL)
    quote = api().minimum(ss.exchange, symbol, amount)
    offer = views.minimum_message(quote.data if quote.ok else None)
    if offer is not None:  # below the exchange's minimum: offer it, send nothing
        ss.test_amount = float(quote.data["minimumUsd"])
        flash("trade", offer)
        return
    result = api().trade(ss.user_id, ss.exchange, amount, symbol, live=live)
    ss.last_trade = result.data if isinstance(result.data, dict) else None
    flash("trade", views.trade_message(result.data) if result.ok
          else Message("error", f"Test buy failed: {result.error}"))


# ---- page sections -------------------------------------------------------------------------

def sign_in_page() -> None:
    """No token in this session yet: ask for one (nothing else is shown or asked of the API)."""
    st.title(":material/savings: CryptoPiggy")
    st.info("Enter an API token: the operator's (printed by `piggy up` on its first start, kept "
            "in the state folder's `api-token`) or a user's (`piggy token create --user ID`: "
            "it sees and acts for that user only). It stays in this browser session only.")
    st.text_input("API base URL", key="api_url")
    st.text_input("API token", key="token_entry", type="password")
    st.button("Sign in", key="sign_in", on_click=sign_in, type="primary")


def scope(who: dict | None) -> bool:
    """Apply the token's scope; True for the operator. A user token pins the user id."""
    user = who.get("userId") if isinstance(who, dict) else None
    if user:
        ss.user_id = user
        ss.signed_in_as = user
        return False
    ss.pop("signed_in_as", None)
    return bool(isinstance(who, dict) and who.get("operator"))


def header(health_ok: bool | None, health_text: str, operator: bool) -> None:
    left, mid, right = st.columns([3, 2, 2])
    left.title(":material/savings: CryptoPiggy")
    colour = {True: "green", False: "orange", None: "red"}[health_ok]
    who = f"user {ss.signed_in_as} (user token)" if ss.get("signed_in_as") else "operator"
    mid.markdown(f"**Backend** :{colour}[● {health_text}]  \n`{ss.api_url}` · signed in as {who}")
    mid.button("Sign out", key="sign_out", on_click=sign_out)
    if operator:  # the emergency stop acts for everyone: the operator token's alone
        right.button("EMERGENCY STOP", key="emergency_stop", type="primary",
                     icon=":material/block:", on_click=emergency_stop, width="stretch",
                     help="One click: sets the kill switch; no live order leaves the executor.")
    else:
        right.caption("The emergency stop is the operator's (`piggy kill` or the operator token).")
    show_flash("stop")


def settings_section(credentials: Message) -> None:
    st.subheader("Settings")
    st.text_input("User id", key="user_id", help="Generated when left empty.",
                  disabled=bool(ss.get("signed_in_as")))
    st.selectbox("Exchange", views.EXCHANGES, key="exchange")
    st.text_input("API base URL", key="api_url")
    st.text_input("API token", key="api_token", type="password")
    st.text_input("Exchange API key", key="api_key", type="password")
    st.text_input("Exchange API secret", key="api_secret", type="password",
                  help="Sent to the API once, encrypted there; cleared here right after.")
    a, b = st.columns(2)
    a.button("Save keys", key="save_keys", on_click=on_save_keys, width="stretch")
    b.button("Validate & sync", key="validate_sync", on_click=validate_and_sync,
             width="stretch")
    show_flash("keys")
    st.markdown("**Validation status**")
    getattr(st, credentials.level)(credentials.text)


def live_section(live: dict | None) -> None:
    st.subheader("Live trading")
    armed = views.is_armed(live)
    ss.live_armed = armed
    ss.live_toggle = armed or bool(ss.arm_pending)
    st.toggle("Live trading", key="live_toggle", on_change=on_live_toggle, disabled=live is None)
    if ss.arm_pending and not armed:
        blocking = views.closed_gates(live)
        st.warning("Enabling LIVE trading sends real orders with real money to "
                   f"{ss.exchange}. Confirm to arm." + (" Closed now: " + "; ".join(blocking)
                                                        if blocking else ""))
        st.text_input("Confirm token (only when LIVE_CONFIRM_TOKEN is set)", key="confirm_token",
                      type="password")
        st.checkbox("I understand: real orders, real money", key="confirm_ack")
        a, b = st.columns(2)
        a.button("Arm LIVE trading", key="confirm_arm", type="primary", on_click=confirm_arm,
                 disabled=not ss.get("confirm_ack"), width="stretch")
        b.button("Cancel", key="cancel_arm", on_click=cancel_arm, width="stretch")
    show_flash("live")
    if live is not None:
        st.table(pd.DataFrame(views.gate_rows(live)).set_index("Gate"))


def bot_section() -> None:
    st.subheader("Bot control")
    st.number_input("Test trade amount (USD, min $2)", min_value=float(views.MIN_TRADE_USD),
                    step=1.0, format="%.2f", key="test_amount")
    a, live, b = st.columns(3)
    a.button(f"Test BUY {views.TEST_SYMBOLS.get(ss.exchange, views.TEST_SYMBOL)}", key="test_buy",
             on_click=test_buy,
             width="stretch")
    live.button("Test LIVE BUY", key="test_live_buy", on_click=test_buy, kwargs={"live": True},
                help="LIVE or nothing: refused with every closed gate, never filled on paper",
                width="stretch")
    b.button("Fetch balance", key="fetch_balance", on_click=fetch_balance,
             width="stretch")
    show_flash("trade")
    show_flash("balance")


def portfolio_section() -> None:
    st.subheader("Portfolio")
    report = ss.get("balance")
    if report:
        rows, total = views.balance_rows(report)
        st.metric("Total value (USD)", total)
        if rows:
            st.table(pd.DataFrame(rows).set_index("Asset"))
    else:
        st.caption("Press “Fetch balance” or “Validate & sync” to load balances.")


@st.fragment(run_every=settings().dashboard_refresh_s)
def positions_section() -> None:
    st.subheader("Positions")
    result = api().positions(ss.user_id)
    if result.status == 404:
        st.info("No positions for this user yet.")
        return
    if not result.ok:
        st.error(f"Positions unavailable: {result.error}")
        return
    rows = views.position_rows(result.data)
    st.caption("From the books · FIFO lots · cost includes fees charged in the quote currency; "
               "fees charged in the asset are taken from the quantity · value at the last price")
    if not rows:
        st.info("No positions for this user yet.")
        return
    st.table(pd.DataFrame(rows).set_index("Exchange"))
    series = views.value_series(result.data)
    if series:
        st.caption("Holdings value against money put in, over time")
        frame = pd.DataFrame(series)
        frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
        st.line_chart(frame.groupby("time").last().ffill())


@st.fragment(run_every=settings().dashboard_refresh_s)
def trade_log_section() -> None:
    st.subheader("Trade log")
    result = api().trades(ss.user_id, 50)
    if not result.ok:
        st.error(f"Trade log unavailable: {result.error}")
        return
    rows = views.trade_rows(result.data or [])
    st.caption(f"Newest first · refreshes every {settings().dashboard_refresh_s:g}s · "
               "LIVE = a real exchange order · PAPER = simulated fill")
    if rows:
        styled = pd.DataFrame(rows).style.map(
            lambda mode: LIVE_CELL if mode == "LIVE" else PAPER_CELL if mode == "PAPER" else "",
            subset=["Mode"])
        st.table(styled.hide(axis="index"))  # static HTML: readable in any browser and in print
    else:
        st.info("No trades for this user yet.")


def main() -> None:
    st.set_page_config(page_title="CryptoPiggy", page_icon=":material/savings:", layout="wide")
    init_state()
    if not str(ss.api_token).strip():
        sign_in_page()
        return
    client = api()
    who = client.whoami()
    operator = scope(who.data if who.ok else None)
    health = client.health()
    health_ok = None if health.unreachable else health.ok
    health_text = ("unreachable" if health.unreachable else
                   "healthy" if health.ok else f"degraded: {(health.data or {}).get('services')}")
    header(health_ok, health_text, operator)
    live_result = client.live(ss.user_id, ss.exchange)
    live = live_result.data if live_result.ok else None
    if not live_result.ok:
        st.error(f"API problem: {live_result.error}", icon=":material/error:")
    if views.is_armed(live):
        st.markdown(BANNER.format(user=ss.user_id, exchange=ss.exchange), unsafe_allow_html=True)
    if views.is_halted(live):
        st.markdown(HALTED, unsafe_allow_html=True)
        if operator:
            st.button("Resume trading", key="resume", on_click=resume)
    cred = client.credentials(ss.user_id, ss.exchange)
    credentials = (views.validation_message(cred.data) if cred.ok or cred.status == 404
                   else Message("error", f"Validation status unavailable: {cred.error}"))
    synced = (ss.user_id, ss.exchange)
    if cred.ok and cred.data.get("validated") and ss.get("balance_for") != synced:
        ss.balance_for = synced  # once per user and exchange; then on "Fetch balance"
        fetch_balance()
    left, right = st.columns(2, gap="large")
    with left:
        settings_section(credentials)
    with right:
        live_section(live)
        bot_section()
    portfolio_section()
    positions_section()
    trade_log_section()


main()
