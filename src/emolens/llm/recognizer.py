"""LLM recognizer: zero-shot emotions from a chat model, with a rationale and quoted evidence.

For each text: personal data is redacted (when on), the text is cut to ``max_chars``, the
prompt in the text's language is sent, and the answer is validated (``schema.parse_answer``).
An unusable answer goes back to the model with what was wrong, at most ``max_repairs``
times; then the item is reported as an ``ItemFailure`` naming it, never dropped.

**From intensities to probabilities.** The model gives each label it sees an intensity in
[0, 1]; labels it does not list get 0. The scores are the intensities divided by their sum,
so they sum to 1 and keep the model's proportions (anger 0.8 + sadness 0.4 gives 2/3 and
1/3). A label given twice (or through two synonyms) keeps its higher intensity. An answer
whose intensities are all 0, and an empty text (never sent), score neutral 1 (uniform when
the label set has no neutral). Intensities are strengths, not calibrated probabilities.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from emolens import labels as L
from emolens.errors import InvalidInputError
from emolens.llm import prompts
from emolens.llm.cache import AnswerCache, cache_key
from emolens.llm.client import ChatClient
from emolens.llm.errors import LLMAnswerError, LLMRequestError
from emolens.llm.outcome import (
    Annotation,
    Evidence,
    ItemFailure,
    Outcome,
    RunStats,
    total_tokens,
)
from emolens.llm.schema import InvalidAnswer, LLMAnswer, parse_answer, response_format
from emolens.privacy import Redacted, redact
from emolens.text.language import resolve_languages

MEMO_SIZE = 4096  # outcomes kept in memory, so explain() after predict_proba() asks nothing
EXCERPT_CHARS = 40


@dataclass
class _Question:
    """One distinct text as it will be sent."""

    text: str
    language: str
    sent: Redacted
    messages: list[dict[str, str]]
    key: str


class LLMRecognizer:
    """Emotions from any chat model (``client``), over canonical or your own ``labels``.

    Implements the TextRecognizer and ExplainingRecognizer contracts; ``annotate`` gives the
    full outcome per text (scores, rationale, evidence, or the failure). ``stats_`` counts
    tokens, requests, cache hits and failures since construction or ``reset_stats()``.
    """

    name = "llm"

    def __init__(
        self,
        client: ChatClient,
        labels: Sequence[str] = L.CANONICAL,
        *,
        redact: bool = True,
        cache: AnswerCache | None = None,
        json_schema: bool = False,
        max_repairs: int = 2,
        max_chars: int = 4000,
        concurrency: int = 4,
    ) -> None:
        self.client = client
        self.labels = check_labels(labels)
        self.scheme = _scheme(self.labels)
        self.version = f"{client.model}/p{prompts.PROMPT_VERSION}"
        self.redact = redact
        self.cache = cache
        self.json_schema = json_schema
        self.max_repairs = max_repairs
        self.max_chars = max_chars
        self.concurrency = concurrency
        self.stats_ = RunStats()
        self._memo: OrderedDict[str, Annotation] = OrderedDict()
        self._memo_lock = threading.Lock()  # the service may call from several threads

    def reset_stats(self) -> RunStats:
        """The counts so far; counting starts again from zero."""
        stats, self.stats_ = self.stats_, RunStats()
        return stats

    # -- the recognizer contract -----------------------------------------------------------
    def predict_proba(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> np.ndarray:
        """Scores (n, len(labels)); raises ``LLMAnswerError`` naming items without an answer."""
        outcomes = self.annotate(texts, languages)
        failures = [o for o in outcomes if isinstance(o, ItemFailure)]
        if failures:
            raise LLMAnswerError(failures, len(texts))
        out = np.zeros((len(texts), len(self.labels)))
        for i, outcome in enumerate(outcomes):
            out[i] = [outcome.scores[label] for label in self.labels]
        return out

    def explain(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Per text ``{"llm": {rationale, evidence, intensities, ...}}`` or ``{"llm_error"}``."""
        return [details(o) for o in self.annotate(texts, languages)]

    # -- the full outcome ----------------------------------------------------------------------
    def annotate(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> list[Outcome]:
        """One Annotation or ItemFailure per text, in order; repeated texts are asked once.

        Raises ``LLMRequestError`` when the endpoint refuses requests outright (bad key,
        wrong URL): every item would fail the same way.
        """
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidInputError(
                    f"Item {i} is a {type(text).__name__}, not a str; pass text as a string."
                )
        langs = resolve_languages(texts, languages)
        questions: dict[str, _Question] = {}
        order: list[str | None] = []
        for text, language in zip(texts, langs, strict=True):
            if not text.strip():
                order.append(None)
                continue
            question = self._question(text, language)
            questions.setdefault(question.key, question)
            order.append(question.key)
        answers = self._answers(list(questions.values()), order)
        return [
            self._empty(lang) if key is None else _reindex(answers[key], i)
            for i, (key, lang) in enumerate(zip(order, langs, strict=True))
        ]

    def _question(self, text: str, language: str) -> _Question:
        sent = redact(text) if self.redact else Redacted(text, text)
        # Cut after redacting, so that no personal data is left half-matched at the cut.
        kept = [r for r in sent.replacements if r.red_start < self.max_chars]
        sent = Redacted(text, _sendable(sent.text[: self.max_chars]), kept)
        messages = prompts.messages(sent.text, self.labels, language)
        key = cache_key(self.client.identity, prompts.PROMPT_VERSION, messages)
        return _Question(text, language, sent, messages, key)

    def _answers(self, questions: list[_Question], order: list[str | None]) -> dict[str, Outcome]:
        found: dict[str, Outcome] = {}
        todo: list[_Question] = []
        for q in questions:
            if (known := self._recall(q.key)) is not None:
                found[q.key] = known
            elif self.cache is not None and (stored := self.cache.get(q.key)) is not None:
                answer = LLMAnswer.model_validate(stored["answer"])
                found[q.key] = self._annotation(q, answer, [], 0, stored.get("tokens", 0), True)
                self.stats_.add(items=1, cache_hits=1)
            else:
                todo.append(q)
        if todo:
            first = {key: i for i, key in reversed(list(enumerate(order))) if key is not None}
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(todo))) as pool:
                futures = [pool.submit(self._ask, q, first[q.key]) for q in todo]
                try:
                    for q, future in zip(todo, futures, strict=True):
                        found[q.key] = future.result()
                except LLMRequestError:  # refused outright: the rest would fail the same way
                    for future in futures:
                        future.cancel()
                    raise
        for key, outcome in found.items():
            if isinstance(outcome, Annotation):
                self._remember(key, outcome)
        return found

    def _ask(self, q: _Question, index: int) -> Outcome:
        """Ask, repair, validate; an Annotation, or an ItemFailure naming the item."""
        history = list(q.messages)
        problem, attempts, spent = "", 0, 0
        try:
            for attempts in range(1, self.max_repairs + 2):
                fmt = response_format(self.labels) if self.json_schema else None
                reply = self.client.chat(history, response_format=fmt)
                self.stats_.add_usage(reply.usage, reply.retries, reply.requests)
                spent += total_tokens(reply.usage)
                try:
                    answer, repairs = parse_answer(reply.content, self.labels)
                except InvalidAnswer as exc:
                    problem = str(exc)
                    if reply.finish_reason == "length":
                        problem += " (the answer was cut off at EMOLENS_LLM_MAX_TOKENS)"
                    if attempts <= self.max_repairs:  # it goes back to the model
                        history += prompts.retry_messages(reply.content, problem, q.language)
                        self.stats_.add(repairs=1)
                    continue
                if self.cache is not None:
                    self.cache.put(q.key, {"answer": answer.model_dump(), "tokens": spent})
                self.stats_.add(items=1)
                return self._annotation(q, answer, repairs, attempts, spent, False)
            reason = f"no valid answer after {attempts} attempts: {problem}"
        except LLMRequestError as exc:
            self.stats_.add(requests=exc.requests, retries=exc.retries)
            if not exc.retryable:
                raise
            reason = f"request failed: {exc}"
        self.stats_.add(items=1, failures=1)
        return ItemFailure(index, _excerpt(q.sent.text), reason, attempts)

    def _annotation(
        self, q: _Question, answer: LLMAnswer, repairs: list[str], attempts: int, tokens: int,
        cached: bool,
    ) -> Annotation:
        intensities = answer.intensities()
        probs = intensities_to_probs(intensities, self.labels)
        found, rejected = verify_evidence(answer.evidence, q.sent)
        return Annotation(
            scores={label: float(p) for label, p in zip(self.labels, probs, strict=True)},
            intensities=intensities,
            valence=answer.valence,
            arousal=answer.arousal,
            rationale=answer.rationale.strip(),
            language=q.language,
            evidence=found,
            evidence_rejected=rejected,
            repairs=repairs,
            attempts=attempts,
            cached=cached,
            redacted=q.sent.counts(),
            tokens=tokens,
        )

    def _empty(self, language: str) -> Annotation:
        probs = intensities_to_probs({}, self.labels)
        return Annotation(
            scores={label: float(p) for label, p in zip(self.labels, probs, strict=True)},
            intensities={}, valence=0.0, arousal=0.0, rationale="The text is empty.",
            language=language,
        )

    def _recall(self, key: str) -> Annotation | None:
        with self._memo_lock:
            if key in self._memo:
                self._memo.move_to_end(key)
            return self._memo.get(key)

    def _remember(self, key: str, outcome: Annotation) -> None:
        with self._memo_lock:
            self._memo[key] = outcome
            self._memo.move_to_end(key)
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)

    def close(self) -> None:
        """Close the client and the cache."""
        self.client.close()
        if self.cache is not None:
            self.cache.close()


