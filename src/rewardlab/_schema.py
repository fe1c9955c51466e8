"""Values checked against their declared types: the one mechanism behind ``--set`` hyperparameters,
world-spec options and the JSON metadata of saved files.

* :func:`coerce` reads a value as an annotation declares it (``int``, ``float``, ``bool``, ``str``,
  ``Literal``, ``X | None``, ``tuple[...]``, ``list[...]``, ``dict[...]``, a class): pydantic converts
  it (one ``TypeAdapter`` per annotation), from command-line text split by the declared type only
  (``"64,64"`` for ``tuple[int, ...]``), or strictly from a Python / JSON / TOML value.
* :func:`apply_settings` checks ``key=value`` settings against a config dataclass or a function's
  signature: unknown keys are refused with a suggestion, values by the field's type
  (``"trex.steps"`` sets a field of the nested config ``trex``).
* :func:`config_table` writes a config dataclass as a TOML-ready table and :func:`from_table`
  reads it back (``from_table(cls, config_table(c), name) == c``), checked like :func:`apply_settings`.
* :func:`check_meta` checks a file's decoded JSON against a ``TypedDict`` schema.

Failures are :class:`~rewardlab.errors.ConfigError` (settings) or
:class:`~rewardlab.errors.DataFileError` (files) naming the key, what it is and what is expected.

Examples:
    >>> coerce("64,64", tuple[int, ...])
    (64, 64)
    >>> coerce("none", int | None) is None
    True
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Config:
    ...     iterations: int = 200
    ...     lr: float = 0.1
    >>> apply_settings(Config, {"iterations": "300", "lr": "1e-3"}, "demo")
    {'iterations': 300, 'lr': 0.001}
    >>> apply_settings(Config, {"iteration": "3"}, "demo")
    Traceback (most recent call last):
    ...
    rewardlab.errors.ConfigError: iteration: is not a setting of demo. Fix: did you mean 'iterations'? use one of ['iterations', 'lr'].
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

import pydantic

from rewardlab.errors import ConfigError, DataFileError, ValidationError

__all__ = [
    "apply_settings",
    "check_meta",
    "coerce",
    "config_table",
    "declared_fields",
    "describe",
    "did_you_mean",
    "from_table",
    "is_config_group",
]

_NONE_TEXT = ("none", "null")


class Mismatch(Exception):
    """Raised by :func:`coerce` when a value does not fit its annotation (callers turn it into a rewardlab error)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"did you mean 'x'? "`` for the closest of ``choices`` (difflib), or ``""`` when none is close.

    Examples:
        >>> did_you_mean("iteratons", ["iterations", "lr"])
        "did you mean 'iterations'? "
    """
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def describe(annotation: Any) -> str:
    """What an annotation asks for, in words.

    Examples:
        >>> describe(int | None)
        'an integer or none'
        >>> describe(Literal["adam", "gd"])
        "one of 'adam', 'gd'"
    """
    origin, args = get_origin(annotation), get_args(annotation)
    if _is_union(annotation):
        words = [describe(a) for a in args if a is not type(None) and not _is_callable(a)]
        return " or ".join(words + (["none"] if type(None) in args else []))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of " + ", ".join(repr(member.value) for member in annotation)
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "an integer"
    if annotation is float:
        return "a finite number"
    if annotation is str:
        return "a string"
    if typing.is_typeddict(annotation):
        return "an object with keys " + ", ".join(typing.get_type_hints(annotation))
    if origin is list:
        return f"a list, each {describe(args[0]) if args else 'value'}"
    if origin is tuple:
        if origin is tuple and args and args[-1] is not Ellipsis:
            if all(a is int for a in args):
                return f"{len(args)} integers separated by 'x' or ',' (e.g. {'x'.join(['4'] * len(args))})"
            return f"{len(args)} comma-separated values ({', '.join(describe(a) for a in args)})"
        inner = describe(args[0]) if args else "value"
        return f"comma-separated values, each {inner}"
    if origin is dict or annotation is dict:
        return "a JSON object"
    if dataclasses.is_dataclass(annotation):
        return "a group of settings"
    return getattr(annotation, "__name__", str(annotation))


def _is_callable(annotation: Any) -> bool:
    return get_origin(annotation) is Callable or annotation is Callable


def _guess(text: str) -> Any:
    """Command-line text for a value whose type is not declared (``Any``, an unannotated parameter):
    bool, None, int, float, else the string itself. The one place a type is guessed from text."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in _NONE_TEXT:
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


