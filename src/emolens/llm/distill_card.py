"""MODEL_CARD.md of a text model distilled from an LLM by `emolens distill`."""

from __future__ import annotations

from typing import Any


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def distilled_card(meta: dict[str, Any]) -> str:
    """The card's Markdown: where the labels came from, the data, agreement, use and limits."""
    d, trained = meta["distilled"], meta.get("trained", {})
    agreement = d.get("agreement")
    out = [
        f"# {meta['name']} {meta['version']} (text, distilled from an LLM)", "",
        f"Distilled with `emolens distill` on {trained.get('at', '?')}: an n-gram model "
        "(hashed word and character n-grams, linear SVM, temperature-calibrated, as "
        "`emolens train text` makes) trained on labels given by a large language model, "
        "not by people.", "",
        "## Teacher", "",
        "| | |", "|---|---|",
        f"| LLM | `{d['model']}` |",
        f"| endpoint | `{d['endpoint']}` |",
        f"| prompt version | {d['prompt_version']} (`emolens.llm.prompts`) |",
        f"| labels asked for | {', '.join(d['labels'])} |",
        f"| tokens the labels cost | {d['tokens']:,} |",
    ]
    if d.get("route_below") is not None:
        out.append(f"| routing | `{d['fast_model']}` kept its own label for {d['fast_kept']:,}"
                   f" texts with top probability ≥ {d['route_below']:g}; the LLM labelled "
                   "the rest |")
    out += [
        "", "## Data", "",
        f"`{d['data']}`: {d['texts']:,} distinct texts, {d['labelled_by_llm']:,} labelled by "
        f"the LLM, {d['failed']:,} without a valid answer (left out); "
        f"{trained.get('rows', 0):,} used for training. The labels are in "
        "`../llm-labels.jsonl`.", "",
        "| LLM label | texts |", "|---|---|",
        *[f"| {label} | {n:,} |" for label, n in d["label_counts"].items()], "",
        "## Agreement with the LLM", "",
    ]
    if agreement is None:
        out += ["No hold-out (`--holdout 0`): no agreement measured.", ""]
    else:
        out += [
            f"On {agreement['n']:,} held-out texts the LLM labelled ({d['holdout']:.0%} of its "
            "labels, never trained on):", "",
            "| metric | value |", "|---|---|",
            f"| accuracy | {_f(agreement['accuracy'])} |",
            f"| macro-F1 | {_f(agreement['macro_f1'])} |",
            f"| Cohen's kappa | {_f(d.get('cohen_kappa'))} |", "",
            "| label | precision | recall | F1 | support |", "|---|---|---|---|---|",
            *[f"| {label} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
              f"{int(r['support'])} |" for label, r in agreement["per_class"].items()], "",
        ]
    out += [
        "## Use", "", "```bash", "emolens analyze text '...' --model THIS-DIR",
        "emolens evaluate --model THIS-DIR --data LABELLED.csv   # against people's labels",
        "```", "",
        "## Limits", "",
        "Agreement with the LLM is not accuracy: the model learns the LLM's readings, its "
        "mistakes and biases included, and only as far as word and character n-grams can "
        "follow them. Check it on data labelled by people before relying on it. It describes "
        "the emotion a text *expresses*, not what anyone feels; it is not a diagnostic, "
        "screening or hiring tool. The terms of the LLM and of the corpus apply to the labels "
        "and so to the weights.", "",
    ]
    return "\n".join(out)
