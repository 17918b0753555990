"""Output of the reporting CLI: one listing, three formats.

A listing is a list of plain items (dicts as :mod:`acd_cli.reporting` returns them) plus the
:class:`Column` set a human wants to see. :func:`emit` writes it as

* ``table``: aligned columns (rich), a title, and ``empty_message`` when there is nothing;
* ``json``: the items themselves, complete, as a pretty JSON list;
* ``csv``: a header and one row per item, nested maps flattened to dotted column names
  (``data.callingnumber.e164``), lists as JSON — or only the given ``csv_columns``.

Text from the ACD is data, never instructions to a terminal or a spreadsheet: a table cell is a
rich :class:`~rich.text.Text` (no markup read) with every unprintable character shown as its
Python escape (``\\x1b``: no escape sequence reaches the terminal), and a CSV cell that a
spreadsheet would read as a formula is prefixed with ``'`` (OWASP's advice for CSV injection).

When there is nothing, ``json`` still prints valid JSON (``[]``, or ``null`` for a single
report) and ``csv`` nothing on stdout; the ``empty_message`` then goes to stderr, so a pipe
stays parseable and a person still learns why it is empty.

Every subcommand (events, rejected, kpis, agent-day, agent-timeline, call, calls, board) builds
its output from the helpers here, so times, durations and ratios look the same everywhere.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

OutputFormat = Literal["table", "json", "csv"]
FORMATS: tuple[str, ...] = get_args(OutputFormat)
MISSING = "-"
NOT_APPLICABLE = "–"  # a ratio or mean over nothing (no calls): neither 0 nor 100
LOCAL_TIME = "%Y-%m-%d %H:%M:%S"  # a time as shown, unless a column wants less of it

Item = Mapping[str, Any]


@dataclass(frozen=True)
class Column:
    """One table column: a header and how to get the cell text of an item."""

    header: str
    value: Callable[[Item], object]
    justify: Literal["left", "right", "center"] = "left"
    max_width: int | None = None
    no_wrap: bool = False

    def cell(self, item: Item) -> str:
        value = self.value(item)
        if value is None or value == "":
            return MISSING
        text = printable(str(value))
        if self.max_width and len(text) > self.max_width:
            return text[: self.max_width - 1] + "…"
        return text


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on (ESC, CR, C1 codes, bidi
    overrides, ...) as its Python escape: what the operator sees is what was sent, inert."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def plain(text: str) -> Text:
    """A cell or title for rich: printable, and never read as markup (``[/]``, ``[link=...]``)."""
    return Text(printable(text))


def field(path: str, header: str | None = None, **options: Any) -> Column:
    """A column showing ``item[a][b]...`` for the dotted ``path``."""
    return Column(header or path.rsplit(".", 1)[-1], lambda item: lookup(item, path), **options)


def time_field(key: str, header: str, zone: ZoneInfo, pattern: str = LOCAL_TIME, **options: Any) -> Column:
    """A column showing ``item[key]``, a stored UTC time, as wall-clock time in ``zone``
    (:func:`local_time`)."""
    return Column(header, lambda item: local_time(item.get(key), zone, pattern), **options)


def lookup(item: Item, path: str, default: Any = None) -> Any:
    """``lookup(item, "data.callingnumber.e164")``; ``default`` when any step is missing."""
    current: Any = item
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return default
        current = current[part]
    return current


# -- value formatting shared by all listings -------------------------------------------------


def parse_utc(text: str) -> datetime | None:
    """``2026-11-20T09:00:00.000Z`` -> aware datetime (None for anything else)."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError, AttributeError):
        return None


def local_time(value: object, zone: ZoneInfo, pattern: str = LOCAL_TIME) -> str | None:
    """A stored UTC ISO time as wall-clock time in the reporting zone."""
    if not isinstance(value, str):
        return None
    moment = parse_utc(value)
    if moment is None:
        return value
    local = moment.astimezone(zone)
    text = local.strftime(pattern)
    # The hour the clocks go back is on the wall twice (02:00-03:00 on the last Sunday of October
    # in Berlin): without its zone, two different 15-minute intervals, calls or states read as the
    # same time. JSON and CSV keep the offset; a table says which of the two it is.
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        text = f"{text} {local.tzname()}"
    return text