#: Floats must be finite everywhere (a NaN learning rate is a mistake, not a setting).
_PYDANTIC_CONFIG = pydantic.ConfigDict(allow_inf_nan=False)


@functools.lru_cache(maxsize=512)
def _cached_adapter(annotation: Any) -> pydantic.TypeAdapter[Any] | None:
    try:
        return pydantic.TypeAdapter(annotation, config=_PYDANTIC_CONFIG)
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, NameError, TypeError):
        return None  # a class pydantic has no schema for, an unresolved name: the fallbacks in coerce


def _adapter(annotation: Any) -> pydantic.TypeAdapter[Any] | None:
    """The pydantic ``TypeAdapter`` of ``annotation`` (built once per annotation), or ``None`` when
    pydantic cannot build a schema for it."""
    try:
        return _cached_adapter(annotation)
    except TypeError:  # an unhashable annotation: build it each time
        return _cached_adapter.__wrapped__(annotation)


#: an integer written with an exponent, e.g. ``1e6`` or ``2.5e5`` (command-line text for an ``int``)
_EXPONENT = re.compile(r"[+-]?\d+(\.\d*)?[eE]\+?\d+")


def _shape(text: str, annotation: Any) -> Any:
    """Command-line text split by the declared type only, for pydantic to convert the pieces.

    An ``int`` written with an exponent (``"1e6"``, ``"2.5e5"``) is that integer when it is one exactly.
    A tuple or list is split on ``,`` or ``:`` (and ``x`` when its items are numbers: ``"4x5"``), each
    piece shaped by the item type; ``"none"``/``"null"`` is ``None`` where the type allows it; a dict
    is read as a JSON object; an item of undeclared type is guessed (:func:`_guess`). Anything else
    is left as text (stripped, except for ``str``).
    """
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is Any:
        return _guess(text)
    if _is_union(annotation):
        if type(None) in args and text.strip().lower() in _NONE_TEXT:
            return None
        members = [a for a in args if a is not type(None)]
        return _shape(text, members[0]) if len(members) == 1 else text
    if origin in (tuple, list):
        fixed = origin is tuple and bool(args) and args[-1] is not Ellipsis
        kinds = list(args) if fixed else [args[0] if args else Any]
        numeric = all(k in (int, float) for k in kinds)
        body = text.strip().strip("()[]").strip()
        pieces = [part.strip() for part in re.split(r"[,:x]" if numeric else r"[,:]", body)] if body else []
        if fixed and len(pieces) != len(kinds):
            raise Mismatch
        return [_shape(piece, kinds[i] if fixed else kinds[0]) for i, piece in enumerate(pieces)]
    if origin is dict or annotation is dict:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise Mismatch from None
    if annotation is int and _EXPONENT.fullmatch(text.strip()):
        number = float(text)  # "2e5" steps: an integer written with an exponent (pydantic reads integer digits only)
        if not (math.isfinite(number) and number.is_integer() and abs(number) <= 2**53):
            raise Mismatch
        return int(number)
    return text if annotation is str else text.strip()


def _validate(adapter: pydantic.TypeAdapter[Any], value: Any) -> Any:
    """``value`` validated strictly (no conversion from text): as a Python value, or else as the JSON
    it would be written as (a JSON/TOML array is then a tuple)."""
    try:
        return adapter.validate_python(value, strict=True)
    except pydantic.ValidationError:
        pass
    try:
        encoded = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        raise Mismatch from None
    try:
        return adapter.validate_json(encoded, strict=True)
    except pydantic.ValidationError:
        raise Mismatch from None


