"""Read a config file: YAML, ``${VAR}`` interpolation, ``*_file`` secrets, one-line errors per problem."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from sesmon import config_yaml, redact
from sesmon.config import Config

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """One or more problems with a config file, each a single line naming its key path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate ``path``; raise :class:`ConfigError` with one line per problem."""
    env = os.environ if environ is None else environ
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{file}: file not found"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{file}: is a directory, not a config file"]) from None
    except PermissionError:
        raise ConfigError([f"{file}: permission denied"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{file}: not UTF-8 text"]) from None
    return parse_config(text, env, source=str(file))


def parse_config(text: str, environ: Mapping[str, str], source: str = "<config>") -> Config:
    """Validate YAML ``text``; the secrets it pulls in are registered for redaction."""
    try:
        raw, _ = config_yaml.load(text)
    except config_yaml.YamlError as exc:
        raise ConfigError([f"{source}: invalid YAML at {exc}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "unknown position"
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError([f"{source}: invalid YAML at {where}: {problem}"]) from None
    if raw is None:
        raise ConfigError([f"{source}: file is empty; see config.example.yaml"])
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: top level must be a mapping of keys, not {type(raw).__name__}"])

    resolver = _Resolver(environ, Path(source).parent)
    resolved = resolver.resolve(raw, ())
    if resolver.problems:
        raise ConfigError([f"{source}: {p}" for p in resolver.problems])
    try:
        config = Config.model_validate(resolved)
    except ValidationError as exc:
        problems = [_describe(err) for err in exc.errors(include_url=False, include_input=False)]
        raise ConfigError([f"{source}: {redact.redact(p, resolver.substituted)}" for p in problems]) from None
    redact.register(*_secret_values(config))
    return config


class _Resolver:
    """Walks the raw YAML, interpolating ``${VAR}`` and reading ``*_file`` secrets."""

    def __init__(self, environ: Mapping[str, str], base: Path) -> None:
        self.environ = environ
        self.base = base
        self.problems: list[str] = []
        self.substituted: set[str] = set()

    def resolve(self, node: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(node, dict):
            return self._mapping(node, path)
        if isinstance(node, list):
            return [self.resolve(item, (*path, i)) for i, item in enumerate(node)]
        if isinstance(node, str):
            return self._interpolate(node, path)
        return node

    def _mapping(self, node: dict[Any, Any], path: tuple[str | int, ...]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, value in node.items():
            key_path = (*path, str(key))
            if isinstance(key, str) and key.endswith("_file") and key != "_file":
                target = key[: -len("_file")]
                if target in node:
                    self.problems.append(f"{_format_path(key_path)}: give either {target} or {key}, not both")
                    continue
                content = self._read_secret(self.resolve(value, key_path), key_path)
                if content is not None:
                    out[target] = content
                continue
            out[key] = self.resolve(value, key_path)
        return out

    def _read_secret(self, value: Any, path: tuple[str | int, ...]) -> str | None:
        if not isinstance(value, str):
            self.problems.append(f"{_format_path(path)}: must be a file path")
            return None
        file = Path(value) if Path(value).is_absolute() else self.base / value
        try:
            content = file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            self.problems.append(f"{_format_path(path)}: secret file {value} not found")
            return None
        except OSError as exc:
            self.problems.append(f"{_format_path(path)}: cannot read secret file {value}: {exc.strerror}")
            return None
        if not content:
            self.problems.append(f"{_format_path(path)}: secret file {value} is empty")
            return None
        self.substituted.add(content)
        return content

    def _interpolate(self, text: str, path: tuple[str | int, ...]) -> str:
        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = self.environ.get(name)
            if value is None or (value == "" and default is not None):
                if default is None:
                    self.problems.append(
                        f"{_format_path(path)}: environment variable {name} is not set "
                        f"(use ${{{name}:-default}} for a fallback)"
                    )
                    return ""
                value = default
            self.substituted.add(value)
            return value

        return _VAR.sub(replace, text)


def _format_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _describe(error: Any) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    kind = error["type"]
    message: str = error["msg"]
    if kind == "missing":
        message = "field required"
    elif kind == "extra_forbidden":
        message = "unknown key" + _suggestion(loc)
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
    elif kind == "assertion_error":
        message = message.removeprefix("Assertion failed, ")
    message = message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message
    key = _format_path(loc)
    # Model-level validators put their own key path at the start of the message.
    return f"{key}: {message}" if key else message


def _suggestion(loc: tuple[str | int, ...]) -> str:
    if not loc or not isinstance(loc[-1], str):
        return ""
    fields = _fields_at(loc[:-1])
    close = difflib.get_close_matches(loc[-1], fields, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _fields_at(loc: tuple[str | int, ...]) -> list[str]:
    model: Any = Config
    for part in loc:
        if isinstance(part, int):
            continue
        is_model = isinstance(model, type) and issubclass(model, BaseModel)
        field = model.model_fields.get(part) if is_model else None
        if field is None:
            return []
        model = _model_of(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or name for name, f in model.model_fields.items()]
    return []


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _secret_values(config: Config) -> list[str]:
    values: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, SecretStr):
            values.append(node.get_secret_value())
        elif isinstance(node, BaseModel):
            for name in type(node).model_fields:
                walk(getattr(node, name))
        elif isinstance(node, tuple | list):
            for item in node:
                walk(item)

    walk(config)
    return values
