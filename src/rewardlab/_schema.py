"""Values checked against their declared types: the one mechanism behind ``--set`` hyperparameters,
world-spec options and the JSON metadata of saved files.

* :func:`coerce` reads a value as an annotation declares it (``int``, ``float``, ``bool``, ``str``,
  ``Literal``, ``X | None``, ``tuple[...]``, ``list[...]``, ``dict[...]``, a class), from command-line
  text (``"64,64"`` for ``tuple[int, ...]``) or as a Python / JSON value.
* :func:`apply_settings` checks ``key=value`` settings against a config dataclass or a function's
  signature: unknown keys are refused with a suggestion, values by the field's type
  (``"trex.steps"`` sets a field of the nested config ``trex``).
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
import inspect
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Union, get_args, get_origin

from rewardlab.errors import ConfigError, DataFileError, ValidationError

__all__ = ["apply_settings", "check_meta", "coerce", "describe", "did_you_mean"]

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
    """A value without a declared type: bool, None, int, float, else the string itself."""
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


def _number(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise Mismatch from None


def _items(value: Any, numeric: bool, text: bool) -> list[Any]:
    """The elements of a sequence value; command-line text is split on ``,`` or ``:`` (and ``x`` for numbers, ``4x5``)."""
    if text and isinstance(value, str):
        body = value.strip().strip("()[]").strip()
        if not body:
            return []
        return [part.strip() for part in re.split(r"[,:x]" if numeric else r"[,:]", body)]
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return [value]  # one number (or string) for a variable-length tuple: a 1-tuple
    raise Mismatch


def coerce(value: Any, annotation: Any, *, text: bool = True) -> Any:
    """``value`` as ``annotation`` declares it, or raise :class:`Mismatch`.

    With ``text=True`` a string is read as command-line text by the declared type (``"3"`` for an
    ``int``, ``"64,64"`` or ``"4x5"`` for a tuple of ints, a JSON object for a ``dict``); with
    ``text=False`` (JSON files) values must already have their type. Floats must be finite; an
    integral float is accepted as an ``int`` only from text. Annotations that cannot be checked
    (callables, unresolved names) let the value through.

    Examples:
        >>> coerce("4x5", tuple[int, int])
        (4, 5)
        >>> coerce(3, float)
        3.0
        >>> coerce("inf", float)
        Traceback (most recent call last):
        ...
        rewardlab._schema.Mismatch
    """
    origin, args = get_origin(annotation), get_args(annotation)
    is_text = text and isinstance(value, str)
    if annotation is Any or annotation is inspect.Parameter.empty or isinstance(annotation, (str, typing.ForwardRef)):
        return _guess(value) if is_text else value
    if _is_union(annotation):
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
    if origin is Literal:
        for choice in args:
            if value == choice and type(value) is type(choice):
                return choice
            if is_text and isinstance(choice, str) and value.strip() == choice:
                return choice
        raise Mismatch
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if is_text and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise Mismatch
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if is_text:
            number = _number(value)
            if math.isfinite(number) and number.is_integer():
                return int(number)
        raise Mismatch
    if annotation is float:
        if is_text:
            value = _number(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise Mismatch
    if annotation is str:
        if isinstance(value, str):
            return value
        raise Mismatch
    if typing.is_typeddict(annotation):
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
    if origin in (tuple, list):
        fixed = origin is tuple and bool(args) and args[-1] is not Ellipsis
        kinds = list(args) if fixed else [args[0] if args else Any]
        numeric = all(k in (int, float) for k in kinds)
        items = _items(value, numeric, text)
        if fixed and len(items) != len(kinds):
            raise Mismatch
        elements = [coerce(item, kinds[i] if fixed else kinds[0], text=text) for i, item in enumerate(items)]
        return tuple(elements) if origin is tuple else elements
    if origin is dict or annotation is dict:
        if is_text:
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise Mismatch from None
        if not isinstance(value, dict):
            raise Mismatch
        key_type, value_type = args if len(args) == 2 else (Any, Any)
        return {coerce(k, key_type, text=False): coerce(v, value_type, text=text) for k, v in value.items()}
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):  # type: ignore[arg-type]
            return value
        raise Mismatch
    if isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
        raise Mismatch
    return _guess(value) if is_text else value  # Callable, TypeVar, ...: not checkable here


def _declared(target: Any) -> tuple[dict[str, Any], dict[str, Any]]:
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


def apply_settings(
    target: Any,
    settings: Mapping[str, Any],
    name: str,
    *,
    fixed: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
    prefix: str = "",
) -> dict[str, Any]:
    """Check ``settings`` against the fields of ``target`` (a config dataclass, or a function or class
    whose keyword parameters are the settings) and return them with their declared types.

    Command-line text is read by each field's type (:func:`coerce`); a key ``"outer.inner"`` sets
    the field ``inner`` of the nested config dataclass ``outer`` (the result then holds the whole
    nested config). ``fixed``: keys the caller sets itself, refused; ``extra``: further keys and their
    types that the caller consumes; ``prefix`` goes before the keys named in errors (``"trex."``).
    Range checks stay with the config (``__post_init__``).

    Raises:
        ConfigError: naming the key: an unknown key (with a did-you-mean and the valid keys), a
            value of the wrong type (with the expected type and the default), a fixed key.
    """
    annotations, defaults = _declared(target)
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
        is_group = dataclasses.is_dataclass(annotation) and isinstance(annotation, type)
        if dot:
            if not is_group:
                raise ConfigError(prefix + key, f"{head!r} of {name} has no sub-settings", f"set it as {head}=...")
            nested.setdefault(head, {})[rest] = value
            continue
        if is_group and not isinstance(value, annotation):
            first = dataclasses.fields(annotation)[0].name
            raise ConfigError(prefix + key, f"is a group of settings of {name}", f"set its fields one by one, e.g. {head}.{first}=...")
        try:
            flat[key] = coerce(value, annotation)
        except Mismatch:
            default = f" (default {defaults[key]!r})" if key in defaults else ""
            raise ConfigError(
                prefix + key, f"is {value!r}, not {describe(annotation)}", f"give {describe(annotation)} for {name}{default}"
            ) from None
    for head, values in nested.items():
        inner_cls = annotations[head]
        base = flat.get(head, defaults.get(head))
        inner = apply_settings(inner_cls, values, f"{name}.{head}", prefix=f"{prefix}{head}.")
        try:
            flat[head] = dataclasses.replace(base, **inner) if base is not None else inner_cls(**inner)
        except ValidationError as exc:  # the nested config's own check (a range, a size): named with its group
            raise type(exc)(f"{prefix}{head}.{exc.field}", exc.problem, exc.fix) from None
    return flat


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
