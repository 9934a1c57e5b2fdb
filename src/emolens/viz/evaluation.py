"""Charts and files of an evaluation report: a confusion-matrix heatmap, a reliability diagram,
and report.json / report.md / one self-contained report.html (PNGs embedded as base64)."""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from emolens.train.report import EvaluationReport, summary_rows, to_markdown
from emolens.viz.charts import _figure, _mpl_style, _tidy_axes
from emolens.viz.report import NOTE


@dataclass(frozen=True)
class EvaluationPaths:
    """Files written by ``write_evaluation``."""

    json: Path
    markdown: Path
    html: Path

    def files(self) -> list[Path]:
        """Every file written."""
        return [self.json, self.markdown, self.html]


def confusion_chart(report: dict[str, Any]) -> Figure:
    """Heatmap of the confusion matrix: colour is the row share, text the count (and share)."""
    conf = report["classification"]["confusion"]
    labels, counts = conf["labels"], np.asarray(conf["counts"], dtype=int)
    shares = np.asarray(conf["normalized"], dtype=float)
    size = max(len(labels), 1)
    with _mpl_style():
        fig = _figure(max(5.0, 0.65 * size + 2.5), max(4.2, 0.55 * size + 2.0))
        ax = fig.add_subplot()
        image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(labels)), labels=labels, rotation=45 if size > 5 else 0,
                      ha="right" if size > 5 else "center")
        ax.set_yticks(range(len(labels)), labels=labels)
        if size <= 15:
            for (i, j), n in np.ndenumerate(counts):
                text = f"{n:,}" if size > 8 else f"{n:,}\n{shares[i, j]:.0%}"
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if shares[i, j] > 0.6 else "#222222")
        ax.set(title=f"Confusion matrix ({int(counts.sum()):,} items, rows sum to 100%)",
               xlabel="predicted", ylabel="gold")
        fig.colorbar(image, ax=ax, label="share of the gold row", shrink=0.9)
    return fig


def reliability_chart(report: dict[str, Any]) -> Figure:
    """Accuracy against top-1 confidence per bin (bars), the diagonal, and items per bin."""
    cal = report["calibration"]
    bins = cal["reliability"]
    lo = np.array([b["lo"] for b in bins])
    width = float(lo[1] - lo[0]) if len(lo) > 1 else 1.0
    acc = np.array([np.nan if b["accuracy"] is None else b["accuracy"] for b in bins])
    conf = np.array([np.nan if b["confidence"] is None else b["confidence"] for b in bins])
    with _mpl_style():
        fig = _figure(6.4, 6.0)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        top.bar(lo, np.nan_to_num(acc), width=width, align="edge", color="#1f77b4",
                edgecolor="white", label="accuracy")
        top.bar(lo, np.nan_to_num(conf - acc), bottom=np.nan_to_num(acc), width=width,
                align="edge", facecolor="none", edgecolor="#d62728", hatch="///",
                linewidth=0.8, label="gap to mean confidence")
        top.plot([0, 1], [0, 1], linestyle="--", color="#555555", linewidth=1,
                 label="perfect calibration")
        if cal.get("temperature"):
            after = cal["temperature"]
            points = [(b["confidence"], b["accuracy"]) for b in after["reliability"] if b["count"]]
            top.plot(*zip(*points, strict=True), marker="o", markersize=3, color="#ff7f0e",
                     label=f"after temperature {after['value']:.2f} (ECE {after['ece']:.3f})")
        top.set(title=f"Reliability ({cal['bins']} bins, ECE {cal['ece']:.3f})",
                ylabel="accuracy of top-1", xlim=(0, 1), ylim=(0, 1))
        top.legend(loc="upper left", frameon=False, fontsize=8)
        bottom.bar(lo, [b["count"] for b in bins], width=width, align="edge", color="#b0b0b0",
                   edgecolor="white")
        bottom.set(xlabel="top-1 confidence", ylabel="items")
        for ax in (top, bottom):
            _tidy_axes(ax)
    return fig


