"""Tables of results: plain data (``Table``) rendered as Markdown, CSV or rich."""

from parawire.report.tables import Table, fmt, to_csv, to_markdown, to_rich

__all__ = ["Table", "fmt", "to_csv", "to_markdown", "to_rich"]
