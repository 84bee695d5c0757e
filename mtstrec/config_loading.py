"""Build typed dataclass configs from TOML/JSON files and `key=value` overrides.

Validation is pydantic's: every dataclass of a config tree rejects unknown keys, values are
coerced the way a TOML file or a command line writes them ("3" -> 3, "true" -> True), and an
error names the dotted key, what was expected and what was given.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pydantic

T = TypeVar("T")
Item = TypeVar("Item")


class ConfigError(ValueError):
    """A config file or override does not fit the config's typed fields."""


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# A list that a command-line override may also give as "a,b,c".
CommaList = Annotated[list[Item], pydantic.BeforeValidator(_split_commas)]


def _forbid_unknown_keys(cls: type) -> None:
    """Make `cls` and every dataclass below it reject unknown keys (pydantic ignores them by default)."""
    if "__pydantic_config__" not in vars(cls):
        cls.__pydantic_config__ = pydantic.ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    for hint in typing.get_type_hints(cls, include_extras=False).values():
        for candidate in (hint, *typing.get_args(hint)):
            if isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
                _forbid_unknown_keys(candidate)


@functools.cache
def _adapter(cls: type[T]) -> pydantic.TypeAdapter[T]:
    _forbid_unknown_keys(cls)
    return pydantic.TypeAdapter(cls)


def _describe(error: Any, where: str) -> str:
    key = ".".join([where, *(str(part) for part in error["loc"])])
    if error["type"] == "unexpected_keyword_argument":
        return f"{key}: unknown key"
    if error["type"] == "value_error":  # raised by a config's own __post_init__, which names the field
        return f"{key}: {error['ctx']['error']}"
    return f"{key}: {error['msg']} (got {error['input']!r})"


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass `cls` from a nested dict, checking names and types."""
    try:
        return _adapter(cls).validate_python(data)
    except pydantic.ValidationError as exc:
        raise ConfigError("; ".join(_describe(error, where) for error in exc.errors())) from exc


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a dataclass config."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def _parse_override_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides to a nested dict (values parsed as JSON when they can be)."""
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {override!r} is not of the form key=value")
        key, text = override.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {override!r}: {part!r} is not a table")
        node[parts[-1]] = _parse_override_value(text)
    return data


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from exc


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Defaults of `cls`, then the file at `path`, then `key=value` overrides."""
    data = read_config_file(path) if path else {}
    data = apply_overrides(data, list(overrides or []))
    defaults = to_dict(cls())
    return from_dict(cls, _merge(defaults, data))
