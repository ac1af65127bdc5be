"""A picture of a cutover that explains itself: one self-contained HTML page drawn from its history.

The page is plain HTML with inline SVG and CSS: no script, no fonts, no
network, so it can be attached to a ticket or opened from a pipeline's
artifacts years later. Everything a reader needs is visible text, never only
a tooltip: the title says which environment, which versions, whether it was
a rehearsal, when it started and ended (UTC) and who ran it; the outcome and
its reason come first; then the charts (weights, success rate with the
threshold on a zoomed axis, p99 latency with its threshold, and a lane per
phase so that no two phase labels can overlap), a table per analysis window
and the failed requests users saw. Each chart is drawn twice, for a wide and
for a narrow page, and CSS shows the one that fits, so that the text of a
chart stays readable on a phone while the lines fill a wide screen.
"""

from fleet.report.charts import success_floor
from fleet.report.data import USERS_FILE, ReportContext, Sample, UserFailure, load_users, save_users
from fleet.report.page import render, write_report

__all__ = [
    "USERS_FILE",
    "ReportContext",
    "Sample",
    "UserFailure",
    "load_users",
    "render",
    "save_users",
    "success_floor",
    "write_report",
]
