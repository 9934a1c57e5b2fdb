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


def _help_texts(command, path: str):
    """(where, text) for a command's help and each of its options', through every group."""
    yield path, command.help or ""
    for param in command.params:
        yield f"{path} {param.name}", getattr(param, "help", None) or ""
    for name, sub in getattr(command, "commands", {}).items():
        yield from _help_texts(sub, f"{path} {name}")


def test_help_texts_show_their_brackets():
    # Help is rendered as Rich markup, where "[env: EMOLENS_DB]" or "emolens[ray]" is a tag
    # and silently vanishes: the user then never sees the variable, the default, or the
    # right install command. Brackets meant literally must be escaped ("\[").
    import inspect

    import typer
    from rich.text import Text

    eaten = []
    for where, text in _help_texts(typer.main.get_command(app), "emolens"):
        text = inspect.cleandoc(text)
        if Text.from_markup(text).plain != text.replace("\\[", "["):
            eaten.append(f"{where}: {text[:80]}")
    assert not eaten, "\n".join(eaten)


def test_escaped_brackets_reach_the_screen():
    result = CliRunner().invoke(app, ["analyze", "file", "--help"],
                                env={"COLUMNS": "200", "TERM": "dumb"})
    assert "pip install 'emolens[ray]'" in result.output
    assert "env: EMOLENS_DB" in result.output
