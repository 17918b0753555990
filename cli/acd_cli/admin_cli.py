"""``acd-admin``: operator actions that write (``acd-report`` stays read-only).

* ``replay --day D [--request-id ID] [--dry-run]``: quarantined requests of a day through the
  ingest code again (after a fix or a configuration change). Each is then marked on its
  quarantine item as replayed and stored (or already stored), or as still rejected with its new
  reason. The ingest's conditional write keeps a replay from ever storing an event twice.
* ``redrive fanout|stats [--dry-run]``: empties a stream consumer's on-failure
  destination (``agent-stats`` and ``call-stats`` name ``stats``, which runs both). Each record names a span of the events table's stream (Lambda's
  ``DDBStreamBatchInfo``); the fan-out's (an S3 bucket on AWS) also carries the records
  themselves, so it outlives the stream's 24 hours; the aggregators' (SQS queues) are read back
  from the stream. The fan-out republishes the stored events they name, the aggregators' reports
  they touch are rebuilt from the event log. A record is deleted only once it was handled.

Connection options are those of ``acd-report``: ``--endpoint-url`` for the local stack (tables,
queues and topics then carry the template's logical ids), ``--stack-name`` (with
``--profile/--region``) to read table names, queues, topics and settings from the stack.

Examples::

    acd-admin --endpoint-url http://127.0.0.1:5000 replay --day 2026-11-20 --dry-run
    acd-admin --stack-name acd-callback-hub-prod --region eu-central-1 redrive fanout

Here the commands: what they read from the command line and how they show the results. The use
cases are beside them (:mod:`acd_cli.replay`, :mod:`acd_cli.redrive`; the rebuild is
:mod:`acd_hub.rebuild`). A new command takes the :class:`~acd_cli.admin_context.AdminContext`
(``@click.pass_obj``): it holds the clients, the table names and the hub's settings, all built
lazily so ``--help`` never touches AWS.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from acd_cli import output
from acd_cli.admin_context import AdminContext
from acd_cli.dry_run import NoWritesClient
from acd_cli.options import Connection, connection_options
from acd_cli.output import Column
from acd_cli.redrive import CONSUMER_ALIASES, CONSUMERS, Redrive
from acd_cli.replay import REPLAYED_INTO_LOG, Replayer, ReplayResult
from acd_cli.report_context import (
    ReportContext,
    ReportError,
    agent_values,
    aws_errors,
    day_value,
    hotline_values,
    option_flag,
    text_value,
)
from acd_hub.adapters.events_table import EventsTable
from acd_hub.errors import StoreUnavailable

if TYPE_CHECKING:
    from acd_hub.rebuild import Rebuilder


class AdminGroup(click.Group):
    """Turns AWS errors raised by any subcommand into :class:`ReportError`, described against
    the context's connection as ``acd-report`` describes them."""

    def invoke(self, ctx: click.Context) -> Any:
        with aws_errors(lambda: ctx.obj.connection if isinstance(ctx.obj, AdminContext) else ReportContext()):
            return super().invoke(ctx)


