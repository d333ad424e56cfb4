"""The YAML config file → Settings (polyrelay.settings_types).

The file is read as a `yaml.compose` node tree, so every error names its line. One walker
converts nodes to the field types (via `msgspec.inspect`), so a new section is a new
Struct plus a field on `Settings`. A mapping becomes a Struct (unknown keys are errors) or a
`dict[str, Struct]`, whose entry key fills the Struct's `name` and its `key_defaults` fields.
`${VAR}` expands from the environment (missing: empty), in keys as in values; an optional
value that expands to nothing is None, so `api_key: "${OPENAI_API_KEY}"` with the variable
unset means no key. Single values are checked by kind (polyrelay.settings_values; numbers
must be finite, in `_scalar`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import msgspec
import yaml

from polyrelay.database_url import is_postgres_url
from polyrelay.settings_types import ConfigError, Settings, StaticKey
from polyrelay.settings_values import require_name

__all__ = ["parse_settings"]


class _FileOnly(msgspec.Struct, frozen=True):
    listen: str
    """HOST:PORT, split into Settings.host and Settings.port."""


# Settings fields the file does not set: `listen` fills host/port, the rest come from the CLI
# or from how the settings were found.
_NOT_IN_FILE = frozenset({"host", "port", "workers", "embedded_emulator", "source"})
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_STR_TAG = "tag:yaml.org,2002:str"
_NOT_A_VAR = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*\})")


def parse_settings(text: str, *, source: str, env: Mapping[str, str]) -> Settings:
    """Settings from YAML text; `source` names the file in error messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise ConfigError(f"{source}:{line}: invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    if root is None:
        raise ConfigError(f"{source}: the file is empty; it needs providers and models")
    return _Reader(source, env).settings(root)


class _Reader:
    """Converts one file's node tree; remembers each value's line for the cross-checks."""

    def __init__(self, source: str, env: Mapping[str, str]) -> None:
        self._source = source
        self._env = env
        self._lines: dict[str, int] = {}

    def settings(self, root: yaml.Node) -> Settings:
        fields = {f.name: f for f in _fields(Settings) if f.name not in _NOT_IN_FILE}
        values = self._mapping(root, "", fields | {f.name: f for f in _fields(_FileOnly)})
        if "listen" in values:
            values["host"], values["port"] = self._listen(str(values.pop("listen")))
        values["source"] = self._source
        self._require(Settings, root, "", values)
        static_keys = values.get("keys", ())
        self._check_key_names(static_keys)
        if isinstance(static_keys, tuple):  # an unset ${VAR} switches that key off
            values["keys"] = tuple(k for k in static_keys if isinstance(k, StaticKey) and k.key)
        settings = msgspec.convert(values, Settings)
        self._check_references(settings, explicit_default="default_model" in values)
        self._check_key_models(static_keys, settings.models)
        return settings

    def _check_key_models(self, static_keys: object, models: Mapping[str, object]) -> None:
        """A static key's `models` name configured models, as `keys create --models` must:
        a misspelt name would leave the key refused for the model meant."""
        if not isinstance(static_keys, tuple):
            return
        for index, key in enumerate(static_keys):
            if not isinstance(key, StaticKey):
                continue
            unknown = [m for m in key.models or () if m not in models]
            if unknown:
                path, known = f"keys[{index}].models", ", ".join(models) or "none"
                problem = f"unknown model {unknown[0]!r} (configured: {known})"
                raise self._error_at(path, problem)

    def _error(self, node: yaml.Node, message: str) -> ConfigError:
        return ConfigError(f"{self._source}:{node.start_mark.line + 1}: {message}")

    def _error_at(self, path: str, problem: str) -> ConfigError:
        """The error of the value at `path` (a key of `_lines`), found after reading."""
        return ConfigError(f"{self._source}:{self._lines[path]}: {path}: {problem}")

    def _mapping(
        self, node: yaml.Node, path: str, fields: Mapping[str, msgspec.inspect.Field]
    ) -> dict[str, object]:
        if not isinstance(node, yaml.MappingNode):
            raise self._error(node, f"{path or 'the file'}: expected a mapping of keys")
        values: dict[str, object] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, values)
            sub = f"{path}.{key}" if path else key
            self._lines[sub] = value_node.start_mark.line + 1
            field = fields.get(key)
            if field is None:
                where = f"in {path}" if path else "at top level"
                allowed = ", ".join(fields)
                raise self._error(key_node, f"unknown key {key!r} {where} (allowed: {allowed})")
            values[key] = self._value(value_node, field.type, sub)
        return values

    def _require(
        self, cls: type[msgspec.Struct], node: yaml.Node, path: str, values: Mapping[str, object]
    ) -> None:
        for field in _fields(cls):
            if field.required and field.name not in values:
                where = f"{path}: " if path else ""
                raise self._error(node, f"{where}missing required key {field.name!r}")

    def _value(self, node: yaml.Node, info: msgspec.inspect.Type, path: str) -> object:
        inspect = msgspec.inspect
        if isinstance(info, inspect.StructType):
            return self._struct(node, info.cls, path, key=None)
        if isinstance(info, inspect.DictType):
            return self._dict(node, info.value_type, path)
        if isinstance(info, inspect.VarTupleType):
            if not isinstance(node, yaml.SequenceNode):
                raise self._error(node, f"{path}: expected a list")
            return tuple(
                self._value(n, info.item_type, f"{path}[{i}]") for i, n in enumerate(node.value)
            )
        if isinstance(info, inspect.UnionType):
            return self._optional(node, info, path)
        if not isinstance(node, yaml.ScalarNode):
            raise self._error(node, f"{path}: expected {_describe(info)}")
        return self._scalar(node, info, path)

    def _struct(
        self, node: yaml.Node, cls: type[msgspec.Struct], path: str, key: str | None
    ) -> msgspec.Struct:
        fields = {f.name: f for f in _fields(cls) if key is None or f.name != "name"}
        values = self._mapping(node, path, fields)
        if key is not None:
            values["name"] = key
            for name in getattr(cls, "key_defaults", ()):
                values.setdefault(name, key)
        self._require(cls, node, path, values)
        try:
            return msgspec.convert(values, cls)
        except (msgspec.ValidationError, ValueError) as exc:
            # Checks in a section's __post_init__ (e.g. fetch.allow entries) land here.
            raise self._error(node, f"{path or 'config'}: {exc}") from exc

    def _dict(self, node: yaml.Node, info: msgspec.inspect.Type, path: str) -> dict[str, object]:
        if not isinstance(node, yaml.MappingNode):
            raise self._error(node, f"{path}: expected a mapping of names to entries")
        entries: dict[str, object] = {}
        for key_node, value_node in node.value:
            key = self._entry_name(key_node, entries, path)
            sub = f"{path}.{key}"
            if isinstance(info, msgspec.inspect.StructType):
                entries[key] = self._struct(value_node, info.cls, sub, key=key)
            else:
                entries[key] = self._value(value_node, info, sub)
        return entries

    def _optional(self, node: yaml.Node, info: msgspec.inspect.UnionType, path: str) -> object:
        if isinstance(node, yaml.ScalarNode) and self._raw(node) in (None, ""):
            return None
        others = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        assert len(others) == 1, f"{path}: the walker supports only `T | None` unions"
        return self._value(node, others[0], path)

    def _scalar(self, node: yaml.ScalarNode, info: msgspec.inspect.Type, path: str) -> object:
        value = self._raw(node)
        inspect = msgspec.inspect
        if isinstance(info, inspect.StrType) and value is not None:
            text = value if isinstance(value, str) else node.value
            if info.pattern is not None and re.search(info.pattern, text) is None:
                raise self._error(node, f"{path}: expected {_describe(info)}, got {text!r}")
            return text
        if isinstance(info, inspect.LiteralType) and isinstance(value, bool):
            if node.value in info.values:  # YAML 1.1 reads a bare off / on as a boolean
                return node.value
        elif isinstance(info, inspect.LiteralType) and value in info.values:
            return value
        if isinstance(info, inspect.LiteralType):
            allowed = ", ".join(map(str, info.values))
            shown = node.value if isinstance(value, bool) else value  # `yes`, not True
            raise self._error(node, f"{path}: invalid value {shown!r} (allowed: {allowed})")
        if isinstance(info, inspect.BoolType) and isinstance(value, bool):
            return value
        is_int = isinstance(value, int) and not isinstance(value, bool)
        is_number = is_int or (isinstance(info, inspect.FloatType) and isinstance(value, float))
        if isinstance(info, inspect.IntType | inspect.FloatType) and is_number:
            assert isinstance(value, int | float)
            if not math.isfinite(value):  # .inf passes every lower bound: no timeout at all
                raise self._error(node, f"{path}: expected a finite number, got {node.value}")
            if not _in_range(info, value):
                raise self._error(node, f"{path}: {value} is out of range ({_describe(info)})")
            return value if isinstance(info, inspect.IntType) else float(value)
        raise self._error(node, f"{path}: expected {_describe(info)}, got {node.value!r}")

    def _raw(self, node: yaml.ScalarNode) -> object:
        constructor = yaml.constructor.SafeConstructor()
        if node.tag != _STR_TAG or "${" not in node.value:
            return constructor.construct_object(node, deep=True)
        expanded = self._expanded(node)
        if node.style is not None:  # quoted: stays a string
            return expanded
        resolver = yaml.resolver.Resolver()
        tag = resolver.resolve(yaml.ScalarNode, expanded, (True, False))  # type: ignore[no-untyped-call]
        return constructor.construct_object(yaml.ScalarNode(tag, expanded), deep=True)

    def _expanded(self, node: yaml.ScalarNode) -> str:
        """The node's text with each ${NAME} replaced by the variable (unset: nothing)."""
        if "${" not in node.value:
            return str(node.value)
        if _NOT_A_VAR.search(node.value):
            raise self._error(
                node,
                "only ${NAME} expands from the environment (no ${NAME:-default} or other"
                " forms): set the variable, or write the value itself",
            )
        return _ENV_VAR.sub(lambda m: self._env.get(m.group(1), ""), node.value)

    def _key(self, node: yaml.Node, seen: Mapping[str, object]) -> str:
        """A mapping's key, expanded as values are: a provider, model or header name
        written as ${NAME} is the variable's value, never the text ${NAME}."""
        if not isinstance(node, yaml.ScalarNode):
            raise self._error(node, "keys must be plain names")
        key = self._expanded(node)
        if key in seen:
            raise self._error(node, f"duplicate key {key!r}")
        return key

    def _entry_name(self, node: yaml.Node, seen: Mapping[str, object], path: str) -> str:
        """The name of an entry of `providers`, `models` or `headers`: not blank."""
        name = self._key(node, seen)
        try:
            require_name(f"{path}: entry name", name)
        except ValueError as exc:
            unset = "${" in str(node.value)
            hint = f" ({node.value} expands to nothing: set the variable)" if unset else ""
            raise self._error(node, f"{exc}{hint}") from None
        return name

    def _check_key_names(self, static_keys: object) -> None:
        """A static key's name is its identity (its id is `static:NAME`): two keys of one
        name would share their stored responses, tasks, usage and rate limits. Keys an
        unset ${VAR} switched off count too, so setting the variable cannot merge them."""
        if not isinstance(static_keys, tuple):
            return
        first: dict[str, int] = {}
        for index, key in enumerate(static_keys):
            if not isinstance(key, StaticKey):
                continue
            if key.name in first:
                path, earlier = f"keys[{index}].name", first[key.name]
                earlier_line = self._lines[f"keys[{earlier}].name"]
                problem = (
                    f"duplicate name {key.name!r} (also keys[{earlier}], line {earlier_line});"
                    " give each static key a name of its own: a key's stored responses,"
                    " tasks and usage belong to its name"
                )
                raise self._error_at(path, problem)
            first[key.name] = index

    def _listen(self, text: str) -> tuple[str, int]:
        host, _, port = text.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise self._error_at("listen", f"expected HOST:PORT, got {text!r}")
        return host.strip("[]"), int(port)

    def _check_references(self, settings: Settings, explicit_default: bool) -> None:
        for model in settings.models.values():
            if model.provider not in settings.providers:
                path, defined = f"models.{model.name}.provider", ", ".join(settings.providers)
                problem = f"undefined provider {model.provider!r} (defined: {defined or 'none'})"
                raise self._error_at(path, problem)
        if explicit_default and settings.default_model not in settings.models:
            name, known = settings.default_model, ", ".join(settings.models) or "none"
            raise self._error_at("default_model", f"{name!r} is not among models ({known})")
        if settings.database == "sqlite:///":  # SQLite would open a throwaway database
            problem = "sqlite:/// names no file (e.g. sqlite:///polyrelay.db)"
            raise self._error_at("database", problem)
        postgres = is_postgres_url(settings.database)
        if postgres and _unescaped_credentials(settings.database):
            # libpq would cut the URL at that character and name part of the password as
            # the host (or port, or database) in its errors, the banner and `check`.
            problem = (
                "the user name or password has a character a URL must percent-encode"
                " (@ as %40, / as %2F): e.g. postgresql://user:p%40ss@host:5432/db"
            )
            raise self._error_at("database", problem)
        if settings.database_pool_mode != "session" and not postgres:
            problem = "applies to a PostgreSQL database only (database: postgresql://...)"
            raise self._error_at("database_pool_mode", problem)


