"""Settings that are wrong are named in one line: JSON that does not parse, fusion weights
that mean nothing, and keys of the config file that no setting has (QA report)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from emolens.cli import EXIT_ERROR, app
from emolens.config import load_settings
from emolens.errors import InvalidInputError
from emolens.llm.settings import load_llm_settings

pytestmark = pytest.mark.usefixtures("isolated_settings")


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_unparsable_json_is_one_line(monkeypatch):
    monkeypatch.setenv("EMOLENS_FUSION_WEIGHTS", "notjson")
    result = run("analyze", "text", "hi")
    assert result.exit_code == EXIT_ERROR
    assert result.output.startswith("error: Invalid setting: fusion_weights "
                                    "(EMOLENS_FUSION_WEIGHTS) must be a JSON object")
    assert "'notjson'" in result.output and "Traceback" not in result.output


def test_unparsable_json_list(monkeypatch):
    monkeypatch.setenv("EMOLENS_LLM_LABELS", "{")
    with pytest.raises(InvalidInputError, match="EMOLENS_LLM_LABELS"):
        load_llm_settings()


@pytest.mark.parametrize(("weights", "problem"), [
    ('{"vioce": 1}', r"unknown modality \['vioce'\]; the modalities are \['face', "
                     r"'screen_text', 'voice', 'words'\]"),
    ('{"voice": -1, "words": 1}', "0 or more, and not all 0"),
    ('{"voice": 0, "words": 0}', "0 or more, and not all 0"),
])
def test_meaningless_fusion_weights_are_refused(monkeypatch, weights, problem):
    monkeypatch.setenv("EMOLENS_FUSION_WEIGHTS", weights)
    with pytest.raises(InvalidInputError, match=f"EMOLENS_FUSION_WEIGHTS.*{problem}"):
        load_settings()


def test_fusion_weights_of_known_modalities(monkeypatch):
    monkeypatch.setenv("EMOLENS_FUSION_WEIGHTS", '{"voice": 0.7, "face": 0.3, "words": 0}')
    assert load_settings().fusion_weights == {"voice": 0.7, "face": 0.3, "words": 0.0}


def test_unknown_config_key_is_refused_with_a_hint(monkeypatch, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("batch_sizee = 5\n", encoding="utf-8")
    monkeypatch.setenv("EMOLENS_CONFIG", str(config))
    with pytest.raises(InvalidInputError,
                       match=r"unknown setting\(s\) 'batch_sizee' \(did you mean 'batch_size'\?\)"):
        load_settings()
    result = run("analyze", "text", "hi")
    assert result.exit_code == EXIT_ERROR and "batch_sizee" in result.output


def test_config_keys_of_other_commands_are_known(monkeypatch, tmp_path):
    # One file for every command: the library's settings accept the LLM's and the service's.
    config = tmp_path / "config.toml"
    config.write_text('batch_size = 5\nllm_model = "m"\nport = 8001\nsmtp_port = 25\n',
                      encoding="utf-8")
    monkeypatch.setenv("EMOLENS_CONFIG", str(config))
    assert load_settings().batch_size == 5
    assert load_llm_settings().llm_model == "m"


def test_a_named_config_file_must_exist_and_empty_means_none(monkeypatch, tmp_path):
    monkeypatch.setenv("EMOLENS_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(InvalidInputError, match="nope.toml .EMOLENS_CONFIG. does not exist"):
        load_settings()
    result = run("analyze", "text", "hi")
    assert result.exit_code == EXIT_ERROR and "does not exist" in result.output
    monkeypatch.setenv("EMOLENS_CONFIG", "")
    assert load_settings().batch_size > 0
    monkeypatch.delenv("EMOLENS_CONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/emolens/config.toml: defaults
    assert load_settings().batch_size > 0