def png_base64(fig: Figure, dpi: int = 110) -> str:
    """The figure as a base64 PNG (drawn with the same fonts, Chinese included)."""
    buffer = io.BytesIO()
    with _mpl_style():
        fig.savefig(buffer, dpi=dpi, format="png", bbox_inches="tight", facecolor="white")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_evaluation(report: EvaluationReport, out_dir: str | Path) -> EvaluationPaths:
    """Write report.json, report.md and report.html into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = report.to_dict()
    paths = EvaluationPaths(out / "report.json", out / "report.md", out / "report.html")
    paths.json.write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False),
                          encoding="utf-8")
    paths.markdown.write_text(to_markdown(data), encoding="utf-8")
    paths.html.write_text(render_html(data), encoding="utf-8")
    return paths


def render_html(report: dict[str, Any]) -> str:
    """One self-contained HTML page of the report (``to_dict()``)."""
    meta, cls = report["meta"], report["classification"]
    title = f"emolens evaluation: {meta.get('model', 'model')} on {meta.get('data', 'data')}"
    sections = [
        "<h2>Summary</h2>",
        f'<p class="note">95 % confidence intervals from {meta["bootstrap"]["resamples"]:,} '
        f'bootstrap resamples. Averages over: {_e(", ".join(cls["averaged_over"]))}.</p>',
        _table(["metric", "value", "95 % CI"], summary_rows(report)),
        "<h2>Per class</h2>",
        _table(["label", "precision", "recall", "F1", "support"], [
            (label, _est(r["precision"]), _est(r["recall"]), _est(r["f1"]), f"{r['support']:,}")
            for label, r in cls["per_class"].items()]),
        "<h2>Confusion matrix</h2>",
        _img(confusion_chart(report), "confusion matrix"),
        "<h2>Calibration</h2>",
        _img(reliability_chart(report), "reliability diagram"),
    ]
    ml = report.get("multi_label")
    if ml:
        scores = ml["fitted"] or ml["at_0.5"]
        sections += [
            "<h2>Multi-label</h2>",
            f'<p class="note">{ml["items_with_several_labels"]:,} items have several gold '
            f'labels; thresholds {"fitted on validation data" if ml["fitted"] else "0.5"}.</p>',
            _table(["label", "threshold", "precision", "recall", "F1", "support"], [
                (label, f"{scores['thresholds'][label]:.2f}", _est(r["precision"]),
                 _est(r["recall"]), _est(r["f1"]), f"{r['support']:,}")
                for label, r in scores["per_class"].items()]),
        ]
    sections += [
        "<h2>Abstention</h2>",
        '<p class="note">Accuracy of the most confident share of items.</p>',
        _table(["coverage", "items", "confidence ≥", "accuracy"], [
            (f"{p['coverage']:.0%}", f"{p['items']:,}", f"{p['threshold']:.3f}",
             f"{p['accuracy']:.3f}") for p in report["abstention"]["curve"]]),
        "<h2>Most confident mistakes</h2>",
        _table(["#", "confidence", "gold", "predicted", "text"], [
            (str(i), f"{m['confidence']:.3f}", ", ".join(m["gold"]), m["predicted"],
             m["text"] or "") for i, m in enumerate(report["mistakes"], 1)]),
    ]
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return _PAGE.format(title=_e(title), note=_e(NOTE), body="\n".join(sections),
                        generated=generated)


def _est(est: dict[str, Any]) -> str:
    low, high = est["ci95"]
    if est["value"] is None:
        return "—"
    return f"{est['value']:.3f}" + ("" if low is None else f" [{low:.3f}, {high:.3f}]")


def _img(fig: Figure, alt: str) -> str:
    return f'<img alt="{alt}" src="data:image/png;base64,{png_base64(fig)}">'


def _table(header: list[str], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>"
                     for row in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}\n</table>"


def _e(text: str) -> str:
    return html.escape(str(text))


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC",
       "Microsoft YaHei", sans-serif; max-width: 1100px; margin: 2rem auto;
       padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ text-align: left; padding: .3rem .9rem; border-bottom: 1px solid #e5e5e5;
         vertical-align: top; }}
th {{ color: #555; font-weight: 600; }}
img {{ max-width: 100%; }}
.note {{ color: #555; font-style: italic; }}
.disclaimer {{ background: #f6f6f6; padding: .6rem .9rem; border-left: 4px solid #8c8c8c; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="disclaimer">{note}</p>
{body}
<p class="note">Generated by emolens on {generated}; the same numbers are in report.json.</p>
</body>
</html>
"""