def _zone_name(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise ReportError(f"{option_flag(param)}: unknown time zone {value!r} (e.g. Europe/Berlin)") from None
    return value


@click.group(cls=AdminGroup, context_settings={"help_option_names": ["-h", "--help"]})
@connection_options
@click.option(
    "--acd-timezone",
    callback=_zone_name,
    help="Time zone of the ACD's local times (default: the stack's AcdTimeZone, else Europe/Berlin).",
)
@click.option(
    "--report-timezone",
    callback=_zone_name,
    help="Time zone that cuts days (default: the stack's ReportTimeZone, else Europe/Berlin).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
def cli(
    ctx: click.Context,
    *,
    connection: Connection,
    acd_timezone: str | None,
    report_timezone: str | None,
    quiet: bool,
) -> None:
    """Operator actions on the ACD callback hub: replay quarantined requests, redrive DLQs."""
    ctx.obj = AdminContext(
        ReportContext(
            **connection,
            zone_option=ZoneInfo(report_timezone or "Europe/Berlin"),
            zone_given=report_timezone is not None,
        ),
        acd_timezone_option=acd_timezone,
        report_timezone_option=report_timezone,
        quiet=quiet,
    )


# -- replay -----------------------------------------------------------------------------------------


def _select(items: Sequence[Mapping[str, Any]], request_id: str | None) -> list[Mapping[str, Any]]:
    if request_id is None:
        return list(items)
    chosen = [item for item in items if item.get("request_id") == request_id]
    if not chosen:
        raise ReportError(f"no quarantined request {request_id!r} on that day (see acd-report rejected)")
    return chosen


def replay_columns(zone: ZoneInfo) -> list[Column]:
    return [
        output.time_field("received_at", f"received ({zone.key})", zone, no_wrap=True),
        output.field("request_id", "request id", no_wrap=True),
        output.field("cmd"),
        output.field("outcome"),
        Column("event key / reason", lambda i: i.get("detail"), max_width=120),
    ]


def _counts(results: Iterable[ReplayResult]) -> str:
    counted: dict[str, int] = {}
    for result in results:
        counted[result.outcome] = counted.get(result.outcome, 0) + 1
    order = ("stored", "duplicate", "rejected", "conflict", "skipped")
    words = {
        "rejected": "still rejected",
        "conflict": "in conflict with a stored event",
        "duplicate": "already stored",
        "skipped": "skipped",
    }
    return ", ".join(f"{counted[o]} {words.get(o, o)}" for o in order if counted.get(o))


@cli.command()
@click.option("--day", metavar="YYYY-MM-DD", required=True, callback=day_value, help="Day of receipt.")
@click.option("--request-id", metavar="ID", help="Only this request (replayed even if replayed before).")
@click.option("--dry-run", is_flag=True, help="Say what would happen; write nothing.")
@output.format_option
@click.pass_obj
def replay(admin: AdminContext, *, day: str, request_id: str | None, dry_run: bool, fmt: str | None) -> None:
    """Re-submit the quarantined requests of a day through the ingest code.

    Each is validated and stored exactly as if the ACD sent it now (same keys, same
    conditional write: an event already stored is not stored again), then marked on its
    quarantine item: replay_outcome stored / duplicate, or rejected with the new reason.
    Requests already replayed into the log are skipped unless named with --request-id; one
    kept trimmed (no query, no body) always."""
    items = _select(admin.queries.rejected(day), request_id)
    replayer = Replayer(admin, dry_run=dry_run)
    results: list[ReplayResult] = []
    with admin.progress() as progress:
        task = progress.add_task("replaying" if not dry_run else "checking", total=len(items))
        for item in items:
            if request_id is None and item.get("replay_outcome") in REPLAYED_INTO_LOG:
                results.append(
                    ReplayResult(item, "skipped", note=f"replayed before: {item['replay_outcome']}")
                )
            else:
                try:
                    results.append(replayer.replay(item))
                except StoreUnavailable as exc:
                    # What was replayed so far is marked; a second run picks up the rest.
                    _report(admin, results, fmt, day, dry_run)
                    raise ReportError(
                        f"the events table did not take a write ({exc}): run the replay again"
                    ) from None
            progress.advance(task)
    _report(admin, results, fmt, day, dry_run)


def _report(
    admin: AdminContext, results: list[ReplayResult], fmt: str | None, day: str, dry_run: bool
) -> None:
    rows = [result.row() for result in results]
    chosen = admin.connection.output_format(fmt)
    if chosen == "json":
        output.show_json(rows)
        return
    if chosen == "csv":
        output.show_csv(rows, lead=("received_at", "request_id", "cmd", "outcome", "detail"))
        return
    if not rows:
        click.echo(f"No quarantined requests on {day}.")
        return
    title = f"Replay of {day}" + (" (dry run: nothing written)" if dry_run else "")
    output.show_table(rows, replay_columns(admin.settings.report_zone), title=title)
    click.echo(("Would be: " if dry_run else "Replayed: ") + _counts(results) + ".")


# -- rebuild ----------------------------------------------------------------------------------------

# A quarter: the longest repair that makes sense at once (ACD_MAX_REBUILD_DAYS to change it).
MAX_REBUILD_DAYS = 92


@cli.command()
@click.option("--day", metavar="YYYY-MM-DD", required=True, callback=day_value, help="First day to rebuild.")
@click.option("--to", "last", metavar="YYYY-MM-DD", callback=day_value, help="Last day (default: --day).")
@click.option(
    "--hotline",
    "hotlines",
    multiple=True,
    metavar="H",
    callback=hotline_values,
    help="Only this hotline's calls and KPIs (repeatable).",
)
@click.option(
    "--agent",
    "agents",
    multiple=True,
    metavar="A",
    callback=agent_values,
    help="Only this agent's days (repeatable).",
)
@click.option(
    "--max-days",
    type=click.IntRange(1),
    default=MAX_REBUILD_DAYS,
    show_default=True,
    envvar="ACD_MAX_REBUILD_DAYS",
    show_envvar=True,
    help="Refuse a longer range: a rebuild reads every event of every day in it.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Recompute and say what would be replaced; write nothing. Agent days and calls are counted "
    "exactly; hotline days only as the calls are stored now (a call the rebuild would change counts "
    "in its hotline day after the real run).",
)
@output.format_option
@click.pass_obj
def rebuild(
    admin: AdminContext,
    *,
    day: str,
    last: str | None,
    hotlines: list[str],
    agents: list[str],
    max_days: int,
    dry_run: bool,
    fmt: str | None,
) -> None:
    """Recompute the reports of these days from the events table and replace what is there.

    The repair path after a bug fix or records left in a DLQ. Idempotent (a second run writes
    nothing) and safe while the stream keeps running: a report the live path changes meanwhile is
    recomputed. Without --hotline/--agent: every agent day, call and hotline KPI of the days."""
    from acd_hub.rebuild import STOPPED, days_between, earliest_day  # noqa: PLC0415
    from acd_hub.times import utc_now  # noqa: PLC0415

    try:
        days = days_between(day, last or day)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--to") from None
    earliest = earliest_day(admin.settings, utc_now())
    if earliest is not None and day < earliest:
        raise ReportError(
            f"--day: the events of {day} (or of the two days before it, which a rebuild reads too) "
            f"may be gone: they expire {admin.settings.retention_days} days after their time "
            "(RetentionDays), and a rebuild would replace their reports with what is left of them. "
            f"The earliest day it can take now is {earliest}."
        )
    if len(days) > max_days:
        raise ReportError(
            f"--to: {len(days):,} days from {day} to {last} is more than --max-days {max_days} "
            "(each day's events are all read again): rebuild in parts, or raise --max-days"
        )
    with admin.progress() as progress:
        task = progress.add_task("rebuilding", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        rebuilder = admin.rebuilder if not dry_run else _dry_rebuilder(admin)
        try:
            summary = rebuilder.days(
                days,
                hotlines=set(hotlines) or None,
                agents=set(agents) or None,
                progress=advance,
            )
        except STOPPED as exc:
            done = rebuilder.summary
            raise ReportError(
                f"the rebuild stopped ({type(exc).__name__}: {str(exc)[:200]}) after {done.agent_days} "
                f"agent days, {done.calls} calls and {done.hotline_days} hotline days: run it again "
                "(what it rebuilt stays; a second run redoes only what is still out of date)"
            ) from None
    figures = {
        "days": len(days),
        "agent_days": summary.agent_days,
        "calls": summary.calls,
        "hotline_days": summary.hotline_days,
        "items_written": summary.items_written,
        "items_deleted": summary.items_deleted,
        "counters_corrected": summary.counters_corrected,
    }
    chosen = admin.connection.output_format(fmt)
    if chosen == "json":
        output.show_json(figures)
    elif chosen == "csv":
        output.show_csv([figures])
    else:
        days_text = day + (f" to {last}" if last and last != day else "")
        title = (
            f"Dry run of the rebuild of {days_text} (nothing written)" if dry_run else f"Rebuilt {days_text}"
        )
        output.console().print(output.key_value_table(list(figures.items()), title))
        unchanged = not (summary.items_written or summary.items_deleted or summary.counters_corrected)
        if dry_run:
            click.echo(
                "Nothing is out of date."
                if unchanged
                else "A rebuild would replace these reports (the figures say what it would write)."
            )
        else:
            click.echo("Nothing was out of date." if unchanged else "Reports replaced by the recompute.")


def _dry_rebuilder(admin: AdminContext) -> Rebuilder:
    """The rebuild on a client that writes nothing: both tables, so no path of it can write."""
    from acd_hub.adapters.reports_table import ReportsTable  # noqa: PLC0415  (only redrive/rebuild)
    from acd_hub.rebuild import Rebuilder  # noqa: PLC0415

    client: Any = NoWritesClient(admin.dynamodb)
    return Rebuilder(
        EventsTable(client, admin.events_table),
        ReportsTable(client, admin.connection.reports_table, admin.connection.cmd_day_shards),
        admin.settings,
    )


# -- redrive ----------------------------------------------------------------------------------------


def redrive_columns() -> list[Column]:
    return [
        output.field("span", "stream span", no_wrap=True),
        output.field("records", justify="right"),
        output.field("status"),
        Column("done / problem", lambda i: i.get("detail"), max_width=160),
    ]


@contextmanager
def _rebuild_api() -> Iterator[None]:
    try:
        yield
    except ImportError as exc:
        raise ReportError(f"the rebuild API is not available in this version ({exc})") from None


@cli.command()
@click.argument("consumer", type=click.Choice(sorted({*CONSUMERS, *CONSUMER_ALIASES})))
@click.option(
    "--queue-url",
    callback=text_value,
    help="The DLQ (default: the stack output, or the local stack's queue).",
)
@click.option(
    "--bucket",
    callback=text_value,
    help="The S3 on-failure destination (fanout; default: the stack output FanoutFailuresBucketName).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing (messages stay).")
@click.option(
    "--by-arrival-time",
    is_flag=True,
    help="For a message whose records the stream no longer holds (24 h retention): take the events "
    "received while its batch arrived instead (from the by-day listings; events more than a day late "
    "are missed).",
)
@output.format_option
@click.pass_obj
def redrive(
    admin: AdminContext,
    *,
    consumer: str,
    queue_url: str | None,
    bucket: str | None,
    dry_run: bool,
    by_arrival_time: bool,
    fmt: str | None,
) -> None:
    """Empty a stream consumer's on-failure destination the right way.

    Each record names a span of the events table's stream. fanout (an S3 bucket on AWS) keeps
    the records themselves; the aggregators' queues do not, and their records are read back from
    the stream (it keeps them 24 hours). fanout: the stored events they name are published again
    (subscribers deduplicate on event_key). stats: the agent and call reports they touch are
    rebuilt from the event log (agent-stats and call-stats are names of stats: one function runs
    both aggregators, with one DLQ). A record is deleted only after it was handled."""
    if consumer in CONSUMER_ALIASES:
        consumer = CONSUMER_ALIASES[consumer]
        click.echo(f"(one function runs both aggregators now: redriving {consumer})", err=True)
    chosen = CONSUMERS[consumer]
    with _rebuild_api():
        if chosen.name != "fanout":
            _ = admin.rebuilder  # fail early, before touching the queue
        source = admin.failure_bucket(chosen, bucket)
        runner = Redrive(
            admin,
            chosen,
            "" if source else admin.queue_url(chosen, queue_url),
            dry_run=dry_run,
            by_arrival=by_arrival_time,
            bucket=source,
        )
        with admin.progress() as progress:
            results = runner.run(progress)
    rows = [
        {
            "span": result.batch.where() if result.batch else "?",
            "records": result.records,
            "status": ("kept" if not result.ok else "would delete" if dry_run else "deleted"),
            "detail": result.problem or ", ".join(result.done) or "nothing to do",
        }
        for result in results
    ]
    fmt_chosen = admin.connection.output_format(fmt)
    if fmt_chosen == "json":
        output.show_json(rows)
    elif fmt_chosen == "csv":
        output.show_csv(rows)
    elif not rows:
        click.echo(f"The {consumer} DLQ is empty.")
    else:
        title = f"Redrive {consumer}" + (" (dry run: nothing changed)" if dry_run else "")
        output.show_table(rows, redrive_columns(), title=title)
        kept = sum(1 for result in results if not result.ok)
        click.echo(
            f"{len(results) - kept} message(s) {'handled' if dry_run else 'handled and deleted'}, "
            f"{kept} left in the queue."
        )
    if any(not result.ok for result in results):
        raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=argv, prog_name="acd-admin")
