"""The filters of `emolens export` and `emolens report`: an unknown modality is a usage error
naming the valid ones, an empty match names what the store holds, a model's bare name
matches its stored versions, and report reads --since/--until exactly as export does.
Real CLI, real SQLite stores."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from emolens.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, app
from emolens.store import ResultStore
from emolens.types import EmotionResult

pytestmark = pytest.mark.usefixtures("isolated_settings")


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


@pytest.fixture
def db(tmp_path) -> str:
    """Two versions of one model and another model, texts from three days ago and 2020."""
    now = datetime.now(UTC)
    rows = [("a", "default@1.0", "joy", now - timedelta(days=3)),
            ("b", "default@2.0", "anger", now - timedelta(days=3)),
            ("c", "defaultish@1", "sadness", datetime(2020, 1, 1, tzinfo=UTC)),
            ("d", "default", "joy", datetime(2020, 1, 2, tzinfo=UTC))]
    path = str(tmp_path / "f.db")
    with ResultStore(path) as store:
        store.add([EmotionResult(label=label, scores={label: 0.8, "neutral": 0.2}, text=key,
                                 item_key=key, model=model, timestamp=when)
                   for key, model, label, when in rows])
    return path


def texts(done) -> list[str]:
    assert done.exit_code == EXIT_OK, done.output
    return [r["text"] for r in csv.DictReader(io.StringIO(done.stdout))]


def test_an_unknown_modality_is_a_usage_error_listing_the_valid_ones(db):
    done = run("export", "--db", db, "--modality", "bogus")
    assert done.exit_code == EXIT_USAGE
    said = flat(done.output)
    assert "unknown modality 'bogus'" in said
    assert "text, speech, face, screen_text, fused" in said
    assert texts(run("export", "--db", db, "--modality", "text")) == ["a", "b", "c", "d"]
    assert texts(run("export", "--db", db, "--modality", "face")) == []


def test_an_empty_match_names_the_models_and_labels_held(db):
    done = run("export", "--db", db, "--label", "angry")
    assert done.exit_code == EXIT_OK and done.stdout.count("\n") == 1  # the header
    said = flat(done.stderr)
    assert "no stored results match" in said
    assert "holds models default, default@1.0, default@2.0, defaultish@1" in said
    assert "labels anger, joy, sadness" in said


def test_a_bare_model_name_matches_its_stored_versions(db):
    assert texts(run("export", "--db", db, "--model", "default")) == ["a", "b", "d"]
    assert texts(run("export", "--db", db, "--model", "default@2.0")) == ["b"]
    assert texts(run("export", "--db", db, "--model", "defaultish")) == ["c"]
    assert texts(run("export", "--db", db, "--model", "defaul")) == []
    helped = flat(run("export", "--help").output)
    assert "a name alone (default) matches each of its versions stored" in helped


def test_report_reads_since_and_until_as_export_does(db, tmp_path):
    assert texts(run("export", "--db", db, "--since", "7d")) == ["a", "b"]
    done = run("report", "--db", db, "--since", "7d", "--out", str(tmp_path / "week"))
    assert done.exit_code == EXIT_OK, done.output
    assert "report of 2 results" in flat(done.output)
    done = run("report", "--db", db, "--until", "2020-01-02T00:00:00Z", "--model", "defaultish",
               "--out", str(tmp_path / "old"))
    assert done.exit_code == EXIT_OK, done.output
    assert "report of 1 results" in flat(done.output)
    for command in ("export", "report"):
        bad = run(command, "--db", db, "--since", "yesterday")
        assert bad.exit_code == EXIT_USAGE
        assert "neither an age (30m, 12h, 7d, 4w) nor an ISO 8601 time" in flat(bad.output)
        swapped = run(command, "--db", db, "--since", "1d", "--until", "2020-01-01")
        assert swapped.exit_code == EXIT_USAGE and "swap them" in swapped.output
        helped = flat(run(command, "--help").output)
        assert "an age (30m, 12h, 7d, 4w) or an ISO 8601 time" in helped
    nothing = run("report", "--db", db, "--since", "1h", "--out", str(tmp_path / "none"))
    assert nothing.exit_code == EXIT_ERROR and "match the filters" in flat(nothing.output)