# -- helpers ------------------------------------------------------------------------------------
def intensities_to_probs(intensities: dict[str, float], labels: Sequence[str]) -> np.ndarray:
    """Intensities normalised to sum to 1 over ``labels`` (see the module docstring)."""
    values = np.array([max(0.0, intensities.get(label, 0.0)) for label in labels])
    total = values.sum()
    if total > 0:
        return values / total
    if "neutral" in labels:
        return np.array([1.0 if label == "neutral" else 0.0 for label in labels])
    return np.full(len(labels), 1.0 / len(labels))


def verify_evidence(quotes: Sequence[str], sent: Redacted) -> tuple[list[Evidence], list[str]]:
    """Quotes found verbatim in the text sent (white space may differ), placed in the original.

    Anything else, however close, is rejected: the model must not put words in the text.
    """
    found: list[Evidence] = []
    rejected: list[str] = []
    for quote in quotes:
        span = _find(quote.strip(), sent.text)
        if span is None:
            if quote.strip():
                rejected.append(quote)
            continue
        start, end = sent.to_original(*span)
        evidence = Evidence(sent.original[start:end], start, end)
        if evidence not in found:
            found.append(evidence)
    return found, rejected


def _find(quote: str, text: str) -> tuple[int, int] | None:
    if not quote:
        return None
    at = text.find(quote)
    if at != -1:
        return at, at + len(quote)
    flexible = r"\s+".join(re.escape(part) for part in quote.split())
    match = re.search(flexible, text)
    return match.span() if match else None


