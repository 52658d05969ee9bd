"""The parser every ``rsir`` command uses: an unknown option or command gets a short error with a
"did you mean" suggestion instead of a usage dump."""

from __future__ import annotations

import difflib
import re
import sys
from typing import Any

from jsonargparse import ArgumentParser


class CommandParser(ArgumentParser):
    """jsonargparse's parser with short errors: the problem, a suggestion for a mistyped option
    or command, and where the full help is, instead of the whole usage first."""

    def error(self, message: str, ex: Exception | None = None) -> Any:  # type: ignore[override]
        if not self.exit_on_error:
            return super().error(message, ex)
        parser = getattr(ex, "subcommand_parser", None) or self
        prog = parser.prog.replace(" [options]", "")
        lines = [f"{prog}: error: {message.strip()}"]
        hint = _suggestion(parser, message)
        if hint:
            lines.append(f"  {hint}")
        lines.append(f"  ({prog} --help lists the options)")
        sys.stderr.write("\n".join(lines) + "\n")
        self.exit(2)


def _suggestion(parser: ArgumentParser, message: str) -> str | None:
    """'did you mean ...?' for the first unknown option or invalid choice of ``message``."""
    unknown = re.search(r"unrecognized arguments: (\S+)", message)
    if unknown:
        given = unknown.group(1).split("=", 1)[0]
        known = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
        close = difflib.get_close_matches(given, known, n=1, cutoff=0.6)
        return f"did you mean {close[0]}?" if close else None
    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice:
        options = re.findall(r"'([^']*)'", choice.group(2))
        close = difflib.get_close_matches(choice.group(1), options, n=1, cutoff=0.5)
        return f"did you mean {close[0]!r}?" if close else None
    return None
