"""``acd-local``: the command that starts the whole stack (:class:`acd_local.hub.LocalHub`) on
this machine, prints its banner and the quick start, and ``acd-local env`` for another shell."""

from __future__ import annotations

import logging
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from acd_cli.numbers import FloatRange
from acd_local import running
from acd_local.hub import HOST, STATUS_INTERVAL, SYNC_INTERVAL, TOKENS_ENV, LocalHub

LOG = logging.getLogger("acd_local")


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)-20s %(message)s", "%H:%M:%S"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


def default_data_dir(template_path: str | os.PathLike[str] | None = None) -> Path:
    """``.acd-local/`` beside the template (the repository's root)."""
    from acd_devkit import template as tpl  # noqa: PLC0415

    try:
        return tpl.find_template(template_path).resolve().parent / ".acd-local"
    except FileNotFoundError:
        return Path.cwd() / ".acd-local"


def _shown(path: Path | None) -> str:
    """A path as typed, inert on a terminal (an escape sequence in ``--data-dir`` shown, not
    acted on)."""
    from acd_cli.output import printable  # noqa: PLC0415 - rich, which --help need not load

    return printable(str(path))


def _data_line(stack: LocalHub) -> list[str]:
    if stack.data_dir is None:
        return ["  data           ephemeral (--ephemeral): tables and queues are gone when it stops"]
    lines = [
        f"  data           kept in {_shown(stack.data_dir)}",
        "                 (every write journaled as moto makes it, synced to disk every "
        f"{stack.sync_interval:g} s: a crash of acd-local",
        f"                 loses none, a power loss the last {stack.sync_interval:g} s at most; --ephemeral for a throwaway run)",
    ]
    if stack.restored:
        items = ", ".join(f"{count:,} in {table}" for table, count in stack.restored["items"].items())
        carried = sum(stack.restored["carried"].values())
        lines.append(
            f"  restored       {items or 'nothing'} from {stack.restored['taken_at']}"
            + (f"; {carried:,} stream record(s) still to handle" if carried else "")
        )
    return lines


# The README's quick start after `make run`, printed by the banner as it is: the commands find the
# ports and the token through `acd-local env` (the running stack's file, acd_local.running), so
# one text works on any port. Agent 100000: acd-sim numbers its agents from 100001, so the first
# callback does not touch the simulated day's ground truth. Days default to today in the report
# time zone: no `date +%F` (a UTC date, the wrong day after midnight in Berlin).
QUICK_START: tuple[tuple[str, str], ...] = (
    ('eval "$(.venv/bin/acd-local env)"', "sets TOKEN, ACD_CALLBACK_URL, AWS_ENDPOINT_URL"),
    (
        'curl -i "$ACD_CALLBACK_URL/$TOKEN?cmd=agentstate&agentid=100000&mode=0&state=online'
        '&eventtime=$(date +%s000)"',
        "",
    ),
    (".venv/bin/acd-report events --agent 100000", "today's, in the report time zone"),
    ('.venv/bin/acd-sim --token "$TOKEN" --expect-out .acd-local/expected.json', "a day of calls"),
    (".venv/bin/acd-report hotlines", "today's hotlines and agents:"),
    (".venv/bin/acd-report agents", "what to pass to kpis, agent-day, ..."),
    (".venv/bin/acd-report kpis --hotline 501", ""),
    (".venv/bin/acd-report freshness", "how far behind the consumers are"),
    (".venv/bin/acd-report serve", "the wallboard: open the address it prints"),
)


COMMENT_COLUMN = 44


def quick_start_lines() -> list[str]:
    """The quick start's commands, short comments aligned as the README shows them."""
    return [
        f"{command:<{COMMENT_COLUMN}} # {comment}" if comment else command for command, comment in QUICK_START
    ]


