"""DynamoDB's condition, update and key condition expressions, the subset the hub writes:
parsed into a small tree, evaluated against an item, an update applied. Anything else is refused
loudly (``NotImplementedError``), never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from acd_devkit.dynamodb_wire import Item, Wire, copy_value, number_wire, plain_value, wire_kind

_TOKEN = re.compile(
    r"\s*(?:(?P<op><>|<=|>=|[=<>(),+\-])|(?P<name>#[A-Za-z0-9_]+)|(?P<value>:[A-Za-z0-9_]+)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_KEYWORDS = {"AND", "OR", "NOT", "BETWEEN", "IN", "SET", "ADD", "REMOVE", "DELETE"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise NotImplementedError(f"expression not understood at {text[position:]!r}")
        position = match.end()
        kind = match.lastgroup or ""
        token = match.group(kind)
        if kind == "word" and token.upper() in _KEYWORDS:
            kind, token = "keyword", token.upper()
        out.append((kind, token))
    return out


@dataclass(frozen=True)
class Path:
    name: str


@dataclass(frozen=True)
class Placeholder:
    name: str


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Compare:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Between:
    operand: Any
    low: Any
    high: Any


@dataclass(frozen=True)
class In:
    operand: Any
    options: tuple[Any, ...]


@dataclass(frozen=True)
class Logical:
    op: str  # AND, OR, NOT
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Arithmetic:
    op: str
    left: Any
    right: Any


class _Parser:
    def __init__(self, text: str, names: Mapping[str, str]) -> None:
        self.tokens = _tokens(text)
        self.position = 0
        self.names = names

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (expected is not None and token[1] != expected):
            raise NotImplementedError(f"expected {expected!r}, got {token!r}")
        self.position += 1
        return token

    def at(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token[1] == text

    def done(self) -> None:
        if self.peek() is not None:
            raise NotImplementedError(f"unexpected {self.peek()!r}")

    # conditions
    def condition(self) -> Any:
        parts = [self.conjunction()]
        while self.at("OR"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Logical("OR", tuple(parts))

    def conjunction(self) -> Any:
        parts = [self.negation()]
        while self.at("AND"):
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else Logical("AND", tuple(parts))

    def negation(self) -> Any:
        if self.at("NOT"):
            self.take()
            return Logical("NOT", (self.negation(),))
        return self.comparison()

    def comparison(self) -> Any:
        if self.at("("):
            self.take()
            inner = self.condition()
            self.take(")")
            return inner
        left = self.operand()
        token = self.peek()
        if token is None or token[1] in ("AND", "OR", ")"):
            if isinstance(left, Call):
                return left
            raise NotImplementedError(f"a condition needs a comparison after {left!r}")
        if token[1] == "BETWEEN":
            self.take()
            low = self.operand()
            self.take("AND")
            return Between(left, low, self.operand())
        if token[1] == "IN":
            self.take()
            self.take("(")
            options = [self.operand()]
            while self.at(","):
                self.take()
                options.append(self.operand())
            self.take(")")
            return In(left, tuple(options))
        if token[1] in ("=", "<>", "<", "<=", ">", ">="):
            self.take()
            return Compare(token[1], left, self.operand())
        raise NotImplementedError(f"unexpected {token!r}")

    def operand(self) -> Any:
        kind, token = self.take()
        if kind == "value":
            return Placeholder(token)
        if kind == "name":
            if token not in self.names:
                raise KeyError(token)
            return Path(self.names[token])
        if kind == "word":
            if self.at("("):
                self.take()
                args = [self.operand()]
                while self.at(","):
                    self.take()
                    args.append(self.operand())
                self.take(")")
                return Call(token, tuple(args))
            if self.at("."):
                raise NotImplementedError("nested paths")
            return Path(token)
        raise NotImplementedError(f"unexpected {token!r}")

    # update expressions
    def update(self) -> list[tuple[str, Any]]:
        actions: list[tuple[str, Any]] = []
        while self.peek() is not None:
            kind, clause = self.take()
            if kind != "keyword" or clause not in ("SET", "ADD", "REMOVE", "DELETE"):
                raise NotImplementedError(f"update clause {clause!r}")
            while True:
                path = self.operand()
                if not isinstance(path, Path):
                    raise NotImplementedError(f"{clause} of {path!r}")
                if clause == "SET":
                    self.take("=")
                    value = self.operand()
                    if self.at("+") or self.at("-"):
                        op = self.take()[1]
                        value = Arithmetic(op, value, self.operand())
                    actions.append(("SET", (path, value)))
                elif clause in ("ADD", "DELETE"):
                    actions.append((clause, (path, self.operand())))
                else:
                    actions.append(("REMOVE", (path, None)))
                if not self.at(","):
                    break
                self.take()
        return actions


_CACHE: dict[tuple[str, str, tuple[tuple[str, str], ...]], Any] = {}


def parsed_expression(kind: str, text: str, names: Mapping[str, str] | None) -> Any:
    key = (kind, text, tuple(sorted((names or {}).items())))
    found = _CACHE.get(key)
    if found is None:
        parser = _Parser(text, names or {})
        found = parser.update() if kind == "update" else parser.condition()
        parser.done()
        if len(_CACHE) < 10_000:
            _CACHE[key] = found
    return found


class Evaluator:
    def __init__(self, item: Mapping[str, Wire] | None, values: Mapping[str, Wire]) -> None:
        self.item = item or {}
        self.values = values

    def value(self, operand: Any) -> Wire | None:
        match operand:
            case Path(name=name):
                return self.item.get(name)
            case Placeholder(name=name):
                if name not in self.values:
                    raise KeyError(name)
                return self.values[name]
            case Call(function="size", args=(path,)):
                found = self.value(path)
                if found is None:
                    return None
                (kind, inner), *_ = found.items()
                size = len(inner.encode("utf-8")) if kind == "S" else len(inner)
                return {"N": str(size)}
        raise NotImplementedError(f"operand {operand!r}")

    def holds(self, condition: Any) -> bool:
        match condition:
            case Logical(op="AND", parts=parts):
                return all(self.holds(p) for p in parts)
            case Logical(op="OR", parts=parts):
                return any(self.holds(p) for p in parts)
            case Logical(op="NOT", parts=(part,)):
                return not self.holds(part)
            case Compare(op=op, left=left, right=right):
                return _compare(op, self.value(left), self.value(right))
            case Between(operand=operand, low=low, high=high):
                found = self.value(operand)
                return _compare(">=", found, self.value(low)) and _compare("<=", found, self.value(high))
            case In(operand=operand, options=options):
                found = self.value(operand)
                return any(_compare("=", found, self.value(o)) for o in options)
            case Call(function="attribute_exists", args=(Path(name=name),)):
                return name in self.item
            case Call(function="attribute_not_exists", args=(Path(name=name),)):
                return name not in self.item
            case Call(function="begins_with", args=(path, prefix)):
                found, start = self.value(path), self.value(prefix)
                if (
                    found is None
                    or start is None
                    or wire_kind(found) != wire_kind(start)
                    or wire_kind(found) not in "SB"
                ):
                    return False
                return bool(plain_value(found).startswith(plain_value(start)))
        raise NotImplementedError(f"condition {condition!r}")


def _compare(op: str, left: Wire | None, right: Wire | None) -> bool:
    if left is None or right is None:
        return op == "<>" and not (left is None and right is None)
    if wire_kind(left) != wire_kind(right):
        return op == "<>"
    a, b = plain_value(left), plain_value(right)
    match op:
        case "=":
            return bool(a == b)
        case "<>":
            return bool(a != b)
    if wire_kind(left) not in ("S", "N", "B"):
        return False
    match op:
        case "<":
            return bool(a < b)
        case "<=":
            return bool(a <= b)
        case ">":
            return bool(a > b)
        case ">=":
            return bool(a >= b)
    raise NotImplementedError(op)


def apply_update(item: Item, actions: list[tuple[str, Any]], values: Mapping[str, Wire]) -> None:
    before = dict(item)
    evaluator = Evaluator(before, values)  # every action reads the item as it was

    def operand(node: Any) -> Wire | None:
        match node:
            case Call(function="if_not_exists", args=(path, default)):
                found = evaluator.value(path)
                return found if found is not None else evaluator.value(default)
            case Arithmetic(op=op, left=left, right=right):
                a, b = operand(left), operand(right)
                if a is None or b is None or wire_kind(a) != "N" or wire_kind(b) != "N":
                    raise ValueError("An operand in the update expression has an incorrect data type")
                total = Decimal(a["N"]) + Decimal(b["N"]) if op == "+" else Decimal(a["N"]) - Decimal(b["N"])
                return number_wire(total)
        return evaluator.value(node)

    for clause, (path, node) in actions:
        if clause == "SET":
            found = operand(node)
            if found is None:
                raise ValueError(
                    "The provided expression refers to an attribute that does not exist in the item"
                )
            item[path.name] = copy_value(found)
        elif clause == "REMOVE":
            item.pop(path.name, None)
        elif clause == "ADD":
            delta = operand(node)
            current = before.get(path.name)
            if delta is None:
                raise ValueError("ADD needs a value")
            if wire_kind(delta) == "N":
                if current is not None and wire_kind(current) != "N":
                    raise ValueError("An operand in the update expression has an incorrect data type")
                base = Decimal(current["N"]) if current else Decimal(0)
                item[path.name] = number_wire(base + Decimal(delta["N"]))
            elif wire_kind(delta) in ("SS", "NS", "BS"):
                kind = wire_kind(delta)
                merged = list(dict.fromkeys([*(current or {}).get(kind, []), *delta[kind]]))
                item[path.name] = {kind: merged}
            else:
                raise ValueError("ADD takes a number or a set")
        else:
            raise NotImplementedError(clause)
