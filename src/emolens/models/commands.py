"""`emolens models [list|info|remove]`: the models there are, one model's card, removal."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

import typer
from rich.markdown import Markdown
from rich.table import Table

from emolens.display import console, err_console

models_app = typer.Typer(help="List models, show one's metadata and model card, or remove a "
                         "model you trained. Without a command: list.")


def register(app: typer.Typer, friendly_errors: Callable) -> None:
    """Add the `emolens models` group (plain `emolens models` still lists)."""
    models_app.callback(invoke_without_command=True)(_default)
    models_app.command("list")(list_models)
    models_app.command("info")(friendly_errors(info_cmd))
    models_app.command("remove")(friendly_errors(remove_cmd))
    app.add_typer(models_app, name="models")


def _default(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        list_models()


def list_models() -> None:
    """List the registered text recognizers, the speech and face models, and the defaults."""
    from emolens.registry import recognizers

    table = Table(title="Text recognizers (--model, EMOLENS_MODEL)")
    table.add_column("name")
    table.add_column("what it is")
    for name, description in recognizers.describe().items():
        table.add_row(name, description)
    console.print(table)
    media = Table(title="Speech and face models (need the audio / video extras)")
    for column in ("kind", "name", "what it is", "installed"):
        media.add_column(column)
    for row in _media_models():
        media.add_row(*row)
    console.print(media)
    console.print(_defaults_table())


def _media_models() -> list[tuple[str, str, str, str]]:
    """(kind, name, description, installed?) of the packaged ASR, voice and face models."""
    import importlib.util

    from emolens.audio.whisper_models import PACKAGED
    from emolens.models.catalog import SHIPPED_DIR

    rows = []
    for name, source in PACKAGED.items():
        have = all(importlib.util.find_spec(p) is not None for p in source.packages)
        what = "Whisper, English + Chinese" if source.multilingual else "Whisper, English only"
        rows.append(("asr (--asr-model)", name, f"{what} ({source.pip_names})",
                     "yes" if have else "no"))
    rows.append(("voice (EMOLENS_VOICE_MODEL)", "default",
                 "Whisper-base states + acoustic statistics, logistic regression on RAVDESS "
                 "(8 classes, acted English; weights CC BY-NC-SA)",
                 "yes" if importlib.util.find_spec("faster_whisper") else "no"))
    face = (SHIPPED_DIR / "face" / "emolens-model.json").is_file()
    rows.append(("face (EMOLENS_FACE_MODEL)", "default",
                 "CNN on 48x48 gray face crops, trained on FER2013 (7 expressions)",
                 "yes" if face else "not shipped yet"))
    return rows


def _defaults_table() -> Table:
    from emolens.config import load_settings

    settings = load_settings()
    table = Table(title="Default model per modality (settings; a model directory works too)")
    for column in ("modality", "setting", "env", "in effect"):
        table.add_column(column)
    for modality, key in (("text", "model"), ("speech recognition", "asr_model"),
                          ("voice", "voice_model"), ("face", "face_model")):
        table.add_row(modality, key, f"EMOLENS_{key.upper()}", str(getattr(settings, key)))
    return table


def info_cmd(
    model: Annotated[str, typer.Argument(help="A shipped name (default, ngram, minilm-en, "
                                         "e5-zh, voice, face), a recognizer, or a model "
                                         "directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the metadata as JSON.")]
    = False,
) -> None:
    """Show a model's metadata and its model card."""
    from emolens.models.catalog import model_info

    info = model_info(model)
    if as_json:
        typer.echo(json.dumps({**info.summary(), "meta": info.meta}, indent=1,
                              ensure_ascii=False, default=str))
        return
    table = Table(title=f"{info.name}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in info.summary().items():
        if value in (None, {}, []):
            continue
        if key == "parts":
            for part in value:
                table.add_row(*_part_row(part))
            continue
        if key == "labels":
            value = ", ".join(value)
        elif key == "validation":
            value = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in value.items())
        elif key == "thresholds":
            value = ", ".join(f"{k} {v:g}" for k, v in value.items())
        elif key in ("cards", "notes"):
            value = "\n".join(value)
        elif key == "disgust_probe":
            key = "disgust probe"
        elif key == "size_bytes":
            key, value = "size", f"{value / 1e6:.2f} MB"
        table.add_row(key, str(value))
    console.print(table)
    if info.card:
        console.print(Markdown(info.card))
    elif info.path is not None:
        console.print(f"[dim]{info.path} has no MODEL_CARD.md[/]")


def _part_row(part: dict) -> tuple[str, str]:
    """A part of the default cascade as a table row: what it reads, and how it is used."""
    what = f"{part['name']} {part['version']}"
    if part["role"] == "fast":
        return "fast path", f"{what}: every text"
    weight = part.get("weight")
    blend = f" x {weight:g} + ngram x {1 - weight:g}" if weight is not None else ""
    when = f", where the n-gram's top score < {part['threshold']:g}" \
        if part.get("threshold") is not None else ""
    dev = part.get("dev") or {}
    measured = (f" (dev: {dev['escalated']:.0%} of texts escalated, macro-F1 "
                f"{dev['macro_f1']:.3f})") if {"escalated", "macro_f1"} <= set(dev) else ""
    return f"{part.get('language', '')} escalation".strip(), f"{what}{blend}{when}{measured}"


def remove_cmd(
    path: Annotated[str, typer.Argument(help="Directory of a model you trained.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
    = False,
) -> None:
    """Delete a model directory made by `emolens train` (shipped models are refused)."""
    from pathlib import Path

    from emolens.models.catalog import folder_size, model_info, removable_entries, remove_model

    info = model_info(path)
    target = Path(path)
    # Refused before asking: a shipped model, or a folder that holds more than a model.
    entries = removable_entries(target)
    if not yes:
        names = ", ".join(entry.name for entry in entries)
        typer.confirm(f"Delete {target} ({info.name}, {folder_size(target) / 1e6:.2f} MB: "
                      f"{names})?", abort=True, err=True)
    remove_model(target)
    err_console.print(f"removed {target}", highlight=False)
