"""Reports on a manifest: what ``lessdata inspect`` prints and the files beside every prune.

A report shows counts (kept, pruned, per reason, per label), one score histogram per metric
(kept vs pruned), the most and least prototypical examples and the largest duplicate groups,
as a terminal summary, a PNG plot and a self-contained HTML page.
"""

from lessdata.data.manifest import metric_columns, read_manifest
from lessdata.report.outputs import inspect_manifest, write_report
from lessdata.report.terminal import print_summary

__all__ = [
    "inspect_manifest",
    "metric_columns",
    "print_summary",
    "read_manifest",
    "write_report",
]
