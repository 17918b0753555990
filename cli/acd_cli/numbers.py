"""Number options as an operator means them, for every command line of the project (the CLIs
and the tools alike); click alone, so that a tool's ``--help`` imports nothing heavier."""

from __future__ import annotations

import math
from typing import Any

import click


class FloatRange(click.FloatRange):
    """click's ``FloatRange`` that also refuses ``nan``, which passes every bound check, and
    ``inf`` where no upper bound stops it (an SL target, a rate, a share or an interval of
    either is a typo, never a setting)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number
