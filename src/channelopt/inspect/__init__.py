"""Reading a model and its logs: response-rate reports with credible intervals, per-customer reports,
figures (:mod:`channelopt.inspect.plot`, needs the ``plot`` extra)."""

from channelopt.inspect.reports import DERIVED_COLUMNS, REPORT_COLUMNS, customer_report, report

__all__ = ["DERIVED_COLUMNS", "REPORT_COLUMNS", "customer_report", "report"]