def details(outcome: Outcome) -> dict[str, Any]:
    """What a result's ``details`` get from an outcome (JSON-safe)."""
    if isinstance(outcome, ItemFailure):
        return {"llm_error": str(outcome)}
    return {"llm": outcome.to_dict()}


def check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """The labels stripped; InvalidInputError unless there are two or more, none empty and
    none repeated in another case (answers are matched to labels in any case)."""
    cleaned = tuple(str(label).strip() for label in labels)
    if len(cleaned) < 2 or not all(cleaned) or len({c.lower() for c in cleaned}) != len(cleaned):
        raise InvalidInputError(
            "An LLM label set needs at least two distinct (in any case), non-empty labels; "
            f"got {list(labels)}"
        )
    return cleaned


def _scheme(labels: tuple[str, ...]) -> str | None:
    """'canonical' for canonical labels, None when all map to canonical, else 'custom'."""
    if set(labels) <= set(L.CANONICAL):
        return "canonical"
    return None if L.is_mappable(labels) else "custom"


def _sendable(text: str) -> str:
    """The text with lone surrogates (not encodable as UTF-8) replaced, positions unchanged."""
    return text.encode("utf-8", errors="replace").decode("utf-8")


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _reindex(outcome: Outcome, index: int) -> Outcome:
    if isinstance(outcome, ItemFailure) and outcome.index != index:
        return ItemFailure(index, outcome.excerpt, outcome.reason, outcome.attempts)
    return outcome
