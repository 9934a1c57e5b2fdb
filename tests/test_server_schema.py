"""Schemathesis over the service's OpenAPI spec, on a real server: valid and invalid requests
generated from it never get a 5xx, and every refusal says why.

Bounded (a few dozen generated requests per operation) so that it fits in the test run.
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("fastapi", reason="needs the server extra: pip install 'emolens[server]'")
schemathesis = pytest.importorskip("schemathesis", reason="needs schemathesis ('emolens[test]')")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from live_server import LiveServer  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

from emolens.server import ServerSettings, create_app  # noqa: E402


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    """The spec of a live server (auth off on loopback, no rate limit) with a stored result."""
    os.environ.pop("EMOLENS_CONFIG", None)
    db = str(tmp_path_factory.mktemp("schema") / "emolens.db")
    settings_ = ServerSettings(db=db, auth=False, rate_limit=0, max_body_bytes=50_000)
    with LiveServer(create_app(settings_)) as server:
        import httpx

        httpx.post(f"{server.url}/v1/analyze/text", json={
            "texts": ["I am thrilled", "气死我了"], "store": True, "group": "g",
            "timestamp": "2024-01-01T10:00:00+08:00"})
        yield schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def test_no_request_gets_a_server_error(api_schema):
    # Each operation's generated cases through hypothesis directly: schemathesis's pytest
    # plugin does not run under the pytest this project uses.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 6

    for operation in operations:
        @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                              operation.as_strategy(GenerationMode.NEGATIVE)))
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def no_server_error(case):
            response = case.call(timeout=30)
            assert response.status_code < 500, (case.method, case.path, response.text[:300])
            if response.status_code >= 400:
                assert response.json()["detail"], "every refusal says why"

        no_server_error()
