"""``make deploy-test``: template.yaml deployed with ``sam build``/``sam deploy`` into MiniStack
(loopback, IAM enforced); the tests here go through the deployed stack only.

Not in the default testpaths (``make test`` does not run it twice). Everything the run writes
(build, emulator state and log, the functions' unpacked code) is under one temporary directory,
removed at the end; a failed run keeps it and says where. SIGTERM unwinds like Ctrl-C, so the
emulator is stopped either way.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from acd_deploy import settle
from acd_deploy.emulator import Emulator
from acd_deploy.stack import DeployedStack, deploy, new_token
from acd_deploy.steps import interrupted
from acd_devkit.lambda_events import TOKEN as SAMPLE_TOKEN

HERE = Path(__file__).resolve().parent
SETTLE_TIMEOUT = 300.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.deploy)


def pytest_configure(config: pytest.Config) -> None:
    signal.signal(signal.SIGTERM, interrupted)


@pytest.fixture(scope="session")
def work_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="acd-deploy-test-"))
    yield path
    if request.session.testsfailed:
        print(f"\nthe failed run's logs are kept in {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def emulator(work_dir: Path) -> Iterator[Emulator]:
    started = Emulator(work_dir / "ministack")
    try:
        started.start()
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def stack(emulator: Emulator, work_dir: Path) -> DeployedStack:
    """The deployed stack. Two tokens, as while rotating: a new random one for HTTP callbacks,
    and the samples' documented token, which every file in events/ carries in its path."""
    return deploy(emulator, work_dir, [new_token(), SAMPLE_TOKEN])


def connection(stack: DeployedStack) -> tuple[list[str], dict[str, str]]:
    """acd-report/acd-admin's arguments and environment for the deployed stack, as an operator
    runs them: ``--stack-name``, and the emulator as the AWS endpoint with its root key."""
    env = {k: v for k, v in stack.env.items() if k.startswith("AWS_")}
    return ["--stack-name", stack.stack_name], env


@pytest.fixture(scope="session")
def day(stack: DeployedStack, work_dir: Path) -> settle.Sent:
    """The simulated day sent through the deployed HTTP API by acd-sim (every answer 2xx)."""
    sent = settle.send_day(stack.callback_url, stack.token, work_dir)
    print(f"acd-sim: {sent.requests} requests in {sent.seconds:.1f}s ({sent.per_second:.1f}/s), all 2xx")
    return sent
