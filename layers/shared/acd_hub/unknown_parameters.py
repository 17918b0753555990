"""Parameters a callback carries that its ``cmd`` does not list.

They are kept with the event (``data.extra``), not refused: the ACD adds parameters between
versions, and a new one must not cost a callback. But a misspelled one (``pausereason`` for
``pause-reason``) is stored as well, and the pause shows without its reason with nothing to tell
the ACD's administrator. So each one is named back in the answer, with the known name it is
closest to, counted as a metric and kept with the event (``warnings``), for ``acd-report
warnings`` to list by day.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pydantic import AliasChoices

from acd_hub.models import CALLBACK_MODELS, CallbackModel

# Enough to show a misconfigured ACD; a request full of them is not worth a longer answer.
MAX_WARNINGS = 20
# difflib's ratio from which a known name counts as what was meant (its default, 0.6, matches
# "pausereason" to "pause-reason" at 0.96 and "agent" to "agentid" at 0.83).
CLOSE_ENOUGH = 0.6
# Read before validation, never one of a model's fields.
TRANSPORT_NAMES = ("cmd", "token")


@dataclass(frozen=True)
class UnknownParameter:
    parameter: str
    closest: str | None  # the known parameter of the cmd it most resembles, if any does

    @property
    def message(self) -> str:
        hint = f"; did you mean {self.closest}?" if self.closest else ""
        return f"not a parameter of this cmd: kept under data.extra, not used{hint}"

    def as_dict(self) -> dict[str, str | None]:
        return {"parameter": self.parameter, "closest": self.closest, "message": self.message}


@cache
def known_parameters(cmd: str) -> tuple[str, ...]:
    """The names a ``cmd`` takes, as the ACD writes them (lower-cased, as requests arrive)."""
    names = set(TRANSPORT_NAMES)
    for name, info in CALLBACK_MODELS[cmd].model_fields.items():
        # the ACD's name (the model also takes its own field name, which then never is unknown)
        names.add(info.alias or name)
        if isinstance(info.validation_alias, AliasChoices):
            names.update(str(choice) for choice in info.validation_alias.choices)
        elif isinstance(info.validation_alias, str):
            names.add(info.validation_alias)
    return tuple(sorted({name.lower() for name in names}))


def unknown_parameters(event: CallbackModel) -> list[UnknownParameter]:
    """Each parameter of ``event`` its cmd does not list, with the closest known name (difflib)."""
    if not event.extra:
        return []
    import difflib  # noqa: PLC0415  (only a callback with an unknown parameter needs it)

    known = known_parameters(event.cmd)
    found = []
    for name in sorted(event.extra)[:MAX_WARNINGS]:
        closest = difflib.get_close_matches(name.lower(), known, n=1, cutoff=CLOSE_ENOUGH)
        found.append(UnknownParameter(name, closest[0] if closest else None))
    return found
