"""MODEL_CARD.md of a model trained by `emolens train`, generated from its metadata."""

from __future__ import annotations

from typing import Any

_WHAT = {
    "audio": "how something is said in a speech clip (the voice, not the words)",
    "image": "the expression a face shows in an image",
    "text": "the emotion (or category) a text expresses",
}


def _f(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _validation_rows(v: dict[str, Any]) -> list[str]:
    rows = [f"| method | {v['method']} ({v['n']:,} items) |"]
    if v.get("folds"):
        for key, name in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
            rows.append(f"| {name}, mean ± sd over {len(v['folds'])} folds | "
                        f"{_f(v[f'{key}_folds_mean'])} ± {_f(v[f'{key}_folds_sd'])} |")
    rows += [f"| accuracy (all validation items) | {_f(v['accuracy'])} |",
             f"| macro-F1 | {_f(v['macro_f1'])} |",
             f"| balanced accuracy (mean recall) | {_f(v['balanced_accuracy'])} |",
             f"| ECE before temperature scaling (15 bins) | {_f(v['ece'])} |",
             f"| ECE after scaling (temperature fitted on other validation items) | "
             f"{_f(v['ece_scaled'])} |",
             f"| temperature shipped | {_f(v['temperature'], 2)} |"]
    ab = v.get("abstention")
    if ab:
        rows += [f"| coverage at confidence ≥ {ab['threshold']:g} | {ab['coverage']:.1%} |",
                 f"| accuracy of covered items | {_f(ab['accuracy_covered'])} |"]
    return rows


def model_card(meta: dict[str, Any]) -> str:
    """The card's Markdown: what the model is, its data, validation numbers, use and limits."""
    modality = meta.get("modality", "text")
    trained, v = meta.get("trained", {}), meta.get("validation") or {}
    encoder = meta.get("encoder", {})
    head = meta.get("head", {})
    counts = trained.get("label_counts", {})
    out = [f"# {meta['name']} {meta['version']} ({modality})", "",
           f"Trained with `emolens train {modality}` on {trained.get('at', '?')}. It scores "
           f"{_WHAT.get(modality, '')} with "
           + (f"a shipped encoder fine-tuned ({_finetuned(meta['finetune'])}) with its head."
              if meta.get("finetune") else "a light head on a frozen encoder."), "",
           "## Labels", "",
           f"{', '.join(meta['labels'])} (scheme `{meta['scheme']}`" +
           ("; the model's own labels, reported as they are, with no valence/arousal)"
            if meta["scheme"] == "custom" else "; mapped to emolens' canonical labels)"),
           ""]
    if meta.get("abstain_below") is not None:
        out += [f"Results whose top probability is below {meta['abstain_below']:g} get the "
                "label `uncertain` (scores unchanged).", ""]
    bad = trained.get("bad_files") or []
    out += ["## Data", "", f"`{meta.get('config', {}).get('data', '?')}`: "
            f"{trained.get('items', 0):,} items"
            + (f" from {trained['groups']} groups" if trained.get("groups") else "")
            + (f", {len(bad)} unreadable files skipped" if bad else "") + ".", "",
            "| label | items |", "|---|---|"]
    out += [f"| {label} | {n:,} |" for label, n in counts.items()]
    for key, n in (trained.get("notes") or {}).items():
        out.append(f"\n{n:,} files: {key.replace('_', ' ')}.")
    out += ["", "## Encoder and head", ""]
    out += [f"- {k}: {val}" for k, val in encoder.items()]
    out += [f"- head: {head.get('kind', '?')}"
            + (f", C = {head['C']}" if head.get("C") is not None else "") + ", class weight "
            f"{head.get('class_weight') or 'none'}, temperature {_f(head.get('temperature'), 2)}"]
    if trained.get("views_per_item", 1) > 1:
        out.append(f"- each item trained in {trained['views_per_item']} views "
                   "(as recorded, and trimmed to its speech)")
    out += ["", "## Validation", ""]
    if not v or v.get("method") == "none":
        out += ["Not validated (`--val-split 0`): no numbers to trust yet.", ""]
    else:
        out += ["| metric | value |", "|---|---|", *_validation_rows(v), ""]
        if v.get("calibration_note"):
            out += [f"Calibration: {v['calibration_note']}.", ""]
        if v.get("folds"):
            out += ["| fold | items | groups | C | accuracy | macro-F1 |",
                    "|---|---|---|---|---|---|"]
            out += [f"| {f['fold']} | {f['n']} | {f['groups'] or '—'} | {f['C']} | "
                    f"{f['accuracy']:.3f} | {f['macro_f1']:.3f} |" for f in v["folds"]]
            out.append("")
        if v.get("per_class_f1"):
            out += ["| label | F1 |", "|---|---|"]
            out += [f"| {k} | {val:.3f} |" for k, val in v["per_class_f1"].items()]
            out.append("")
    config = meta.get("config", {})
    command = {"audio": "emolens analyze audio FILES --model THIS-DIR",
               "image": "emolens analyze image|video FILES --model THIS-DIR",
               "text": "emolens analyze text '...' --model THIS-DIR"}[modality]
    if meta["scheme"] == "custom" and modality != "text":
        command += "  # own labels: reported as they are, left out of the fusion"
    out += ["## Use", "", "```bash", command, "```", "",
            "```python", "import emolens",
            "model = emolens.load('THIS-DIR')" + (
                "\nmodel.analyze_files(['a.wav'])" if modality == "audio" else
                "\nmodel.analyze_files(['face.jpg'])" if modality == "image" else
                "\nmodel.analyze_batch(['...'])"), "```", "",
            "## Limits", "",
            "It describes the emotion *expressed* in the data it was trained on, not what anyone "
            "feels; it is not a diagnostic, screening or hiring tool. Its numbers hold for data "
            "like its training data only"
            + (", and groups were kept apart in validation" if config.get("folds") or
               trained.get("groups") else "; no grouping was given, so the same speaker or "
               "person may sit on both sides of the validation split and flatter the numbers")
            + ". The data's licence applies to the weights.", ""]
    return "\n".join(out)


def _finetuned(finetune: dict) -> str:
    """'lora', 'full', or 'top: its top 2 layers, the lower ones as shipped'."""
    if finetune.get("mode") == "top":
        return f"top: its top {finetune['top_layers']} layers, the lower ones as shipped"
    return str(finetune.get("mode"))


# First line of a generated n-gram card: training again replaces such a card, never one
# written by hand (the shipped default's).
GENERATED = "<!-- generated by `emolens train text` from emolens-model.json -->"


def ngram_card(meta: dict[str, Any]) -> str:
    """MODEL_CARD.md of a text model trained by `emolens train text` with the n-gram encoder
    (its emolens-model.json): labels, data, validation, use and limits."""
    trained, dev = meta.get("trained") or {}, meta.get("dev_metrics") or {}
    cv = meta.get("cross_validation") or {}
    params = meta.get("params") or {}
    from emolens import labels as L

    scheme = meta.get("scheme")
    mapped = scheme != "custom" and (scheme in L.SCHEMES or L.is_mappable(meta["labels"]))
    out = [f"# {meta['name']} {meta['version']} (text)", "", GENERATED, "",
           f"Trained with `emolens train text` on {trained.get('at', '?')}: word and character "
           f"n-grams (hashed, {params.get('n_features', '?'):,} features; Chinese words cut by "
           f"{params.get('segmenter', 'jieba')}) and a linear head per language "
           f"({', '.join(meta.get('languages') or []) or '?'}), C = {params.get('c', '?')}, "
           f"class weight {params.get('class_weight') or 'none'}.", "",
           "## Labels", "",
           f"{', '.join(meta['labels'])}" + (f" (scheme `{scheme}`)" if scheme else "") + ": "
           + ("mapped to emolens' canonical labels." if mapped else
              "the model's own labels, reported as they are, with no valence/arousal."), ""]
    if meta.get("abstain_below") is not None:
        out += [f"Results whose top probability is below {meta['abstain_below']:g} get the "
                "label `uncertain` (scores unchanged).", ""]
    counts = trained.get("label_counts") or {}
    out += ["## Data", "", f"`{trained.get('data', '?')}`: {trained.get('rows', 0):,} rows"
            + (f"; validated on `{trained['dev']}`" if trained.get("dev") else "") + ".", "",
            "| label | rows |", "|---|---|", *[f"| {k} | {n:,} |" for k, n in counts.items()],
            "", "## Validation", ""]
    if dev:
        out += ["| metric | value |", "|---|---|", f"| items | {dev.get('n', 0):,} |",
                f"| accuracy | {_f(dev.get('accuracy'))} |",
                f"| macro-F1 | {_f(dev.get('macro_f1'))} |", ""]
        per_class = dev.get("per_class") or {}
        if per_class:
            out += ["| label | F1 |", "|---|---|"]
            out += [f"| {k} | {_f(v.get('f1'))} |" for k, v in per_class.items()]
            out.append("")
    elif cv:
        out += [f"{len(cv.get('folds', []))}-fold cross-validation: accuracy "
                f"{_f(cv.get('accuracy_mean'))} ± {_f(cv.get('accuracy_sd'))}, macro-F1 "
                f"{_f(cv.get('macro_f1_mean'))} ± {_f(cv.get('macro_f1_sd'))}.", ""]
    else:
        out += ["Not validated (no --dev or --folds): run `emolens evaluate --model THIS-DIR "
                "--data TEST.csv` on held-out data before trusting it.", ""]
    out += ["## Use", "", "```bash", "emolens analyze text '...' --model THIS-DIR", "```", "",
            "## Limits", "",
            "It describes the emotion *expressed* in texts like its training data, not what "
            "anyone feels; it is not a diagnostic, screening or hiring tool. Its numbers hold for "
            "data like its training data only. The data's licence applies to the weights.", ""]
    return "\n".join(out)
