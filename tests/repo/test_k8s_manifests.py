"""deploy/k8s renders with kustomize (``kubectl kustomize``), every document is valid against
the Kubernetes schemas (kubernetes-validate, strict), and the manifests name every service and
every setting each service reads — derived from the settings classes each service's code
builds, so a new setting fails here until the manifests carry it. Secrets go only where they
are needed."""
from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from pydantic import SecretStr
from pydantic.aliases import AliasChoices

from piggy.config import settings_classes
from shared.settings import BaseSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production", "managed-redis")
SERVICES = ("gateway", "executor", "credentials", "strategy", "notifier", "dashboard", "books")
COMMON = ("RedisSettings", "ServiceSettings", "LogSettings", "HomeSettings")  # shared/service.py
K8S_VERSION = kubernetes_validate.latest_version()
OPTIONAL = "cryptopiggy.dev/optional-settings"
# Secret env each service gets: the vault key only where keys are decrypted (the executor only
# with its direct route), the API token where the API is served or called.
SECRET_ENV = {
    "gateway": {"PIGGY_REDIS_PASSWORD", "PIGGY_MASTER_KEY", "PIGGY_API_TOKEN",
                "PIGGY_DATABASE_URL"},  # the books' database: positions
    "executor": {"PIGGY_REDIS_PASSWORD", "LIVE_CONFIRM_TOKEN"},
    "credentials": {"PIGGY_REDIS_PASSWORD", "PIGGY_MASTER_KEY"},
    "strategy": {"PIGGY_REDIS_PASSWORD"},
    "notifier": {"PIGGY_REDIS_PASSWORD", "PIGGY_ALERT_URLS"},
    "books": {"PIGGY_REDIS_PASSWORD", "PIGGY_DATABASE_URL", "PIGGY_MASTER_KEY"},  # reconciler
    "dashboard": {"PIGGY_API_TOKEN"},
}
DIRECT_ROUTE = {"production"}  # overlays with components/direct-route


@cache
def rendered(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    out = subprocess.run([kubectl, "kustomize", str(K8S / "overlays" / overlay)], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert found, f"no {kind} {name}"
    return found[0]


def env_name(cls: type[BaseSettings], field: str) -> str:
    info = cls.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    prefix = str(cls.model_config.get("env_prefix", ""))
    return (prefix + field).upper()


def _is_secret(cls: type[BaseSettings], field: str) -> bool:
    return SecretStr in (getattr(cls.model_fields[field].annotation, "__args__", ()) or ()) or (
        cls.model_fields[field].annotation is SecretStr)


def settings_read_by(service: str) -> list[type[BaseSettings]]:
    """The settings classes the service's own code builds (its package, by name) plus the
    ones every service builds (shared/service.py, the bus, logging)."""
    folder = ROOT / "services" / service
    names = set(COMMON) if service != "dashboard" else set()
    for path in folder.glob("*.py"):
        names |= set(re.findall(r"\b([A-Z][A-Za-z]*Settings)\b", path.read_text()))
    return [cls for cls in settings_classes() if cls.__name__ in names]


def container_env(docs: list[dict[str, Any]], service: str) -> tuple[set[str], set[str]]:
    """(every env name the service's container gets, those that come from a Secret)."""
    spec = _find(docs, "Deployment", service)["spec"]["template"]["spec"]["containers"][0]
    names, secret = set(), set()
    for item in spec.get("env", []):
        names.add(item["name"])
        if "secretKeyRef" in item.get("valueFrom", {}):
            secret.add(item["name"])
    for source in spec.get("envFrom", []):
        cm = _find(docs, "ConfigMap", source["configMapRef"]["name"])
        names |= set(cm.get("data", {}))
        names |= set((cm["metadata"].get("annotations", {}).get(OPTIONAL, "")).split())
    return names, secret


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_document_is_valid_kubernetes(overlay: str) -> None:
    docs = rendered(overlay)
    custom = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            custom.append(doc)  # a CRD: KEDA's, checked below
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{overlay}: {doc['kind']} {doc['metadata']['name']}: {exc.message}")
    assert {d["apiVersion"] for d in custom} <= {"keda.sh/v1alpha1"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_is_deployed_with_probes_resources_and_scrape_annotations(
        overlay: str) -> None:
    docs = rendered(overlay)
    for service in SERVICES:
        template = _find(docs, "Deployment", service)["spec"]["template"]
        container = template["spec"]["containers"][0]
        assert container["resources"]["requests"]["memory"], service
        health = "/_stcore/health" if service == "dashboard" else "/healthz"
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] == health, (service, probe)
        if service != "dashboard":
            notes = template["metadata"]["annotations"]
            assert notes["prometheus.io/scrape"] == "true", service
            port = int(notes["prometheus.io/port"])
            assert port in {p["containerPort"] for p in container["ports"]}, service
    for name in ("gateway", "executor"):
        pdb = _find(docs, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_manifests_name_every_setting_each_service_reads(overlay: str) -> None:
    docs = rendered(overlay)
    missing: dict[str, list[str]] = {}
    for service in SERVICES:
        names, _ = container_env(docs, service)
        wanted = {env_name(cls, f) for cls in settings_read_by(service)
                  for f in cls.model_fields if not _is_secret(cls, f)}
        if wanted - names:
            missing[service] = sorted(wanted - names)
    assert missing == {}, missing
    assert {c.__name__ for c in settings_read_by("gateway")} >= {
        "RedisSettings", "ExchangeSettings", "ApiSettings", "GatewaySettings", "VaultSettings",
        "RateBudgetSettings"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_come_from_secrets_and_only_where_needed(overlay: str) -> None:
    docs = rendered(overlay)
    secret_names = {env_name(cls, f) for cls in settings_classes() for f in cls.model_fields
                    if _is_secret(cls, f)}
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            assert not set(doc.get("data", {})) & secret_names, doc["metadata"]["name"]
    for service in SERVICES:
        _, secret = container_env(docs, service)
        expected = set(SECRET_ENV[service])
        if service == "executor" and overlay in DIRECT_ROUTE:
            expected.add("PIGGY_MASTER_KEY")
        assert secret == expected, service
        spec = _find(docs, "Deployment", service)["spec"]["template"]["spec"]["containers"][0]
        own = [e for e in spec.get("env", []) if e["name"] == "PIGGY_REDIS_PASSWORD"]
        if own:  # each service logs in to Redis as its own ACL user
            assert own[0]["valueFrom"]["secretKeyRef"]["key"] == service


def test_production_autoscales_on_consumer_group_lag_and_redis_runs_behind_sentinels() -> None:
    docs = rendered("production")
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d["spec"]["triggers"][0] for d in docs
              if d["kind"] == "ScaledObject"}
    assert set(scaled) == {"executor", "gateway"}
    for name, trigger in scaled.items():
        assert trigger["type"] in ("redis-streams", "redis-sentinel-streams"), name
        assert trigger["metadata"]["consumerGroup"] == name and trigger["metadata"]["lagCount"]
        _find(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    redis = _find(docs, "StatefulSet", "redis")["spec"]["template"]["spec"]["containers"]
    assert {c["name"] for c in redis} == {"redis", "sentinel"}
    settings = _find(docs, "ConfigMap", "piggy-settings")["data"]
    assert settings["PIGGY_REDIS_SENTINELS"].count(":26379") == 3
    assert "StatefulSet" not in {d["kind"] for d in rendered("managed-redis")}
