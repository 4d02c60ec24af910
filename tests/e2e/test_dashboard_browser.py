"""The dashboard as a real process (``python -m services.dashboard``, started by the stack)
opened in headless Chromium while a user is armed: the page first asks for a token (none
pre-filled, the operator's nowhere in it); signed in with that user's own token at another
user's URL, it shows that user's LIVE banner, LIVE orders, the position they made (from the
books) and its value chart, and a screenshot of it is saved (in the test's tmp dir; also to
docs/dashboard-armed.png when PIGGY_SAVE_SCREENSHOTS=1).
"""
from __future__ import annotations

import asyncio
import base64
import importlib.util
import os
import shutil
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import httpx
import pytest

from sandbox import SandboxAdmin
from tests.support.redis_server import free_port
from tests.support.stack import piggy, running_stack

pytestmark = pytest.mark.e2e

USER = "dash-browser"
REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "dashboard-armed.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-quic", "--hide-scrollbars", "--window-size=1400,2600"]
BANNER = "LIVE TRADING ARMED"


def _render(url: str, needles: list[str], shot: Path, profile: Path, timeout: float = 30,
            token: str = "") -> tuple[str, str]:
    """Open ``url`` in headless Chromium, wait until the page text shows every needle, then
    save a screenshot of that moment and return the rendered DOM (before and after signing
    in with ``token`` on the page's sign-in form, typed as a user would).

    Chromium's ``--virtual-time-budget`` runs out before Streamlit's websocket delivers the
    page (seen: 1 in 5 loads blank), so this waits in real time over the DevTools protocol
    (loopback port). Chromium runs in its own session and is stopped by its pid's group.
    """
    assert CHROMIUM is not None
    port = free_port()
    proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}",
                             "--remote-debugging-address=127.0.0.1",
                             f"--remote-debugging-port={port}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        return asyncio.run(_cdp(port, url, needles, shot, timeout, token))
    except TimeoutError as exc:
        pytest.fail(f"{url} did not show {needles} within {timeout:g}s; it showed:\n{exc}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


async def _cdp(port: int, url: str, needles: list[str], shot: Path, timeout: float,
               token: str) -> tuple[str, str]:
    async with aiohttp.ClientSession(trust_env=False) as http:
        while True:  # the DevTools endpoint answers once Chromium is up
            try:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                    page = next(t for t in await resp.json() if t["type"] == "page")
                break
            except (aiohttp.ClientError, StopIteration):
                await asyncio.sleep(0.1)
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            ids = iter(range(1, 1_000_000))

            async def call(method: str, **params: object) -> dict:
                sent = next(ids)
                await ws.send_json({"id": sent, "method": method, "params": params})
                while (msg := await ws.receive_json()).get("id") != sent:
                    pass
                assert "error" not in msg, msg
                return msg["result"]

            async def value(expression: str) -> object:
                found = await call("Runtime.evaluate", expression=expression, returnByValue=True)
                return found["result"].get("value")

            async def until(wanted: list[str]) -> None:
                deadline = time.monotonic() + timeout
                while True:  # (an await inside a generator expression makes it async)
                    text = str(await value("document.body.innerText"))
                    if all(n in text for n in wanted):
                        return
                    if time.monotonic() > deadline:
                        raise TimeoutError(text[-3000:])
                    await asyncio.sleep(0.1)

            await call("Page.navigate", url=url)
            await until(["Enter an API token", "Sign in"])
            before = str(await value("document.documentElement.outerHTML"))
            await value("document.querySelector('input[type=password]').focus()")
            await call("Input.insertText", text=token)
            for kind in ("keyDown", "keyUp"):
                await call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                           windowsVirtualKeyCode=13)
            await asyncio.sleep(1.0)  # the typed value reaches the server
            await value("[...document.querySelectorAll('button')]"
                        ".find(b => b.innerText.includes('Sign in')).click()")
            deadline = time.monotonic() + timeout
            while True:
                text = str(await value("document.body.innerText"))
                if all(n in text for n in needles):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(text[-3000:])
                await asyncio.sleep(0.1)
            charted = time.monotonic() + timeout  # a chart is drawn after its caption shows
            while (str(await value("!!document.querySelector('.vega-embed canvas, "
                                   ".vega-embed svg')")) != "True"
                   and time.monotonic() < charted):
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # fonts and layout settle
            png = await call("Page.captureScreenshot", format="png")
            await asyncio.to_thread(shot.write_bytes, base64.b64decode(png["data"]))
            return before, str(await value("document.documentElement.outerHTML"))


