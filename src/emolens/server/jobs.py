"""Jobs: long media (videos, recordings sent with ``job=true``) analysed in worker threads.

A job belongs to the caller that created it (an API key, or the client address with auth
off); nobody else can read or cancel it, and an id of another caller's job gets the same
404 as one that never existed. Jobs live in memory: finished ones are kept for
``job_keep_seconds``; their results also go to the store when asked, which outlives them.

``shutdown`` lets running jobs finish for up to ``job_grace_seconds``, cancels the rest at
their next frame or block, and marks queued ones cancelled, so no job is left "running".
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from emolens.errors import EmolensError
from emolens.server.schemas import JobState

log = logging.getLogger("emolens.server")

ACTIVE = ("queued", "running")


class JobCancelled(Exception):
    """Raised inside a job's analysis at its next progress step once it is cancelled."""


class JobsFull(Exception):
    """No room for another job (max_jobs queued or running), or the service is stopping."""


@dataclass
class Job:
    """One job's state; ``run`` does the work in a worker thread and returns its result."""

    id: str
    owner: str
    kind: str
    name: str
    source: str
    run: Callable[[Job], Any]
    cleanup: Callable[[], None]
    total_seconds: float | None = None
    status: str = "queued"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress_seconds: float = 0.0
    error: str | None = None
    result: Any = None
    cancel: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str = "cancelled by the client"
    finished_mono: float | None = None

    def progress(self, seconds: float) -> None:
        """Count ``seconds`` more analysed (called by the analysis); stop if cancelled."""
        if self.cancel.is_set():
            raise JobCancelled
        self.progress_seconds += max(0.0, seconds)

    def state(self, with_result: bool = True) -> JobState:
        """The job as the API shows it."""
        share = None
        if self.total_seconds:
            share = round(min(1.0, self.progress_seconds / self.total_seconds), 4)
        if self.status == "done":
            share = 1.0
        return JobState(
            id=self.id, kind=self.kind, status=self.status, name=self.name, source=self.source,
            created_at=self.created_at, started_at=self.started_at, finished_at=self.finished_at,
            progress_seconds=round(self.progress_seconds, 3),
            total_seconds=None if self.total_seconds is None else round(self.total_seconds, 3),
            progress=share, cancel_requested=self.cancel.is_set(), error=self.error,
            result=self.result if with_result else None,
        )


class JobManager:
    """Runs jobs on ``workers`` threads; at most ``max_jobs`` queued or running at once."""

    def __init__(self, workers: int = 1, max_jobs: int = 16, keep_seconds: float = 3600.0) -> None:
        self.workers = workers
        self.max_jobs = max_jobs
        self.keep_seconds = keep_seconds
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.accepting = True

    def counts(self) -> dict[str, int]:
        """Jobs queued and running now."""
        with self._lock:
            jobs = list(self._jobs.values())
        return {s: sum(j.status == s for j in jobs) for s in ACTIVE}

    def submit(self, owner: str, kind: str, name: str, source: str, run: Callable[[Job], Any],
               cleanup: Callable[[], None], total_seconds: float | None = None) -> Job:
        """Queue a job; JobsFull (nothing queued, ``cleanup`` not called) when there is no room."""
        with self._lock:
            self._forget_old()
            if not self.accepting:
                raise JobsFull("The service is shutting down; send the job again once it is "
                               "back.")
            active = sum(j.status in ACTIVE for j in self._jobs.values())
            if active >= self.max_jobs:
                raise JobsFull(f"{active} jobs are queued or running, the most this service "
                               "takes (max_jobs); try again when one has finished.")
            job = Job(secrets.token_urlsafe(12), owner, kind, name, source, run, cleanup,
                      total_seconds)
            self._jobs[job.id] = job
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="emolens-job")
        self._pool.submit(self._run, job)
        return job

    def get(self, job_id: str, owner: str) -> Job | None:
        """The caller's job by id; None for an unknown id or another caller's job."""
        with self._lock:
            self._forget_old()
            job = self._jobs.get(job_id)
        return job if job is not None and secrets.compare_digest(job.owner, owner) else None

    def cancel(self, job_id: str, owner: str) -> Job | None:
        """Cancel a queued or running job, or forget a finished one; None if not the caller's."""
        job = self.get(job_id, owner)
        if job is None:
            return None
        with self._lock:
            if job.status in ACTIVE:
                job.cancel.set()
                if job.status == "queued":  # the worker will only clean up when it gets there
                    self._finish(job, "cancelled", job.cancel_reason)
            else:
                self._jobs.pop(job.id, None)
        return job

    async def shutdown(self, grace: float) -> None:
        """Take no more jobs, cancel queued ones, give running ones ``grace`` seconds."""
        with self._lock:
            self.accepting = False
            for job in self._jobs.values():
                if job.status == "queued":
                    job.cancel_reason = "the service shut down before the job started"
                    job.cancel.set()
                    self._finish(job, "cancelled", job.cancel_reason)
        if self._pool is None:
            return
        pool = self._pool
        done = asyncio.ensure_future(asyncio.to_thread(pool.shutdown, wait=True))
        try:
            await asyncio.wait_for(asyncio.shield(done), grace)
        except TimeoutError:
            running = [j for j in self._jobs.values() if j.status == "running"]
            log.warning("shutdown: cancelling %d job(s) still running after %.0f s",
                        len(running), grace)
            for job in running:
                job.cancel_reason = "the service shut down before the job finished"
                job.cancel.set()
            await done

    # -- in a worker thread -----------------------------------------------------------------

    def _run(self, job: Job) -> None:
        try:
            with self._lock:
                if job.status != "queued":  # cancelled while it waited
                    return
                job.status, job.started_at = "running", datetime.now(UTC)
            began = time.perf_counter()
            try:
                result = job.run(job)
            except JobCancelled:
                self._end(job, "cancelled", job.cancel_reason)
            except EmolensError as exc:
                self._end(job, "failed", str(exc))
            except Exception:  # noqa: BLE001 (a job's bug must not end the worker)
                log.exception("job %s (%s) failed", job.id, job.name)
                self._end(job, "failed", "internal error; the server log has the details")
            else:
                with self._lock:
                    if job.cancel.is_set():  # cancelled after its last progress step
                        self._finish(job, "cancelled", job.cancel_reason)
                    else:
                        job.result = result
                        self._finish(job, "done", None)
            log.info("job %s (%s %s) %s in %.1f s", job.id, job.kind, job.name, job.status,
                     time.perf_counter() - began)
        finally:
            job.cleanup()

    def _end(self, job: Job, status: str, error: str | None) -> None:
        with self._lock:
            self._finish(job, status, error)

    def _finish(self, job: Job, status: str, error: str | None) -> None:
        job.status, job.error = status, error
        job.finished_at, job.finished_mono = datetime.now(UTC), time.monotonic()

    def _forget_old(self) -> None:
        """Drop finished jobs older than keep_seconds (called with the lock held)."""
        now = time.monotonic()
        for job_id in [i for i, j in self._jobs.items() if j.finished_mono is not None
                       and now - j.finished_mono > self.keep_seconds]:
            del self._jobs[job_id]
