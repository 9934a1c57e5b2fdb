"""LLM settings (EMOLENS_LLM_*) and what the factories build from them; no requests are made."""

from __future__ import annotations

import importlib.util

import pytest

from emolens.errors import MissingExtraError, ModelFileError
from emolens.llm.errors import LLMNotConfiguredError
from emolens.llm.factory import build_llm_recognizer, redaction_on
from emolens.llm.settings import LLMSettings, load_llm_settings
from emolens.registry import recognizers

pytestmark = pytest.mark.usefixtures("isolated_settings")


def test_env_vars(monkeypatch, tmp_path):
    monkeypatch.setenv("EMOLENS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("EMOLENS_LLM_BASE_URL", "https://llm.example.com/v1")
    monkeypatch.setenv("EMOLENS_LLM_MODEL", "qwen2.5")
    monkeypatch.setenv("EMOLENS_LLM_API_KEY", "sk-123")
    monkeypatch.setenv("EMOLENS_LLM_TIMEOUT", "7.5")
    monkeypatch.setenv("EMOLENS_LLM_CONCURRENCY", "3")
    monkeypatch.setenv("EMOLENS_LLM_MAX_RETRIES", "5")
    monkeypatch.setenv("EMOLENS_LLM_LABELS", '["calm", "upset"]')
    settings = load_llm_settings()
    assert settings.configured()
    assert settings.llm_api_key.get_secret_value() == "sk-123"
    assert "sk-123" not in repr(settings)
    recognizer = build_llm_recognizer(settings)
    try:
        client = recognizer.client
        assert (client.base_url, client.model, client.timeout, client.max_retries) == (
            "https://llm.example.com/v1", "qwen2.5", 7.5, 5)
        assert recognizer.labels == ("calm", "upset") and recognizer.concurrency == 3
        assert recognizer.cache.path == tmp_path / "llm-answers.sqlite3"
    finally:
        recognizer.close()


@pytest.mark.parametrize(("url", "forced", "expected"), [
    ("https://api.openai.com/v1", None, True),
    ("http://192.168.1.5:11434/v1", None, True),
    ("http://127.0.0.1:11434/v1", None, False),
    ("http://localhost:8080/v1", None, False),
    ("http://127.0.0.1:11434/v1", True, True),
    ("https://api.openai.com/v1", False, False),
])
def test_redaction_default(url, forced, expected):
    settings = LLMSettings(llm_base_url=url, llm_model="m", llm_redact=forced, llm_cache=False)
    assert redaction_on(settings) is expected
    recognizer = build_llm_recognizer(settings)
    assert recognizer.redact is expected
    recognizer.close()


def test_redaction_forced_by_env(monkeypatch):
    monkeypatch.setenv("EMOLENS_LLM_REDACT", "true")
    assert redaction_on(load_llm_settings(llm_base_url="http://127.0.0.1:1/v1"))


def test_not_configured():
    with pytest.raises(LLMNotConfiguredError, match="EMOLENS_LLM_BASE_URL"):
        recognizers.create("llm")
    with pytest.raises(LLMNotConfiguredError, match="No model name"):
        recognizers.create("llm", llm_base_url="http://127.0.0.1:9/v1")
    assert not LLMSettings(llm_base_url="http://127.0.0.1:9/v1").configured()


def test_gguf_path(tmp_path):
    with pytest.raises(ModelFileError, match="missing.gguf .EMOLENS_LLM_GGUF. does not exist"):
        recognizers.create("llm", llm_gguf=str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelFileError, match="Unknown packaged GGUF model 'foo'.*gemma3-270m"):
        recognizers.create("llm", llm_gguf="package:foo")  # not "needs llama-cpp-python"
    if importlib.util.find_spec("llama_cpp") is not None:
        pytest.skip("llama-cpp-python is installed: the missing-package message cannot show")
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    with pytest.raises(MissingExtraError, match="pip install llama-cpp-python"):
        recognizers.create("llm", llm_gguf=str(model))
    assert not redaction_on(LLMSettings(llm_gguf=str(model)))  # nothing leaves the machine
