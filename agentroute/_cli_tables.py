"""The CLI's tables, laid out to stay readable in an 80-column terminal (and any pipe).

Every table the ``agentroute`` commands print is built here, so they share one rule for
what gives way when a row is wider than the terminal: numbers and their headers never do
(they are right-aligned, never wrapped and never cut with "…", so a figure is always read
whole); text columns (names, URLs, lists) fold onto a further line instead, breaking a word
that is longer than the room left rather than cutting it. Each command chooses its columns so
that its usual content fits 80 columns on one line per row; folding is for the unusual (a
60-character model name, a long ``base_url``). A title is printed as a line of its own above
the table, wrapped at the terminal's width, so a long title never squeezes or widens a table.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["add_row", "cli_table", "print_table"]


def cli_table(columns: Sequence[str], *, numeric: Collection[str] = ()) -> Table:
    """An empty table with ``columns``; those named in ``numeric`` are right-aligned numbers.

    The style is compact (a rule under the header, no outer frame, two spaces between
    columns), which leaves most of a narrow terminal to the content.
    """
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1), collapse_padding=True)
    for name in columns:
        if name in numeric:
            table.add_column(Text(name), justify="right", no_wrap=True)
        else:
            table.add_column(Text(name), justify="left", overflow="fold")
    return table


def add_row(table: Table, *cells: str) -> None:
    """Add a row of literal strings: a cell is never read as rich markup (``[`` in a model
    name stays as written)."""
    table.add_row(*(Text(c) for c in cells))


def print_table(console: Console, title: str, table: Table) -> None:
    """Print ``title`` (plain text, wrapped at the terminal's width), then ``table``."""
    console.print(Text(title), highlight=False)
    console.print(table)