def _journaled(api: httpx.Client, user: str, fills: int, timeout: float = 30) -> dict:
    """The user's LIVE position once the books hold ``fills`` fills of it."""
    deadline = time.monotonic() + timeout
    while True:
        answer = api.get(f"/api/positions/{user}")
        if answer.status_code == 200:
            body = answer.json()
            live = [p for p in body["positions"] if p["mode"] == "LIVE"]
            if live and len([h for h in body["history"] if h["mode"] == "LIVE"]) > fills:
                return dict(live[0])
        assert time.monotonic() < deadline, f"positions of {user}: {answer.text}"
        time.sleep(0.2)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed "
                                             "(apt-get install chromium); no browser to render with")
@pytest.mark.skipif(importlib.util.find_spec("streamlit") is None,
                    reason="the dashboard needs streamlit (pip install -e .)")
def test_armed_user_sees_the_red_live_banner_in_a_real_browser(
        redis_url: str, tmp_path: Path) -> None:
    env = {"ALLOW_LIVE": "1", "PIGGY_DASHBOARD_REFRESH_S": "300"}  # no rerun mid-screenshot
    with running_stack(tmp_path / "home", redis_url, env=env) as stack:
        dashboard = next(c for c in stack.children if c.name == "dashboard")
        assert dashboard.argv[1:] == ["-m", "services.dashboard"]
        key = SandboxAdmin(stack.sandbox_url).create_key(balances={"USDT": "100"})
        token = (stack.home / "api-token").read_text().strip()
        with httpx.Client(base_url=stack.api_url, timeout=30, trust_env=False,
                          headers={"Authorization": f"Bearer {token}"}) as api:
            saved = api.post("/api/credentials", json={"userId": USER, "exchange": "binanceus",
                                                       "apiKey": key["api_key"],
                                                       "apiSecret": key["secret"]}).json()
            assert saved["validated"] and saved["canTrade"], saved
            armed = api.post("/api/live/arm", json={"userId": USER, "exchange": "binanceus"}).json()
            assert armed["armed"], armed

            for amount in ("3", "2"):  # two fills: the value chart has a history
                bought = api.post("/api/trade", json={"userId": USER, "exchange": "binanceus",
                                                      "side": "buy", "symbolCcxt": "BTC/USDT",
                                                      "amountUsd": amount}).json()
                assert bought["mode"] == "LIVE" and bought["orderId"], bought
            position = _journaled(api, USER, fills=2)

        created = piggy(stack, "token", "create", "--user", USER)
        assert created.returncode == 0, created.stderr
        user_token = created.stdout.strip().splitlines()[-1]
        url = f"{stack.dashboard_url}/?user=someone-else"
        shot = tmp_path / "dashboard-armed.png"
        before, dom = _render(url, [BANNER, "Keys validated", "Total value (USD)", "Trade log",
                                    "Cost with fees", "Holdings value against money put in"],
                              shot, tmp_path / "profile", timeout=60, token=user_token)
        assert token not in before and user_token not in before  # nothing pre-filled
        assert f"{BANNER} for {USER} on binanceus" in dom and f"signed in as user {USER}" in dom
        assert "EMERGENCY STOP" not in dom.replace("EMERGENCY STOP ENGAGED", "")  # operator's
        assert f">{bought['orderId']}<" in dom  # the LIVE order in the trade log table
        # the positions table: the quantity held (net of the BTC fee) and its cost with fees
        shown = [f"{Decimal(position[k]).normalize():f}" for k in ("quantity", "cost_basis")]
        assert f">{shown[0]}<" in dom and f">{shown[1]} USDT<" in dom, shown
        assert "stVegaLiteChart" in dom or "vega" in dom  # the value-vs-money-in chart
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
        if os.environ.get("PIGGY_SAVE_SCREENSHOTS") == "1":
            shutil.copyfile(shot, SCREENSHOT)
