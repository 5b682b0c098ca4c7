"""What the CLI and the TUI both show or write: text helpers, summaries, CSV tables, safe exports.

* :mod:`~layoutscope.report.destinations` and :mod:`~layoutscope.report.atomic`: where an export
  goes (stdout, a device, a file written atomically) and the checks made before any work.
* :mod:`~layoutscope.report.csv_tables`: the CSV columns of compare, scan, diff and the Values export.
* :mod:`~layoutscope.report.summary`, :mod:`~layoutscope.report.listing`,
  :mod:`~layoutscope.report.histogram`: model summaries, long name lists, error histograms.
* :mod:`~layoutscope.report.numbers`: the one formatter numbers are printed with (shortest float32
  text, fixed formats with nan/inf/None rules, grid cells).
"""