def duration(seconds: object) -> str | None:
    """``3725`` -> ``1:02:05``; ``65.4`` -> ``1:05``."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return None
    total = round(seconds)
    sign = "-" if total < 0 else ""
    hours, rest = divmod(abs(total), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}" if hours else f"{sign}{minutes}:{secs:02d}"


def percent(value: object, digits: int = 1) -> str | None:
    """A ratio already in percent; ``None`` (empty denominator) stays empty, never 0 or 100."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return f"{value:.{digits}f} %"


def yes_no(value: object) -> str | None:
    return None if value is None else ("yes" if value else "no")


def or_not_applicable(text: str | None) -> str:
    """For figures that are null when there is nothing to average: ``–`` instead of ``-``."""
    return NOT_APPLICABLE if text is None else text


def pairs(values: Iterable[tuple[str, object]]) -> str:
    """``state=connected hotline=Service`` from the pairs that have a value."""
    return " ".join(f"{name}={value}" for name, value in values if value not in (None, ""))


# -- the three formats -----------------------------------------------------------------------


def flatten(item: Item, prefix: str = "") -> dict[str, Any]:
    """Nested maps to dotted keys; lists (and other non-scalars) as compact JSON text."""
    flat: dict[str, Any] = {}
    for key, value in item.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple, set)):
            flat[name] = json.dumps(list(value), ensure_ascii=False, default=str, sort_keys=True)
        else:
            flat[name] = value
    return flat


def to_json(value: Sequence[Item] | Item | None) -> str:
    """A listing as a JSON list; a single report (a mapping) or ``None`` as itself."""
    document = value if value is None or isinstance(value, Mapping) else list(value)
    text = json.dumps(document, indent=2, ensure_ascii=False, default=_json_default)
    # json escapes C0 controls itself; C1 ones (U+009B is an 8-bit CSI) and other unprintables
    # can only stand inside strings, where \uXXXX is the same JSON value.
    return text if text.isprintable() else "".join(_json_char(c) for c in text)


def _json_char(char: str) -> str:
    if char.isprintable() or char in "\n ":
        return char
    return "".join(f"\\u{unit:04x}" for unit in _utf16_units(char))