def _unescaped_credentials(url: str) -> bool:
    """Whether the user name or password of a postgresql:// URL holds a raw `@` or `/`
    (the last `@` before the query ends them)."""
    authority = url.split("://", 1)[1].split("?", 1)[0]
    credentials, at, _ = authority.rpartition("@")
    return bool(at) and ("@" in credentials or "/" in credentials)


def _fields(cls: type[msgspec.Struct]) -> tuple[msgspec.inspect.Field, ...]:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    return info.fields


def _in_range(info: msgspec.inspect.IntType | msgspec.inspect.FloatType, value: float) -> bool:
    low_ok = (info.ge is None or value >= info.ge) and (info.gt is None or value > info.gt)
    return low_ok and (info.le is None or value <= info.le) and (info.lt is None or value < info.lt)


def _describe(info: msgspec.inspect.Type) -> str:
    inspect = msgspec.inspect
    if isinstance(info, inspect.IntType | inspect.FloatType):
        kind = "an integer" if isinstance(info, inspect.IntType) else "a number"
        limits = [
            f"{op} {bound}"
            for op, bound in ((">=", info.ge), (">", info.gt), ("<=", info.le), ("<", info.lt))
            if bound is not None
        ]
        return kind + (f" {' and '.join(limits)}" if limits else "")
    if isinstance(info, inspect.StrType) and info.pattern is not None:
        return f"a string matching {info.pattern}"
    names = {inspect.StrType: "a string", inspect.BoolType: "true or false"}
    return names.get(type(info), "a mapping" if isinstance(info, inspect.StructType) else "a value")
