"""Micro-batching: the texts of concurrent requests go through the model together.

One worker per model takes every request waiting in its queue (up to ``max_texts`` texts),
runs them as one batch in a worker thread, and hands each request its own results. A model
call on 50 texts costs little more than on one, so under load this raises throughput many
times over, and only one thread per model competes for the CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from emolens.pipeline import Analyzer
from emolens.text.language import detect_language
from emolens.types import EmotionResult


@dataclass
class _Job:
    texts: list[str]
    language: str | None
    future: asyncio.Future


class MicroBatcher:
    """Queue of analysis jobs for one analyzer, run in batches by one worker task."""

    def __init__(self, analyzer: Analyzer, max_texts: int = 256) -> None:
        self.analyzer = analyzer
        self.max_texts = max_texts
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task | None = None

    def start(self) -> None:
        """Start the worker on the running event loop."""
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._work(), name="emolens-batcher")

    async def stop(self) -> None:
        """Stop the worker (requests still queued get a cancellation)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def analyze(self, texts: list[str], language: str | None = None) -> list[EmotionResult]:
        """Results for ``texts``, computed in a batch with whatever else is waiting."""
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(texts, language, future))
        return await future

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            jobs = [await self._queue.get()]
            size = len(jobs[0].texts)
            while size < self.max_texts and not self._queue.empty():
                jobs.append(self._queue.get_nowait())
                size += len(jobs[-1].texts)
            jobs = [j for j in jobs if not j.future.done()]  # the client may have gone
            if not jobs:
                continue
            try:
                outcomes = await run_in_threadpool(self._run, jobs)
            except Exception as exc:  # noqa: BLE001 (each job gets it, the worker goes on)
                outcomes = [exc] * len(jobs)
            for job, outcome in zip(jobs, outcomes, strict=True):
                if job.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)

    def _run(self, jobs: list[_Job]) -> list[list[EmotionResult] | Exception]:
        """One model call for all jobs; if it fails, each job alone, so errors stay theirs."""
        texts = [t for j in jobs for t in j.texts]
        try:
            languages = [j.language or detect_language(t) for j in jobs for t in j.texts]
            results = self.analyzer.analyze_batch(texts, languages=languages)
        except Exception:  # noqa: BLE001
            if len(jobs) == 1:
                raise
            return [self._alone(j) for j in jobs]
        out, start = [], 0
        for j in jobs:
            out.append(results[start : start + len(j.texts)])
            start += len(j.texts)
        return out

    def _alone(self, job: _Job) -> list[EmotionResult] | Exception:
        try:
            return self.analyzer.analyze_batch(job.texts, language=job.language)
        except Exception as exc:  # noqa: BLE001
            return exc
