"""`emolens serve` given a bad model, log level or port says so in one line (no traceback), the
models load before uvicorn starts and only once, and a 429 says the wait its Retry-After
header says."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("fastapi", reason="needs the server extra: pip install 'emolens[server]'")

from fastapi.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from emolens.cli import EXIT_ERROR, EXIT_USAGE, app  # noqa: E402
from emolens.server import ServerSettings, create_app  # noqa: E402
from emolens.server.auth import Authenticator, AuthError, RateLimiter  # noqa: E402

WIDE = {"COLUMNS": "400"}  # messages on one line, not wrapped in a box


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch, tmp_path):
    """No user config file or EMOLENS_* variable reaches the command under test."""
    for name in list(os.environ):
        if name.startswith("EMOLENS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EMOLENS_CONFIG", "")


def serve(tmp_path, *args: str, env: dict[str, str] | None = None):
    command = ["serve", "--no-auth", "--db", str(tmp_path / "s.db"), *args]
    return CliRunner().invoke(app, command, env={**WIDE, **(env or {})})


def one_line(result) -> str:
    return " ".join(result.output.split())


def test_an_unknown_model_is_one_clear_error_before_uvicorn_starts(tmp_path):
    result = serve(tmp_path, "--port", "0", "--model", "nope", "--log-level", "WARNING")
    assert result.exit_code == EXIT_ERROR, result.output
    assert isinstance(result.exception, SystemExit)
    said = one_line(result)
    assert "error: Unknown recognizer 'nope'; available: [" in said
    assert "Traceback" not in said and "lifespan" not in said.lower()
    assert "emolens serve: http" not in said  # never announced as serving


def test_an_unknown_log_level_is_a_usage_error_listing_the_levels(tmp_path):
    result = serve(tmp_path, "--port", "0", "--log-level", "foo")
    assert result.exit_code == EXIT_USAGE, result.output
    said = one_line(result)
    assert "'foo' is not one of 'critical', 'error', 'warning', 'info', 'debug', 'trace'" in said


@pytest.mark.parametrize(("args", "env", "got"), [
    (["--port", "70000"], {}, "70000"),
    ([], {"EMOLENS_PORT": "abc"}, "'abc'"),
])
def test_a_bad_port_names_the_setting_and_its_variable(tmp_path, args, env, got):
    result = serve(tmp_path, *args, env=env)
    assert result.exit_code == EXIT_ERROR, result.output
    assert isinstance(result.exception, SystemExit)  # not a pydantic ValidationError
    said = one_line(result)
    assert "error: Invalid setting: port (EMOLENS_PORT, the config file or the option)" in said
    assert said.endswith(f"got {got}")


def test_a_service_started_before_uvicorn_is_not_loaded_again_by_the_lifespan(tmp_path):
    app_ = create_app(ServerSettings(db=str(tmp_path / "s.db"), model="ngram", auth=False))
    service = app_.state.service
    service.start()  # as `emolens serve` does before uvicorn.run
    loaded = service.analyzers["ngram"]
    with TestClient(app_) as client:
        assert client.get("/readyz").status_code == 200
        assert service.analyzers["ngram"] is loaded
        r = client.post("/v1/analyze/text", json={"text": "so happy today"})
        assert r.status_code == 200 and r.json()["results"][0]["label"]
    assert not service.started  # stopped: a new lifespan loads again
    with TestClient(app_) as client:
        assert client.get("/readyz").status_code == 200
        assert service.analyzers["ngram"] is not loaded


def test_a_429_says_the_wait_its_retry_after_header_gives():
    now = [100.0]
    limiter = RateLimiter(rate=1000.0, burst=1, clock=lambda: now[0])
    auth = Authenticator(keys=None, limiter=limiter, required=False)  # type: ignore[arg-type]
    auth.admit("client:a")
    with pytest.raises(AuthError) as refused:
        auth.admit("client:a")  # a token is 1 ms away: the header rounds that up to 1 s
    http = refused.value.to_http()
    assert http.status_code == 429 and http.headers["Retry-After"] == "1"
    assert http.detail.endswith("retry in 1 s.")
