"""`emolens --help` and its sub-commands' help read as a user expects."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from emolens.cli import app


def _commands_panel(args: list[str]) -> list[str]:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "80", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    panel = result.output.split("Commands")[1]
    return [line.strip("│ ").rstrip() for line in panel.splitlines()[1:] if line.startswith("│")]


def test_command_summaries_wrap_at_the_terminal_not_at_the_source_line():
    # A docstring wrapped at 100 columns once showed as "(retention, data-subject" and then
    # "requests)." on a line of its own, with half the panel empty.
    for group in ([], ["train"], ["analyze"]):
        lines = _commands_panel(group)
        assert lines, group
        for line, following in zip(lines, lines[1:], strict=False):
            continuation = not re.match(r"^[a-z][\w-]*\s{2,}", following)
            if continuation and len(line) < 60:
                raise AssertionError(f"summary broken early in {group}: {line!r} / {following!r}")


def test_top_level_help_names_every_modality():
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"})
    for word in ("text", "speech", "images", "video"):
        assert word in result.output
