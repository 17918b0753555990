"""The one codec of the reports: a report's dataclass to the attributes of its item and back,
by its fields (:func:`dataclasses.fields` and their type hints). Pure Python, no AWS: the
reports table's adapter adds the keys and puts the attributes on the wire (boto3's
``TypeSerializer``); a call summary's JSON (``acd-report call``) is its attributes too.

A field is stored under its own name, as it is, unless its declaration (:func:`attribute`)
says otherwise; a report class's ``KIND`` is stored as ``kind``. Reading takes the fields'
attributes only (an item's keys and other attributes are not the report's) and brings each
value to its field's type (``int``, ``str``, ``bool``, lists, ``dict[str, int]``, nested
reports): what an item holds may have been written by an older version of the hub.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, Protocol

# When a field is left out of its item: never stored (what its key holds), when None, or when
# empty (None, 0, an empty list or map).
Omit = Literal["always", "none", "empty"]


Key = tuple[str, str]
Item = dict[str, Any]


class Keyed(Protocol):
    """A catalogue report: it knows its item's key (``pk``, ``sk``)."""

    def key(self) -> Key: ...


class ReportItems(Protocol):
    """The reports table's items as a report's read asks for them (plain Python, as the table's
    adapter decodes them). ``acd-report``, the day report and the wallboard read them eventually
    consistent, several partitions in parallel (:class:`acd_cli.reporting.ReportReads`)."""

    def item(self, key: Key) -> Item | None: ...

    def partition(
        self,
        pk: str,
        *,
        forward: bool = True,
        limit: int | None = None,
        fields: Sequence[str] = (),
        sk_between: tuple[str, str] | None = None,
    ) -> Iterator[Item]:
        """One partition's items (the first ``limit``; ``fields`` only), read as the caller goes."""
        ...

    def partitions(self, pks: Sequence[str], *, fields: Sequence[str] = ()) -> list[Item]:
        """Every item of several partitions (read in parallel where the reader can)."""
        ...

    def each[V, T](self, read: Callable[[V], T], values: Sequence[V]) -> list[T]:
        """``read`` of each value (several reads at once where the reader can), in their order."""
        ...


def attribute(
    *,
    name: str | None = None,
    omit: Omit | None = None,
    absent: Any = None,
    inline: bool = False,
    leave_out: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The metadata of a report field (``field(metadata=attribute(...))``) whose attribute is
    not simply its name and value.

    ``name``: the attribute's name; ``omit``: when it is left out; ``absent``: its value when an
    item has no such attribute (written before there was one); ``inline``: a nested report
    whose attributes are the item's own (without ``leave_out``, whose fields read as their
    defaults)."""
    return {
        "stored": {"name": name, "omit": omit, "absent": absent, "inline": inline, "leave_out": leave_out}
    }


def _rules(field: dataclasses.Field[Any]) -> dict[str, Any]:
    return field.metadata.get("stored") or {
        "name": None,
        "omit": None,
        "absent": None,
        "inline": False,
        "leave_out": (),
    }


def _left_out(value: Any, omit: Omit | None) -> bool:
    match omit:
        case "always":
            return True
        case "none":
            return value is None
        case "empty":
            return not value
    return False


def attributes(report: Any) -> dict[str, Any]:
    """The item's attributes of ``report`` (its keys apart), in the order of its fields."""
    found: dict[str, Any] = {}
    for field in dataclasses.fields(report):
        rules, value = _rules(field), getattr(report, field.name)
        if _left_out(value, rules["omit"]):
            continue
        if rules["inline"]:
            inner = attributes(value)
            found |= {name: v for name, v in inner.items() if name not in rules["leave_out"]}
        else:
            found[rules["name"] or field.name] = (
                attributes(value) if dataclasses.is_dataclass(value) else value
            )
    kind = getattr(type(report), "KIND", None)
    return found if kind is None else found | {"kind": kind}


def report_of[R](cls: type[R], item: Mapping[str, Any], **known: Any) -> R:
    """The report of class ``cls`` an item holds; ``known``: fields its key holds (of ``cls``,
    or of a report inlined in it: a timeline entry's link has its sort key in the entry's key)."""
    values: dict[str, Any] = {}
    hints = _hints(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    for field in fields:
        if field.name in known:
            values[field.name] = known[field.name]
            continue
        rules, hint = _rules(field), hints[field.name]
        if rules["inline"]:
            own = {f.name for f in fields}
            # what the inlined report leaves out is not read back either: an item may hold such an
            # attribute from an older hub, and it is not this report's
            inner = _defaults(hint, rules["leave_out"]) | {k: v for k, v in known.items() if k not in own}
            values[field.name] = report_of(hint, item, **inner)
            continue
        name = rules["name"] or field.name
        if name in item:
            values[field.name] = _typed(hint, item[name])
        elif rules["absent"] is not None:
            values[field.name] = rules["absent"]
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            values[field.name] = None
    return cls(**values)


_HINTS: dict[type, dict[str, Any]] = {}


@functools.cache
def _defaults(cls: type, names: tuple[str, ...]) -> dict[str, Any]:
    """The defaults of ``cls``'s fields ``names`` (None for one without), worked out once."""
    return {
        f.name: None if f.default is dataclasses.MISSING else f.default
        for f in dataclasses.fields(cls)
        if f.name in names
    }


def _hints(cls: type) -> dict[str, Any]:
    # resolved once per class: the annotations are strings (``from __future__ import annotations``)
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _typed(hint: Any, value: Any) -> Any:
    """``value`` as a field of type ``hint`` holds it; None stays None, and a union other than
    ``X | None`` (``int | float``) takes the value as it is."""
    if value is None:
        return None
    if isinstance(hint, types.UnionType):
        kinds = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(kinds) != 1:
            return value
        hint = kinds[0]
    origin = typing.get_origin(hint)
    if origin is list:
        return list(value)
    if origin is dict:
        _, of = typing.get_args(hint)
        return {key: _typed(of, v) for key, v in value.items()}
    if dataclasses.is_dataclass(hint):
        # a nested report stored as null or an empty map is no report
        return report_of(hint, value) if value else None  # type: ignore[arg-type]
    if hint in (int, str, bool):
        return hint(value)
    return value
