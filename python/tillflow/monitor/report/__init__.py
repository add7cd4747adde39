"""The HTML report of a warehouse: sales, data quality, runs and anomalies
on one page that opens offline (plotly.js is inlined)."""

from tillflow.monitor.report._build import render_report, write_report

__all__ = ["render_report", "write_report"]