def _utf16_units(char: str) -> list[int]:
    data = char.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def _json_default(value: object) -> object:
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def to_csv(
    items: Sequence[Item],
    columns: Sequence[Column] | None = None,
    lead: Sequence[str] = (),
    trail: Sequence[str] = (),
) -> str:
    """CSV text. With ``columns``: exactly those. Without: every flattened key, ``lead`` first,
    then the rest sorted (so the column set is stable whatever order the items come in), then
    ``trail`` (columns about the report rather than of it, such as its freshness)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if columns is not None:
        writer.writerow([column.header for column in columns])
        for item in items:
            writer.writerow([_csv_cell(column.value(item)) for column in columns])
        return buffer.getvalue()
    rows = [flatten(item) for item in items]
    if not rows:
        return ""
    names = {name for row in rows for name in row}
    ends = set(lead) | set(trail)
    header = (
        [n for n in lead if n in names] + sorted(names.difference(ends)) + [n for n in trail if n in names]
    )
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_cell(row.get(name)) for name in header])
    return buffer.getvalue()


# What a spreadsheet reads as the start of a formula (OWASP "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# ... except a plain signed number (+49 phone numbers, -1): a spreadsheet computes nothing from it.
_PLAIN_NUMBER = re.compile(r"[+-][0-9]+(?:\.[0-9]+)?")


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return spreadsheet_safe(value)
    return value


def spreadsheet_safe(text: str) -> str:
    """Text as a spreadsheet shows it, never runs it: a leading ``'`` before what would start a
    formula, unless it is a plain signed number; line breaks and tabs are kept (CSV quotes them),
    other unprintable characters escaped as in tables."""
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        text = "'" + text
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in "\r\n\t" else printable(c) for c in text)


def to_table(
    items: Sequence[Item],
    columns: Sequence[Column],
    title: str | None = None,
    *,
    totals: Sequence[Item] = (),
) -> Table:
    """The items as rows; ``totals`` below a rule, in bold."""
    table = Table(
        title=None if title is None else plain(title),
        box=box.SIMPLE_HEAD,
        show_edge=False,
        title_justify="left",
        highlight=False,
        pad_edge=False,
    )
    for column in columns:
        table.add_column(
            plain(column.header), justify=column.justify, no_wrap=column.no_wrap, overflow="fold"
        )
    for index, item in enumerate(items):
        last = index == len(items) - 1
        table.add_row(*(Text(column.cell(item)) for column in columns), end_section=last and bool(totals))
    for item in totals:
        table.add_row(*(Text(column.cell(item)) for column in columns), style="bold")
    return table


def key_value_table(rows: Iterable[tuple[str, object]], title: str | None = None) -> Table:
    """One report as ``name  value`` lines."""
    table = Table(
        title=None if title is None else plain(title),
        box=None,
        show_header=False,
        show_edge=False,
        title_justify="left",
        highlight=False,
        pad_edge=False,
    )
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in rows:
        table.add_row(plain(name), plain(MISSING if value is None or value == "" else str(value)))
    return table


def console() -> Console:
    """A console on the current stdout. Not a terminal (a pipe, a test): wide enough that rows
    never wrap, and no colour codes."""
    stream = sys.stdout
    if stream.isatty():
        return Console(file=stream, highlight=False)
    return Console(file=stream, width=10_000, highlight=False, color_system=None, soft_wrap=True)


def show_json(value: Sequence[Item] | Item | None) -> None:
    click.echo(to_json(value))


def show_csv(
    items: Sequence[Item],
    columns: Sequence[Column] | None = None,
    lead: Sequence[str] = (),
    trail: Sequence[str] = (),
) -> None:
    click.echo(to_csv(items, columns, lead, trail), nl=False)


def show_table(
    items: Sequence[Item],
    columns: Sequence[Column],
    *,
    title: str | None = None,
    totals: Sequence[Item] = (),
) -> None:
    """A table and, when it has a title, its row count (``totals`` rows not counted)."""
    out = console()
    out.print(to_table(items, columns, title, totals=totals))
    if title is not None:
        noun = "row" if len(items) == 1 else "rows"
        out.print(f"{len(items)} {noun}")


def show_empty(fmt: OutputFormat | str, message: str, *, single: bool = False) -> None:
    """Nothing to show: the message for a person, and for ``json`` still valid JSON (``[]``, or
    ``null`` for a single report); for ``json``/``csv`` the message goes to stderr."""
    if fmt == "table":
        click.echo(message)
        return
    if fmt == "json":
        show_json(None if single else [])
    click.echo(message, err=True)


def emit(
    items: Sequence[Item],
    fmt: OutputFormat | str,
    *,
    columns: Sequence[Column],
    empty_message: str,
    title: str | None = None,
    csv_columns: Sequence[Column] | None = None,
    csv_lead: Sequence[str] = (),
    totals: Sequence[Item] = (),
) -> None:
    """Write one listing to stdout in ``fmt``."""
    if not items:
        show_empty(fmt, empty_message)
    elif fmt == "json":
        show_json(items)
    elif fmt == "csv":
        show_csv(items, csv_columns, csv_lead)
    else:
        show_table(items, columns, title=title, totals=totals)


def format_option[F: Callable[..., Any]](function: F) -> F:
    """``--format/-f table|json|csv`` on a command (None when not given, so a subcommand's
    option can fall back to the group's)."""
    return click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice(FORMATS, case_sensitive=False),
        default=None,
        help="Output format (default: table).",
    )(function)
