"""``acd-sim``: a realistic call-center day, sent to a callback URL, with the KPIs it must produce.

The command line over four parts, each usable on its own:

* :func:`acd_sim.day.generate_day` — the day's callbacks, pure and deterministic for a
  :class:`~acd_sim.model.SimConfig`.
* :func:`acd_sim.truth.expectations` — the ground truth, computed from the events.
* :func:`acd_sim.plan.plan_requests` — the order of sending, duplicates, each request's method.
* :func:`acd_sim.sender.send` — the requests over keep-alive HTTP connections, every answer
  checked.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from acd_cli import labels
from acd_cli.names import Names, dumps
from acd_cli.numbers import FloatRange
from acd_cli.output import printable
from acd_cli.report_context import option_flag, parse_day, text_value
from acd_local import running
from acd_sim.agents import FIRST_AGENT_NUMBER
from acd_sim.day import generate_day
from acd_sim.model import HOTLINES, PHONE_FORMATS, ZONE_NAME, SimConfig, SimEvent, agent_name
from acd_sim.plan import METHODS, Request, plan_requests
from acd_sim.sender import MAX_TRANSPORT_FAILURES, Answer, SendReport, callback_path, send
from acd_sim.truth import expectations

# `acd-local env` exports it; else the running acd-local's file says where it listens.
URL_ENV = "ACD_CALLBACK_URL"


def today_in(zone: str) -> date:
    return datetime.now(ZoneInfo(zone)).date()


def default_token() -> str | None:
    tokens = [part.strip() for part in os.environ.get("ACD_CALLBACK_TOKENS", "").split(",") if part.strip()]
    return tokens[0] if tokens else None


def build_expectations(
    events: Sequence[SimEvent], plan: Sequence[Request], config: SimConfig, sl_seconds: int
) -> dict[str, Any]:
    truth = expectations(events, sl_seconds, config.zone, config.day)
    truth["sent"] = {
        "events": len(events),
        "requests": len(plan),
        "by_cmd": dict(sorted(Counter(e.cmd for e in events).items())),
    }
    return truth


def kpi_table(truth: dict[str, Any]) -> Table:
    """The expected day KPIs: one column per hotline (fits a narrow terminal)."""
    names = {str(h.id): h.name for h in HOTLINES}
    table = Table(
        title=f"Expected KPIs {truth['day']} (service level: answered within {truth['sl_seconds']} s)",
        box=box.SIMPLE_HEAVY,
    )
    table.add_column("KPI")
    hotlines = list(truth["kpis"])
    for hotline in hotlines:
        table.add_column(f"{hotline}\n{names.get(hotline, '')}".strip(), justify="right")
    # The words, units and formats of acd-report (acd_cli.labels): ``0:08``, ``6.2 %``, so the
    # two can be compared by eye. The figures themselves stay the ground truth's own.
    for kpi in labels.KPIS:
        table.add_row(kpi.header, *(kpi.show(truth["kpis"][h]["day"][kpi.name]) for h in hotlines))
    return table


def _parse_day(_ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """A real day the hub keeps events of (acd-report's check: 2000-01-01 to 2099-12-31)."""
    day = parse_day(value, option_flag(param))
    return None if day is None else date.fromisoformat(day)


def _parse_methods(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
    methods = [m.strip().lower() for m in value.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if not methods or bad:
        raise click.BadParameter(f"choose from {', '.join(METHODS)} (comma-separated)")
    return methods


def find_target(url: str | None, token: str | None) -> tuple[str, str | None]:
    """The callback URL and token to send to: as given, else the running acd-local's (its file,
    :mod:`acd_local.running`), never a guessed port."""
    found = running.read()
    if url is None:
        if found is None:
            raise click.UsageError(
                f"no --url, no ${URL_ENV} and no running acd-local found ({running.run_file()}): start "
                "one with `make run`, or pass --url of the callback endpoint"
            )
        url = found.callback_url
    if token is None:
        token = default_token()
    if token is None and found is not None and found.callback_url == url.rstrip("/"):
        token = found.token  # the token it generated (the banner shows it too)
    return url, token


def reachable(url: str, timeout: float = 3.0) -> str | None:
    """None if a connection to the URL's host and port opens; else why not."""
    _, host, port, _ = callback_path(url, None)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def _mask(token: str | None) -> str:
    return "(none)" if not token else (token[:3] + "…" if len(token) > 6 else "…")


@click.command(
    context_settings={
        "help_option_names": ["-h", "--help"],
        "max_content_width": 110,
        "show_default": True,
        # every option also from ACD_SIM_<OPTION> (a smaller day for a test of the README's commands)
        "auto_envvar_prefix": "ACD_SIM",
    }
)
@click.option(
    "--url",
    envvar=URL_ENV,
    show_envvar=True,
    help="Callback URL; the token is appended as /<token>. Default: the running acd-local's.",
)
@click.option(
    "--token",
    default=None,
    callback=text_value,
    help="Callback token (default: first of $ACD_CALLBACK_TOKENS, else the running acd-local's generated one).",
)
@click.option(
    "--day", callback=_parse_day, help="Day to simulate, YYYY-MM-DD (default: today in Europe/Berlin)."
)
@click.option("--seed", type=int, default=1)
@click.option("--agents", type=click.IntRange(1, 899_999), default=12)
@click.option("--calls", type=click.IntRange(0), default=300, help="Inbound calls.")
@click.option("--outbound", type=click.IntRange(0), default=40, help="Dialer calls.")
@click.option(
    "--rate", type=FloatRange(0), default=0.0, help="Callbacks per second (0: as fast as possible)."
)
@click.option(
    "--concurrency", type=click.IntRange(1, 64), default=4, help="Sender threads (keep-alive connections)."
)
@click.option(
    "--duplicates",
    type=FloatRange(0, 1),
    default=0.0,
    help="Share of events sent again (some a third time).",
)
@click.option(
    "--shuffle-window",
    type=click.IntRange(0),
    default=0,
    help="Random order within sliding windows of N events (0: time order).",
)
@click.option(
    "--methods", default="get,put", callback=_parse_methods, help="HTTP methods to mix: get,put,head."
)
@click.option("--phone-format", type=click.Choice([*PHONE_FORMATS, "mixed"]), default="mixed")
@click.option(
    "--expect-out", type=click.Path(dir_okay=False, path_type=Path), help="Write the expectations JSON here."
)
@click.option(
    "--names-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the day's hotline and agent names here (acd-report --names, e.g. acd-names.toml).",
)
@click.option("--dry-run", is_flag=True, help="Generate and print the expectations; send nothing.")
@click.option("--sl-seconds", type=click.IntRange(0), default=20, help="Service-level threshold.")
@click.option(
    "--quiet", "-q", is_flag=True, help="No progress bar and no tables; failures are still printed."
)
def main(
    *,
    url: str | None,
    token: str | None,
    day: date | None,
    seed: int,
    agents: int,
    calls: int,
    outbound: int,
    rate: float,
    concurrency: int,
    duplicates: float,
    shuffle_window: int,
    methods: list[str],
    phone_format: str,
    expect_out: Path | None,
    names_out: Path | None,
    dry_run: bool,
    sl_seconds: int,
    quiet: bool,
) -> None:
    """Simulate a call-center day, send its callbacks to URL, print the KPIs the hub must report."""
    console = Console(stderr=False, highlight=False)
    errors = Console(stderr=True, highlight=False)
    config = SimConfig(
        day=day or today_in(ZONE_NAME),
        seed=seed,
        agents=agents,
        calls=calls,
        outbound=outbound,
        phone_format=phone_format,
    )
    if not dry_run:  # where to, before the day is made: a wrong target fails at once
        url, token = find_target(url, token)
        try:
            callback_path(url, token)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--url") from None
        if (why := reachable(url)) is not None:
            raise click.ClickException(
                f"cannot reach {url}: {why} - is the stack running (make run)? Nothing sent, "
                "no expectations written."
            )
    events = generate_day(config)
    plan = plan_requests(
        events, methods=methods, duplicates=duplicates, shuffle_window=shuffle_window, seed=seed
    )
    truth = build_expectations(events, plan, config, sl_seconds)
    _write_names(names_out, config)

    by_cmd = ", ".join(f"{cmd} {n}" for cmd, n in truth["sent"]["by_cmd"].items())
    methods_used = Counter(r.method for r in plan)
    if not quiet:
        console.print(
            f"[bold]acd-sim[/] {config.day} seed {seed}: {len(events)} events ({by_cmd}); "
            f"{len(plan)} requests ({', '.join(f'{m} {n}' for m, n in sorted(methods_used.items()))})"
        )
    if dry_run:
        _write_expectations(expect_out, truth)
        if not quiet:
            console.print(kpi_table(truth))
            if expect_out:
                console.print(f"expectations written to {expect_out}")
        return

    if not quiet:
        console.print(
            f"sending to {url} (token {_mask(token)}), {concurrency} connections"
            + (f", {rate:g}/s" if rate else "")
        )
    assert url is not None
    report = _send_with_progress(
        console, events, plan, url, token, concurrency=concurrency, rate=rate, quiet=quiet
    )
    _print_failures(errors, events, report)
    done = report.ok + len(report.failures)
    summary = (
        f"{done}/{len(plan)} requests in {report.elapsed_s:.1f} s "
        f"({done / report.elapsed_s if report.elapsed_s else 0:.0f}/s): {report.ok} ok, "
        f"{len(report.failures)} failed; statuses {dict(sorted(report.statuses.items()))}"
    )
    failed = bool(report.failures or report.aborted)
    if not failed:
        # Only for a day the hub got whole: expectations of a day half sent would read as its
        # reports being wrong.
        _write_expectations(expect_out, truth)
    if not quiet:
        console.print(summary)
        console.print(kpi_table(truth))
        if expect_out and not failed:
            console.print(f"expectations written to {expect_out}")
    elif report.failures:
        errors.print(summary)
    if failed:
        if expect_out:
            errors.print(f"expectations not written to {expect_out}: the day was not sent whole")
        sys.exit(1)


def _write_expectations(path: Path | None, truth: dict[str, Any]) -> None:
    if path is not None:
        _write(path, json.dumps(truth, indent=2, ensure_ascii=False) + "\n", "--expect-out")


def _write_names(path: Path | None, config: SimConfig) -> None:
    if path is not None:
        _write(path, names_file(config), "--names-out")


def _write(path: Path, text: str, flag: str) -> None:
    """``text`` to ``path`` (its folder made if missing); a path that cannot be written is a
    one-line error naming ``flag``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{flag}: cannot write {printable(str(path))}: {exc.strerror}") from None


def names_file(config: SimConfig) -> str:
    """The simulated day's names as an operator keeps them (:mod:`acd_cli.names`)."""
    names = Names(
        hotlines={str(h.id): h.name for h in HOTLINES},
        agents={str(FIRST_AGENT_NUMBER + i): agent_name(i) for i in range(config.agents)},
    )
    return dumps(
        names,
        "Names of hotlines and agents, shown beside their numbers by acd-report.\nWritten by acd-sim for its simulated day; edit freely.",
    )


def _send_with_progress(
    console: Console,
    events: Sequence[SimEvent],
    plan: Sequence[Request],
    url: str,
    token: str | None,
    *,
    concurrency: int,
    rate: float,
    quiet: bool,
) -> SendReport:
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    ) as progress:
        task_id = progress.add_task("sending", total=len(plan), failed=0)
        failed = 0
        lock = threading.Lock()

        def on_answer(answer: Answer) -> None:
            nonlocal failed
            with lock:
                failed += 0 if answer.ok else 1
                progress.update(task_id, advance=1, failed=failed)

        return send(events, url, token, plan=plan, concurrency=concurrency, rate=rate, on_answer=on_answer)


MAX_FAILURES_SHOWN = 20


def _print_failures(errors: Console, events: Sequence[SimEvent], report: SendReport) -> None:
    for answer in report.failures[:MAX_FAILURES_SHOWN]:
        event = events[answer.request.index]
        what = f"HTTP {answer.status}" if answer.status else answer.error
        errors.print(
            f"[red]FAILED[/] {answer.request.method} {event.cmd} {_brief(event)}: {what} {answer.body[:200]}",
            markup=True,
            highlight=False,
        )
    if len(report.failures) > MAX_FAILURES_SHOWN:
        errors.print(f"... and {len(report.failures) - MAX_FAILURES_SHOWN} more failures")
    if report.aborted:
        errors.print(f"[red]aborted[/] after {MAX_TRANSPORT_FAILURES} requests got no answer")


def _brief(event: SimEvent) -> str:
    p = event.params
    keys = ("id", "taskid", "eventtype", "agentid", "state", "callid", "scheduleid", "eventtime")
    return " ".join(f"{k}={p[k]}" for k in keys if k in p)


if __name__ == "__main__":
    main()