def coerce(value: Any, annotation: Any, *, text: bool = True) -> Any:
    """``value`` as ``annotation`` declares it, or raise :class:`Mismatch`.

    pydantic does the conversion (a ``TypeAdapter`` per annotation, non-finite floats refused). With
    ``text=True`` a string is command-line text: it is only split by the declared type
    (:func:`_shape`: ``"64,64"`` or ``"4x5"`` for a tuple of ints, ``"none"`` for an optional, a JSON
    object for a ``dict``) and pydantic's lax mode converts the pieces (``"3"`` to an ``int``,
    ``"1e-3"`` to a ``float``, ``"true"`` to a ``bool``); other values, and every value with
    ``text=False`` (JSON metadata, TOML), are validated strictly: they must already have their type,
    except that a JSON array is a tuple and an ``int`` is a ``float``. A union is tried member by
    member, left to right. A value for ``Any`` or an unannotated parameter passes, guessed from
    command-line text (the one place a type is guessed). Annotations pydantic has no schema for
    (a class, an unresolved name) are checked with ``isinstance`` where they are a class, else let through.

    Examples:
        >>> coerce("4x5", tuple[int, int])
        (4, 5)
        >>> coerce("1e-3,true", tuple[float, bool])
        (0.001, True)
        >>> coerce(3, float)
        3.0
        >>> coerce([64, 64], tuple[int, ...], text=False)
        (64, 64)
        >>> coerce("2", int, text=False)
        Traceback (most recent call last):
        ...
        rewardlab._schema.Mismatch
        >>> coerce("inf", float)
        Traceback (most recent call last):
        ...
        rewardlab._schema.Mismatch
    """
    is_text = text and isinstance(value, str)
    if annotation is Any or annotation is inspect.Parameter.empty or isinstance(annotation, (str, typing.ForwardRef)):
        return _guess(value) if is_text else value
    if _is_union(annotation):
        args = get_args(annotation)
        if type(None) in args and (value is None or (is_text and value.strip().lower() in _NONE_TEXT)):
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, text=text)
            except Mismatch:
                continue
        raise Mismatch
    if typing.is_typeddict(annotation):  # by key, so that extra keys are kept for newer writers
        if not isinstance(value, dict):
            raise Mismatch
        required: frozenset[str] = getattr(annotation, "__required_keys__", frozenset())
        out = dict(value)
        for key, inner in typing.get_type_hints(annotation).items():
            if key in value:
                out[key] = coerce(value[key], inner, text=text)
            elif key in required:
                raise Mismatch
        return out
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):  # a nested config: an instance only
        if isinstance(value, annotation):
            return value
        raise Mismatch
    adapter = _adapter(annotation)
    if adapter is None:
        if isinstance(annotation, type):
            if isinstance(value, annotation):
                return value
            raise Mismatch
        return _guess(value) if is_text else value  # not checkable here
    if not is_text:
        return _validate(adapter, value)
    try:
        return adapter.validate_python(_shape(value, annotation), strict=False)
    except pydantic.ValidationError:
        raise Mismatch from None


