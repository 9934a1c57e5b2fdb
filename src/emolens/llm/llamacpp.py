"""A local GGUF model through llama-cpp-python, behind the same client interface.

Optional: llama-cpp-python is not a dependency of emolens (it compiles llama.cpp at
install). Nothing leaves the machine on this path, so redaction is off unless forced. The
model is a .gguf file or ``package:NAME``, a file shipped in PyPI packages (``gguf_models``).
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

from emolens.errors import MissingExtraError
from emolens.llm.client import ChatReply
from emolens.llm.gguf_models import check_gguf, resolve_gguf


class MissingLlamaCppError(MissingExtraError):
    """llama-cpp-python is needed and not installed."""

    def __init__(self) -> None:
        Exception.__init__(
            self, "A local GGUF model (EMOLENS_LLM_GGUF) needs llama-cpp-python: "
            "pip install llama-cpp-python (it compiles llama.cpp, several minutes)"
        )


# Bounds llama.cpp's grammar can enforce and strict cloud endpoints may refuse: without them
# a small model can repeat array items until max_tokens cuts the JSON off unfinished.
MAX_EVIDENCE, MAX_PHRASE_CHARS, MAX_RATIONALE_CHARS = 5, 160, 400


def bounded_for_grammar(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The answer schema with item counts and string lengths bounded: at most one entry per
    label (``uniqueItems`` is not enforceable by the grammar, so the count is the bound)."""
    if schema is None:
        return None
    out = copy.deepcopy(schema)
    props = out.get("properties", {})
    emotions = props.get("emotions", {})
    labels = emotions.get("items", {}).get("properties", {}).get("label", {}).get("enum")
    if labels:
        emotions["minItems"], emotions["maxItems"] = 1, len(labels)
    if "evidence" in props:
        props["evidence"]["maxItems"] = MAX_EVIDENCE
        props["evidence"].setdefault("items", {})["maxLength"] = MAX_PHRASE_CHARS
    if "rationale" in props:
        props["rationale"]["maxLength"] = MAX_RATIONALE_CHARS
    return out


class LlamaCppClient:
    """Chat completions from a .gguf file, one at a time (a llama.cpp context is not shared)."""

    def __init__(
        self, model_path: str | Path, *, max_tokens: int = 512, temperature: float = 0.0,
        n_ctx: int = 4096,
    ) -> None:
        check_gguf(model_path)  # a missing file or unknown name is told before the import
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise MissingLlamaCppError() from exc
        path = resolve_gguf(model_path)  # a package's file is joined from its parts once
        self.model = path.name
        stat = path.stat()
        self.identity = f"gguf:{path.resolve()}:{stat.st_size}|t={temperature}"
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._llm = Llama(model_path=str(path), n_ctx=n_ctx, verbose=False)
        self._lock = threading.Lock()

    def chat(
        self, messages: list[dict[str, str]], response_format: dict[str, Any] | None = None
    ) -> ChatReply:
        """One completion; a JSON schema becomes llama.cpp's grammar-constrained JSON mode."""
        kwargs: dict[str, Any] = {}
        if response_format is not None:
            schema = response_format.get("json_schema", {}).get("schema")
            kwargs["response_format"] = {"type": "json_object",
                                         "schema": bounded_for_grammar(schema)}
        with self._lock:
            out = self._llm.create_chat_completion(
                messages=messages, temperature=self.temperature, max_tokens=self.max_tokens,
                **kwargs,
            )
        choice = out["choices"][0]
        usage = {k: int(v) for k, v in (out.get("usage") or {}).items() if isinstance(v, int)}
        return ChatReply(choice["message"].get("content") or "", usage,
                         choice.get("finish_reason"))

    def close(self) -> None:
        """Nothing to close; the model is freed with the object."""
