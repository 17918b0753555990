"""Names of hotlines and agents: the one place an operator keeps them, a TOML file beside the
numbers the ACD sends.

```toml
# acd-names.toml: shown beside the numbers in acd-report's tables, the day report and the board
[hotlines]
501 = "Vertrieb"

[agents]
100001 = "Anna Becker"
```

``acd-report`` reads ``--names FILE`` (or ``$ACD_NAMES``, else ``acd-names.toml`` in the current
directory, when it exists); ``acd-sim --names-out FILE`` writes the names of its simulated day.
The reports keep only numbers (the ACD's ids are what identifies a hotline or an agent), so a
name changed here shows everywhere at once, for every day. JSON and CSV output stay the numbers.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_FILE = "acd-names.toml"
MAX_ID_DIGITS = 20  # the ingest's bound on ids
# Control characters (a terminal's escape sequences; shown as garbage in a page) and the bidi
# embeddings, overrides and isolates: a page shows a name beside other text (a call's agents as
# one list, "Calls of hotline NAME · DAY"), and an override in one name turned what follows it
# round (100002 read as 200001). Right-to-left names need none of them.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
ENVIRONMENT = "ACD_NAMES"


class NamesError(Exception):
    """The names file cannot be read, with why."""


@dataclass(frozen=True)
class Names:
    hotlines: Mapping[str, str] = field(default_factory=dict)
    agents: Mapping[str, str] = field(default_factory=dict)

    def hotline(self, hotline: object) -> str:
        """``501 Vertrieb``, or the number alone when it has no name."""
        return _with_name(hotline, self.hotlines)

    def agent(self, agent: object) -> str:
        return _with_name(agent, self.agents)


NO_NAMES = Names()  # no names file: the numbers alone


def _with_name(number: object, names: Mapping[str, str]) -> str:
    text = "" if number is None else str(number)
    name = names.get(text)
    return f"{text} {name}" if name else text


def _section(document: Mapping[str, object], key: str, path: Path) -> dict[str, str]:
    section = document.get(key, {})
    if not isinstance(section, dict):
        raise NamesError(f'{path}: [{key}] must be a table of number = "name"')
    found = {}
    for number, name in section.items():
        if not isinstance(name, str):
            raise NamesError(f"{path}: [{key}] {number} must be a name in quotes")
        # The ACD's ids are digits: a key that is none named nothing, silently, and /range read
        # the figures of a hotline called after it (one of 5,000 digits: a 500). The reports
        # key a hotline as a number ("0501" is 501), an agent as its digits ("012345").
        text = str(number).strip()
        if not (text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS):
            raise NamesError(f"{path}: [{key}] {text[:40]!r} is not a number (the ACD's id)")
        if unsafe := _UNSAFE.search(name):
            raise NamesError(
                f"{path}: [{key}] {text}: the name holds U+{ord(unsafe.group(0)):04X}; a name is one "
                "line of text, without control characters or direction overrides"
            )
        if name.strip():
            found[str(int(text)) if key == "hotlines" else text] = name.strip()
    return found


def load(path: Path) -> Names:
    try:
        # utf-8-sig: a byte order mark (Windows editors write one) made a valid file "not TOML"
        document = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise NamesError(f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise NamesError(f"{path} is not a valid TOML file: {exc}") from None
    return Names(hotlines=_section(document, "hotlines", path), agents=_section(document, "agents", path))


def find(given: Path | None = None) -> Names:
    """The names of ``given``, else of ``$ACD_NAMES``, else of ``acd-names.toml`` here; none
    when no file is named and the default one does not exist."""
    if given is not None:
        return load(given)
    if chosen := os.environ.get(ENVIRONMENT):
        return load(Path(chosen))
    default = Path(DEFAULT_FILE)
    return load(default) if default.is_file() else Names()


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


def dumps(names: Names, comment: str = "") -> str:
    """A names file an operator can go on editing."""
    lines = [f"# {line}" for line in comment.splitlines()]
    for key, section in (("hotlines", names.hotlines), ("agents", names.agents)):
        lines += ["", f"[{key}]"]
        lines += [f"{number} = {_toml_string(name)}" for number, name in section.items()]
    return "\n".join(lines).lstrip("\n") + "\n"
