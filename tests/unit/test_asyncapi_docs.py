"""The committed AsyncAPI documents (docs/asyncapi-*.json) are the ones the code generates."""
from __future__ import annotations

import json

import pytest

from piggy import asyncapi

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("service", sorted(asyncapi.SERVICES))
def test_the_committed_asyncapi_document_is_current(service: str) -> None:
    committed = asyncapi.path(service)
    assert committed.exists(), f"{committed} missing: run `make asyncapi`"
    assert committed.read_text() == asyncapi.render(service), (
        f"{committed} is stale: run `make asyncapi` and commit it")


def test_every_consumed_payload_has_its_schema_in_the_documents() -> None:
    schemas = set()
    for service in asyncapi.SERVICES:
        schemas |= set(json.loads(asyncapi.render(service))["components"]["schemas"])
    assert {"OrderIntent", "OrderRequested", "OrderPlaced", "OrderRejected", "ArmLive",
            "CredentialsSubmitted", "Ticker", "QueryBalance"} <= schemas
