"""How a config section refuses an impossible value: by raising ConfigError naming the option."""

from __future__ import annotations

import dataclasses
from typing import Any


class ConfigError(ValueError):
    """An option has an impossible value; the message names the option."""


def check(cond: bool, option: str, message: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"{option} {message} (got {value!r})")


def choice(value: Any, option: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{option}: unknown value {value!r}; choose one of {', '.join(choices)}")


def from_dict(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    """Build a config dataclass from a dict, rejecting unknown keys by name."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in values if k not in names]
    if unknown:
        opt = ", ".join(f"{prefix}.{k}" if prefix else k for k in unknown)
        raise ConfigError(f"unknown option(s) {opt}; known: {', '.join(names)}")
    return cls(**values)
