"""``python -m acd_deploy``: the stack deployed into MiniStack and kept running until Ctrl-C
(``make deploy-local``), so it can be used as a user uses a deployed stack."""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
import time
from pathlib import Path

import click

from acd_deploy.emulator import Emulator
from acd_deploy.stack import deploy, new_token
from acd_deploy.steps import interrupted


@click.command()
@click.option("--keep", is_flag=True, help="Keep the temporary directory (build, emulator log) at the end.")
def main(keep: bool) -> None:
    """Start MiniStack on a free loopback port (IAM enforced), deploy template.yaml with sam build
    and sam deploy, print how to reach it, and wait; Ctrl-C stops everything it started."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    signal.signal(signal.SIGTERM, interrupted)
    work_dir = Path(tempfile.mkdtemp(prefix="acd-deploy-"))
    emulator = Emulator(work_dir / "ministack")
    token = new_token()
    try:
        emulator.start()
        stack = deploy(emulator, work_dir, [token])
        endpoint = emulator.endpoint
        click.echo(
            f"\nDeployed {stack.stack_name} into MiniStack at {endpoint} (credentials test/test, "
            f"region {stack.env['AWS_REGION']}).\n"
            f"Callback URL: {stack.callback_url}/<token>  (the token is in SSM: "
            f"{stack.outputs['TokenParameterName']})\n\n"
            f"  export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "
            f"AWS_DEFAULT_REGION={stack.env['AWS_REGION']}\n"
            "  ACD_CALLBACK_TOKENS=$(.venv/bin/python -c \"import boto3; print(boto3.client('ssm')"
            f".get_parameter(Name='{stack.outputs['TokenParameterName']}', WithDecryption=True)"
            "['Parameter']['Value'])\") "
            f".venv/bin/acd-sim --url {stack.callback_url} --calls 50\n"
            f"  .venv/bin/acd-report --stack-name {stack.stack_name} board\n\n"
            "Ctrl-C stops it (nothing is kept)."
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("stopping ...")
    finally:
        emulator.stop()
        if keep:
            click.echo(f"kept {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
