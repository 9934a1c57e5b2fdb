"""Issue 8's ingest check: 10,000 items, 5 % malformed, SIGKILL midway, restart.

`emolens analyze file` runs as a subprocess with the shipped n-gram model (the fastest real
recognizer) on a JSONL file whose every 20th line is bad: broken JSON, empty text, bytes that
are not UTF-8, a lone-surrogate escape, or a text over the length limit (cut, stored, and
reported). The run is killed with SIGKILL once some chunks are stored, then run again (runs
resume by themselves). Then every valid item is stored exactly once (checked by item key),
each bad line is reported by file and line, and the exit status is 3 (partial). On SQLite and,
when tests/postgres.py has a server, on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from emolens.batch import item_key
from emolens.cli import EXIT_PARTIAL
from emolens.models import DEFAULT_MODEL_DIR, MODEL_FILE
from emolens.store.sql import open_database

N_ITEMS = 10_000
BAD_EVERY = 20  # 5 %
MAX_CHARS = 2_000  # EMOLENS_MAX_TEXT_CHARS of the runs: an oversized item is cheap to make
CHUNK = 250
# kind of bad line -> (the line's bytes, what the report says about it)
BAD = {
    "json": (b'{"text": "unterminated, id": 1', "not valid JSON"),
    "empty": (b'{"text": "   "}', "empty text"),
    "bytes": (b'{"text": "caf\xe9 au lait"}', "not valid utf-8"),
    "surrogate": (b'{"text": "half a pair \\ud83d here"}', "lone surrogate"),
    "oversized": (None, f"text cut to {MAX_CHARS:,} characters"),
}
VALID = ["I love this so much", "so angry about the delay", "今天很开心", "气死我了快递又丢了",
         "what a sad ending 😢", "nul \u0000 inside is fine"]

pytestmark = pytest.mark.skipif(not (DEFAULT_MODEL_DIR / MODEL_FILE).is_file(),
                                reason="the shipped n-gram model is not built")


def write_items(path: Path) -> tuple[dict[int, str], dict[int, str]]:
    """The JSONL file; returns {line: text stored} for items to store, {line: kind} for bad."""
    good: dict[int, str] = {}
    bad: dict[int, str] = {}
    kinds = list(BAD)
    with open(path, "wb") as fh:
        for line in range(1, N_ITEMS + 1):
            if line % BAD_EVERY == 0:
                kind = kinds[(line // BAD_EVERY) % len(kinds)]
                bad[line] = kind
                raw = BAD[kind][0]
                if kind == "oversized":
                    long_text = f"item {line} " + "so very long and boring " * 200
                    raw = json.dumps({"text": long_text}).encode()
                    good[line] = long_text[:MAX_CHARS]
            else:
                text_ = f"{VALID[line % len(VALID)]} #{line}"
                raw = json.dumps({"text": text_, "n": line}, ensure_ascii=line % 2 == 0).encode()
                good[line] = text_
            fh.write(raw + b"\n")
    return good, bad


def run_env(db: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOLENS_")}
    env.update(EMOLENS_CONFIG="", EMOLENS_DB=db,
               EMOLENS_MAX_TEXT_CHARS=str(MAX_CHARS), EMOLENS_MODEL="ngram")
    return env


def stored_keys(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT item_key FROM results")).scalars())


def count(engine) -> int:
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM results")).scalar_one()
    except SQLAlchemyError:  # the run has not made the table yet
        return 0


def test_killed_ingest_of_10k_items_resumes_with_nothing_lost_or_doubled(store_url, tmp_path):
    path = tmp_path / "items.jsonl"
    good, bad = write_items(path)
    command = [sys.executable, "-m", "emolens.cli", "analyze", "file", str(path),
               "--chunk-size", str(CHUNK), "--json"]
    engine, _ = open_database(store_url)
    try:
        proc = subprocess.Popen(command, env=run_env(store_url), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while count(engine) < len(good) // 2:  # midway
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "the run stored nothing within 2 minutes"
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == -signal.SIGKILL
        at_kill = count(engine)
        assert 0 < at_kill < len(good), "the run ended before it was killed"

        again = subprocess.run(command, env=run_env(store_url), capture_output=True,
                               timeout=300)
        keys = stored_keys(engine)
    finally:
        engine.dispose()
    assert again.returncode == EXIT_PARTIAL, again.stderr.decode(errors="replace")[-3000:]
    summary = json.loads(again.stdout.decode().splitlines()[-1])
    assert summary["status"] == "partial"
    assert (summary["skipped_existing"], summary["analysed"]) == (at_kill, len(good) - at_kill)

    source = str(path.resolve())
    expected = {item_key(source, line, text_) for line, text_ in good.items()}
    assert len(keys) == len(set(keys)) == len(good)  # 0 duplicated
    assert set(keys) == expected  # 0 lost, nothing else

    reported: dict[int, str] = {}
    for message in summary["error_list"] + summary["warning_list"]:
        where, _, reason = message.partition(": ")
        file, _, line = where.rpartition(":")
        if file == str(path) and line.isdigit():
            reported[int(line)] = reason
    for line, kind in bad.items():
        assert BAD[kind][1] in reported.get(line, ""), (line, kind, reported.get(line))
    assert summary["errors"] == sum(kind != "oversized" for kind in bad.values())
    backend = "postgresql" if "://" in store_url else "sqlite"
    print(f"\n{backend}: killed with {at_kill} of {len(good)} stored; "
          f"restart analysed {summary['analysed']}, skipped {summary['skipped_existing']}, "
          f"{summary['errors']} errors + {summary['truncated']} cut reported")