def _banner(stack: LocalHub) -> str:
    spec = stack.spec
    assert spec is not None
    # A token the user chose is a secret: never printed (a generated one is ours to show).
    if stack.tokens_source == "generated":
        token_line = f"{stack.tokens[0]}  (generated; set {TOKENS_ENV}=tok1,tok2 to choose)"
        export, mine = f"  export TOKEN={stack.tokens[0]}", ""
    else:
        # not even a few characters: they narrow a guess, and a banner gets pasted into tickets
        token_line = f"(from {TOKENS_ENV}; not shown)"
        if len(stack.tokens) > 1:
            token_line += f" +{len(stack.tokens) - 1} more"
        export, mine = "  export TOKEN=...", f"   # TOKEN: one of your {TOKENS_ENV}"
    url = f"{stack.base_url}/callback/$TOKEN"
    consumers = ", ".join(f"{m.function} <- {m.table}" for m in spec.stream_mappings) or "-"
    aws = stack.aws_endpoint
    by_hand = f"ACD_CALLBACK_URL={stack.base_url}/callback AWS_ENDPOINT_URL={aws}"
    lines = [
        "",
        "acd-local: the callback hub on this machine (moto server, no AWS account)",
        "",
        f"  callback URL   {url}",
        f"  token          {token_line}",
        f"  AWS endpoint   {aws}  (region {stack.region}, credentials 'testing')",
        f"  tables         {', '.join(stack.table_names) or '-'}",
        f"  topics         {', '.join(stack.topic_arns) or '-'}  (the local subscriber prints fan-out)",
        f"  stream         {consumers}  (a lag line every few seconds while behind)",
        *_data_line(stack),
        "",
        "Quick start, in another shell in this directory (the README's first commands; they find",
        "this stack's ports and token themselves):",
        *(f"  {line}" for line in quick_start_lines()),
        "",
        "Or set the variables by hand:",
        f"{export} {by_hand}{mine}",
        "",
        "Ctrl-C (or SIGTERM) stops everything.",
        "",
    ]
    return "\n".join(lines)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--port", type=click.IntRange(0, 65535), default=3000, show_default=True, help="Callback endpoint port."
)
@click.option(
    "--aws-port",
    type=click.IntRange(0, 65535),
    default=5000,
    show_default=True,
    help="Port of the moto server.",
)
@click.option(
    "--host",
    type=click.Choice([HOST]),
    default=HOST,
    show_default=True,
    help="Listen address; loopback only, the local stack has no protection of its own.",
)
@click.option(
    "--template",
    "template_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="SAM template to read (default: template.yaml of the repository).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where tables and stream positions are kept across a restart (default: .acd-local/ in the repository).",
)
@click.option(
    "--ephemeral",
    is_flag=True,
    help="Keep nothing: every start begins empty (the data folder is not touched).",
)
@click.option(
    "--sync-interval",
    "--snapshot-interval",
    "sync_interval",
    type=FloatRange(0.1),
    default=SYNC_INTERVAL,
    show_default=True,
    help="Seconds between syncs of the data folder's journal to disk (what a power loss may lose; "
    "a crash of acd-local loses no write).",
)
@click.pass_context
def main(  # noqa: PLR0917 - click passes every option by keyword-capable position
    ctx: click.Context,
    port: int,
    aws_port: int,
    host: str,
    template_path: Path | None,
    data_dir: Path | None,
    ephemeral: bool,
    sync_interval: float,
) -> None:
    """Run the ACD callback hub locally: moto, the callback endpoint, the stream consumers and a
    subscriber printing the SNS fan-out. Keeps its data in a folder unless --ephemeral.

    `acd-local env` (in another shell) prints the running stack's TOKEN, ACD_CALLBACK_URL and
    AWS_ENDPOINT_URL as shell exports: eval "$(.venv/bin/acd-local env)"."""
    del host  # fixed: the option exists to say so
    if ctx.invoked_subcommand is not None:
        return
    from acd_local.worker import WorkerError  # noqa: PLC0415 - keep `--help` fast

    if ephemeral and data_dir is not None:
        raise click.UsageError("--ephemeral and --data-dir exclude each other")
    _configure_logging()
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = LocalHub(
        port,
        aws_port,
        template_path=template_path,
        data_dir=None if ephemeral else (data_dir or default_data_dir(template_path)),
        sync_interval=sync_interval,
        status_interval=STATUS_INTERVAL,
    )
    try:
        try:
            stack.start()
        except (FileNotFoundError, ValueError, WorkerError) as exc:
            # no template, one we cannot run, or a data folder that cannot be loaded
            raise click.ClickException(f"cannot start: {exc}") from exc
        except OSError as exc:  # a port (or the data folder) in use
            raise click.ClickException(f"cannot start: {exc} (try --port/--aws-port/--data-dir)") from exc
        click.echo(_banner(stack))
        _announce(stack)
        while not stop.wait(0.5) and not stack.failed.is_set():
            pass
        click.echo("stopping ...")
    finally:
        running.remove(os.getpid())
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stack.last_saved:
        click.echo(f"stopped; data kept in {_shown(stack.data_dir)} ({stack.last_saved['items']:,} items).")
    else:
        click.echo("stopped.")
    if stack.failure:
        raise click.ClickException(stack.failure)


def _announce(stack: LocalHub) -> None:
    """Say where this stack listens, for `acd-local env` and `acd-sim` in another shell."""
    try:
        running.write(
            running.RunningStack(
                pid=os.getpid(),
                callback_url=f"{stack.base_url}/callback",
                aws_endpoint=stack.aws_endpoint,
                region=stack.region,
                token=stack.tokens[0] if stack.tokens_source == "generated" else None,
            )
        )
    except OSError as exc:  # a read-only checkout: the banner's commands by hand still work
        LOG.warning(
            "could not write %s (%s): acd-local env will not find this stack", running.run_file(), exc
        )


@main.command("env")
def env_command() -> None:
    """Print the running stack's TOKEN, ACD_CALLBACK_URL and AWS_ENDPOINT_URL as shell exports
    (eval "$(.venv/bin/acd-local env)"); exit 1 when no acd-local runs."""
    found = running.read()
    if found is None:
        raise click.ClickException(
            f"no running acd-local found ({running.run_file()}): start one with `make run`"
        )
    exports = {"ACD_CALLBACK_URL": found.callback_url, "AWS_ENDPOINT_URL": found.aws_endpoint}
    if found.token is not None:
        exports = {"TOKEN": found.token, **exports}
    for name, value in exports.items():
        click.echo(f"export {name}={shlex.quote(value)}")
    if found.token is None:
        click.echo(f"# TOKEN is one of your {TOKENS_ENV} (not shown): export TOKEN=...")


if __name__ == "__main__":
    main()
