"""Charts (matplotlib and plotly) and an HTML report from stored results.

Input is a table as returned by ``ResultStore.to_frame``::

    from emolens.store import ResultStore
    from emolens.viz import write_report

    with ResultStore("emolens.db") as store:
        paths = write_report(store.to_frame(), "emolens-out")
"""

from emolens.viz.charts import (
    EMOTION_COLORS,
    Shares,
    choose_bucket,
    distribution_chart,
    group_shares,
    heatmap_chart,
    label_shares,
    save_png,
    trend_chart,
    trend_shares,
)
from emolens.viz.recordings import (
    PersonBins,
    people_chart,
    person_bins,
    timeline_chart,
    timeline_points,
)
from emolens.viz.report import ReportPaths, write_report

__all__ = [
    "EMOTION_COLORS",
    "PersonBins",
    "ReportPaths",
    "Shares",
    "choose_bucket",
    "distribution_chart",
    "group_shares",
    "heatmap_chart",
    "label_shares",
    "people_chart",
    "person_bins",
    "save_png",
    "timeline_chart",
    "timeline_points",
    "trend_chart",
    "trend_shares",
    "write_report",
]