def declared_fields(target: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(annotations, defaults)`` of a dataclass's init fields or a function's (a class's constructor's) keyword parameters."""
    if dataclasses.is_dataclass(target) and isinstance(target, type):
        hints = typing.get_type_hints(target)
        annotations, defaults = {}, {}
        for f in dataclasses.fields(target):
            if f.init:
                annotations[f.name] = hints.get(f.name, Any)
                if f.default is not dataclasses.MISSING:
                    defaults[f.name] = f.default
                elif f.default_factory is not dataclasses.MISSING:
                    defaults[f.name] = f.default_factory()
        return annotations, defaults
    function = target.__init__ if isinstance(target, type) else target  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(function)
    except (NameError, TypeError):  # names only imported for type checkers: take the annotations as written
        hints = {}
    annotations, defaults = {}, {}
    for name, p in inspect.signature(function).parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotations[name] = hints.get(name, p.annotation)
        if p.default is not p.empty:
            defaults[name] = p.default
    return annotations, defaults


def _allows_none(annotation: Any) -> bool:
    return annotation is None or annotation is type(None) or (_is_union(annotation) and type(None) in get_args(annotation))


def is_config_group(annotation: Any) -> bool:
    """Whether ``annotation`` is a nested config (a dataclass class) whose fields are settings too."""
    return dataclasses.is_dataclass(annotation) and isinstance(annotation, type)


def apply_settings(
    target: Any,
    settings: Mapping[str, Any],
    name: str,
    *,
    fixed: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
    prefix: str = "",
    text: bool = True,
) -> dict[str, Any]:
    """Check ``settings`` against the fields of ``target`` (a config dataclass, or a function or class
    whose keyword parameters are the settings) and return them with their declared types.

    Values are read by each field's type (:func:`coerce`): with ``text=True`` a string is
    command-line text (``"300"`` for an ``int``); with ``text=False`` (values from a TOML file) a value
    must already have its type, except that the string ``"none"`` is ``None`` for a field that allows
    it (TOML has no null). A key ``"outer.inner"`` sets the field ``inner`` of the nested config
    dataclass ``outer``, and so does a dict value for ``outer`` (a TOML table ``[outer]``), the two
    merged (the result then holds the whole nested config). ``fixed``: keys the caller sets itself,
    refused; ``extra``: further keys and their types that the caller consumes; ``prefix`` goes before
    the keys named in errors (``"trex."``). Range checks stay with the config (``__post_init__``).

    Raises:
        ConfigError: naming the key: an unknown key (with a did-you-mean and the valid keys), a
            value of the wrong type (with the expected type and the default), a fixed key, a key
            given twice (as ``trex.steps`` and inside a ``trex`` table).
    """
    annotations, defaults = declared_fields(target)
    annotations.update(extra or {})
    banned = set(fixed)
    valid = sorted(k for k in annotations if k not in banned)
    flat: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in settings.items():
        head, dot, rest = key.partition(".")
        if head in banned:
            raise ConfigError(prefix + key, f"is set by {name} itself", f"leave it out; the settings are {valid}")
        if head not in annotations:
            raise ConfigError(prefix + key, f"is not a setting of {name}", f"{did_you_mean(head, valid)}use one of {valid}")
        annotation = annotations[head]
        is_group = is_config_group(annotation)
        if dot or (is_group and isinstance(value, Mapping)):
            if not is_group:
                raise ConfigError(prefix + key, f"{head!r} of {name} has no sub-settings", f"set it as {head}=...")
            group = nested.setdefault(head, {})
            for inner_key, inner_value in ({rest: value} if dot else value).items():
                if inner_key in group:
                    raise ConfigError(f"{prefix}{head}.{inner_key}", "is given twice", "give each setting once")
                group[inner_key] = inner_value
            continue
        if is_group and not isinstance(value, annotation):
            first = dataclasses.fields(annotation)[0].name
            raise ConfigError(
                prefix + key, f"is a group of settings of {name}", f"set its fields one by one, e.g. {head}.{first}=..., or give a table"
            )
        if not text and isinstance(value, str) and value.strip().lower() in _NONE_TEXT and _allows_none(annotation):
            flat[key] = None
            continue
        try:
            flat[key] = coerce(value, annotation, text=text)
        except Mismatch:
            default = f" (default {defaults[key]!r})" if key in defaults else ""
            raise ConfigError(
                prefix + key, f"is {value!r}, not {describe(annotation)}", f"give {describe(annotation)} for {name}{default}"
            ) from None
    for head, values in nested.items():
        inner_cls = annotations[head]
        base = flat.get(head, defaults.get(head))
        inner = apply_settings(inner_cls, values, f"{name}.{head}", prefix=f"{prefix}{head}.", text=text)
        if base is not None:
            try:
                flat[head] = dataclasses.replace(base, **inner)
            except ValidationError as exc:  # the nested config's own check (a range, a size): named with its group
                raise type(exc)(f"{prefix}{head}.{exc.field}", exc.problem, exc.fix) from None
        else:
            flat[head] = _construct(inner_cls, inner, f"{name}.{head}", f"{prefix}{head}.")
    return flat


def _construct(cls: Any, values: dict[str, Any], name: str, prefix: str) -> Any:
    """``cls(**values)`` with a missing required field, and the config's own checks, named with ``prefix``."""
    annotations, defaults = declared_fields(cls)
    for key, annotation in annotations.items():
        if key not in values and key not in defaults:
            fix = f"set {prefix + key} to {describe(annotation)}"
            if is_config_group(annotation):
                fix = f"give its settings as a table [{prefix + key}] (or as {prefix + key}.{dataclasses.fields(annotation)[0].name}=...)"
            raise ConfigError(prefix + key, f"is missing (a required setting of {name})", fix)
    try:
        return cls(**values)
    except ValidationError as exc:
        raise ConfigError(prefix + exc.field, exc.problem, exc.fix) from None


def _table_value(value: Any) -> Any:
    """One value as TOML writes it: a nested config as a table, a tuple as a list, an enum as its value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return config_table(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [_table_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _table_value(v) for k, v in value.items()}
    return value


def config_table(config: Any) -> dict[str, Any]:
    """A config dataclass as a TOML-ready table: every init field (defaults filled in), tuples as
    lists, nested configs as nested tables, enums as their values, ``None`` left out when it is the
    field's default and written ``"none"`` otherwise (TOML has no null). :func:`from_table` reads it back.

    Examples:
        >>> from rewardlab.prefs.drex import DREXConfig
        >>> table = config_table(DREXConfig(max_steps=50))
        >>> table["max_steps"], table["bc_hidden"], table["trex"]["snippet"]
        (50, [256, 256], [50, 100])
        >>> "max_steps" in config_table(DREXConfig())
        False
    """
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        raise TypeError(f"config_table takes a dataclass instance, not {type(config).__name__}")
    _, defaults = declared_fields(type(config))
    table: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        if not f.init:
            continue
        value = getattr(config, f.name)
        if value is None:
            if f.name not in defaults or defaults[f.name] is not None:
                table[f.name] = "none"
            continue
        table[f.name] = _table_value(value)
    return table


def from_table(cls: type, table: Mapping[str, Any], name: str, *, fixed: Iterable[str] = (), prefix: str = "", text: bool = False) -> Any:
    """The config dataclass ``cls`` from a table such as :func:`config_table` writes (a TOML table:
    nested tables for nested configs, ``"none"`` for ``None``), each value checked by its field's
    type (:func:`apply_settings`; ``text=True`` also reads strings as command-line text, for
    ``--set`` values merged into the table), then by the config's own checks.

    ``fixed``: fields the caller sets itself; a mapping gives their values (``LearnerSpec.fixed``),
    and the table may then repeat a fixed field with the same value. ``prefix`` goes before the keys
    named in errors (``"learner."``).

    Raises:
        ConfigError: naming the dotted key: an unknown key (with a did-you-mean and the valid keys),
            a value of the wrong type, a value out of range, a required field that is missing.

    Examples:
        >>> from rewardlab.prefs.drex import DREXConfig
        >>> from_table(DREXConfig, {"rollouts": 3, "trex": {"steps": 500}}, "drex").trex.steps
        500
        >>> from_table(DREXConfig, {"trex": {"step": 500}}, "drex")
        Traceback (most recent call last):
        ...
        rewardlab.errors.ConfigError: trex.step: is not a setting of drex.trex. Fix: did you mean 'steps'? use one of ['architecture', 'aux', 'aux_batch', 'aux_weight', 'batch_size', 'device', 'ensemble', 'hidden', 'lr', 'margin', 'min_gap', 'noise', 'normalize', 'pairs', 'report_every', 'snippet', 'steps', 'ties', 'use_action', 'validation', 'weight_decay'].
    """
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        raise TypeError(f"from_table takes a dataclass class, not {cls!r}")
    if not isinstance(table, Mapping):
        raise ConfigError(prefix.rstrip(".") or name, f"is {table!r}, not a table", f"give the settings of {name} as a table")
    given = dict(table)
    preset: dict[str, Any] = dict(fixed) if isinstance(fixed, Mapping) else {}
    annotations, _ = declared_fields(cls)
    for key, value in preset.items():  # a fixed field repeated with its own value (a resolved config read back)
        if key in given:
            try:
                same = coerce(given[key], annotations.get(key, Any), text=text) == value
            except Mismatch:
                same = False
            if same:
                del given[key]
    values = apply_settings(cls, given, name, fixed=fixed, prefix=prefix, text=text)
    return _construct(cls, {**values, **preset}, name, prefix)


def check_meta(meta: Any, schema: Any, where: str, fix: str) -> dict[str, Any]:
    """Check decoded JSON ``meta`` against the ``TypedDict`` ``schema``: an object with every required
    key, each value of its declared type (no text conversion; extra keys are kept for newer writers).

    ``where`` names the file and ``fix`` says how to get a good one; a mismatch raises
    :class:`DataFileError` naming the key.

    Examples:
        >>> from typing import TypedDict
        >>> class Meta(TypedDict):
        ...     count: int
        >>> check_meta({"count": 2}, Meta, "x.json", "re-save it")
        {'count': 2}
        >>> check_meta({"count": "2"}, Meta, "x.json", "re-save it")
        Traceback (most recent call last):
        ...
        rewardlab.errors.DataFileError: x.json: 'count' is '2', not an integer. Fix: re-save it
    """
    if not isinstance(meta, dict):
        raise DataFileError(f"{where}: is a JSON {type(meta).__name__}, not an object. Fix: {fix}")
    hints = typing.get_type_hints(schema)
    required = getattr(schema, "__required_keys__", frozenset(hints))
    out = dict(meta)
    for key, annotation in hints.items():
        if key not in meta:
            if key in required:
                raise DataFileError(f"{where}: has no {key!r}. Fix: {fix}")
            continue
        try:
            out[key] = coerce(meta[key], annotation, text=False)
        except Mismatch:
            shown = repr(meta[key])
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            raise DataFileError(f"{where}: {key!r} is {shown}, not {describe(annotation)}. Fix: {fix}") from None
    return out
