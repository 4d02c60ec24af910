"""Render deploy/grafana/cryptopiggy.json as a static HTML page with values from a Prometheus.

Grafana can't run here, so the README's screenshot is this: every panel of the dashboard
JSON, each target's expression evaluated now through Prometheus's HTTP API.
    python scripts/render_dashboard.py http://127.0.0.1:9090 out.html
"""
from __future__ import annotations

import html
import json
import math
import sys
from pathlib import Path

import httpx

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "cryptopiggy.json"


def _fmt(value: str, unit: str) -> str:
    v = float(value)
    if math.isnan(v):
        return "–"
    if unit == "s":
        return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"
    return f"{v:.3g}" if v != int(v) else f"{int(v)}"


def _legend(fmt: str, labels: dict[str, str]) -> str:
    out = fmt
    for k, v in labels.items():
        out = out.replace("{{" + k + "}}", v)
    return out.replace("{{", "").replace("}}", "") or "value"


def render(prometheus_url: str, dashboard: dict) -> str:
    tiles = []
    with httpx.Client(base_url=prometheus_url, timeout=10) as client:
        for panel in dashboard["panels"]:
            unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
            rows = []
            for target in panel["targets"]:
                result = client.get("/api/v1/query", params={"query": target["expr"]}).json()
                for series in result.get("data", {}).get("result", []):
                    rows.append((_legend(target.get("legendFormat", ""), series["metric"]),
                                 _fmt(series["value"][1], unit)))
            stat = panel["type"] == "stat"
            body = ("".join(f"<div class='big'>{html.escape(v)}</div>" for _, v in rows[:1])
                    if stat else "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td>"
                                         "</tr>" for k, v in rows[:8]))
            body = body or "<div class='none'>no data</div>"
            tiles.append(f"<div class='panel {'stat' if stat else 'ts'}'><h3>"
                         f"{html.escape(panel['title'])}</h3>"
                         + (body if stat else f"<table>{body}</table>") + "</div>")
    return ("<html><head><meta charset='utf-8'><style>"
            "body{background:#111217;color:#ccccdc;font:13px sans-serif;margin:16px}"
            "h1{font-size:18px;margin:0 0 12px}.grid{display:flex;flex-wrap:wrap;gap:8px}"
            ".panel{background:#181b1f;border:1px solid #2c3235;border-radius:3px;padding:8px}"
            ".stat{width:320px;height:88px}.ts{width:655px;min-height:150px}"
            "h3{font-size:13px;margin:0 0 6px;color:#d8d9da}.big{font-size:34px;color:#73bf69}"
            "table{width:100%;border-collapse:collapse}td{padding:2px 4px;border-bottom:1px solid"
            " #2c3235}td:last-child{text-align:right;color:#5794f2}.none{color:#777}"
            "</style></head><body><h1>CryptoPiggy — deploy/grafana/cryptopiggy.json, values from "
            f"Prometheus now</h1><div class='grid'>{''.join(tiles)}</div></body></html>")


def main() -> None:
    url, out = sys.argv[1], Path(sys.argv[2])
    out.write_text(render(url, json.loads(DASHBOARD.read_text())))


if __name__ == "__main__":
    main()
