""":func:`rewardlab._schema.coerce`: pydantic converts every value by its declared type; command-line
text is only split by that type first, JSON/TOML values are validated strictly."""

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pytest

from rewardlab._schema import Mismatch, _adapter, apply_settings, coerce
from rewardlab.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "annotation", "expected"),
    [
        ("3", int, 3),
        (" 3 ", int, 3),
        ("3.0", int, 3),  # pydantic's lax int: a zero fraction is an integer
        ("1e-3", float, 0.001),
        ("true", bool, True),
        ("false", bool, False),
        ("yes", bool, True),  # pydantic's lax bool (yes/no, on/off, 1/0, true/false)
        ("0", bool, False),
        ("adam", Literal["adam", "gd"], "adam"),
        (" gd ", Literal["adam", "gd"], "gd"),
        ("64,64", tuple[int, ...], (64, 64)),
        ("(64, 32)", tuple[int, ...], (64, 32)),
        ("", tuple[int, ...], ()),
        ("4x5", tuple[int, int], (4, 5)),
        ("4x5", tuple[int, int] | None, (4, 5)),
        ("a:b", tuple[str, ...], ("a", "b")),
        ("1e-3,true", tuple[float, bool], (0.001, True)),
        ("1,none,3", tuple[int | None, ...], (1, None, 3)),
        ("0.5,1", list[float], [0.5, 1.0]),
        ("none", int | None, None),
        ("NULL", tuple[int, int] | None, None),
        ("none", str, "none"),  # a string is a string: only an optional reads none as None
        ('{"a": 1, "b": 2.5}', dict[str, float], {"a": 1.0, "b": 2.5}),
        ('{"net_arch": [64, 64]}', dict[str, Any] | None, {"net_arch": [64, 64]}),
        ("crossing", str | tuple[str, ...], "crossing"),  # a union: its members left to right
        ("0.3", float | Callable[[float], float], 0.3),
        # no declared type: the one place text is guessed
        ("3", Any, 3),
        ("0.5", Any, 0.5),
        ("none", Any, None),
        ("adam", Any, "adam"),
    ],
)
def test_command_line_text_is_read_by_the_declared_type(text, annotation, expected):
    value = coerce(text, annotation)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "annotation"),
    [
        ("abc", int),
        ("2.5", int),
        ("2.5e-1", int),  # an exponent only where the number is an integer
        ("1.5e0", int),
        ("1e400", int),
        ("inf", float),
        ("nan", float),
        ("1,inf", tuple[float, ...]),
        ("maybe", bool),
        ("sgd", Literal["adam", "gd"]),
        ("1,2,3", tuple[int, int]),
        ("1,a", tuple[int, ...]),
        ("{not json", dict[str, float]),
        ('{"a": "x"}', dict[str, float]),
        ("none", int),
        ("abc", float | Callable[[float], float]),  # text is not a callable (it used to pass through)
    ],
)
def test_bad_command_line_text_is_refused(text, annotation):
    with pytest.raises(Mismatch):
        coerce(text, annotation)


@pytest.mark.parametrize(
    ("value", "annotation", "expected"),
    [
        (2, int, 2),
        (3, float, 3.0),  # an integer is a number
        ([64, 64], tuple[int, ...], (64, 64)),  # a JSON/TOML array is a tuple
        ([4, 5], tuple[int, int], (4, 5)),
        ((4, 5), tuple[int, int], (4, 5)),
        ([[1, 2], [3, 4]], list[tuple[int, int]], [(1, 2), (3, 4)]),
        (None, int | None, None),
        ({"a": 1}, dict[str, float], {"a": 1.0}),
        ("adam", Literal["adam", "gd"], "adam"),
        (True, bool, True),
        (np.float64(0.5), float, 0.5),
    ],
)
def test_json_values_keep_their_type(value, annotation, expected):
    out = coerce(value, annotation, text=False)
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize(
    ("value", "annotation"),
    [
        ("2", int),  # text is not converted in JSON metadata
        ("true", bool),
        (2.0, int),
        (True, int),
        (True, float),
        (1, bool),
        (3, str),
        (math.nan, float),
        ([1.0, math.inf], list[float]),
        ([1, 2, 3], tuple[int, int]),
        (64, tuple[int, ...]),  # one number is not a tuple
        ("none", int | None),  # "none" is None only in settings (apply_settings) and command-line text
        (np.int64(3), int),
        ({"a": "x"}, dict[str, float]),
    ],
)
def test_json_values_of_the_wrong_type_are_refused(value, annotation):
    with pytest.raises(Mismatch):
        coerce(value, annotation, text=False)


def test_annotations_without_a_pydantic_schema_fall_back():
    array = np.zeros(3)
    assert coerce(array, np.ndarray, text=False) is array  # a class: isinstance
    with pytest.raises(Mismatch):
        coerce([0.0], np.ndarray, text=False)
    assert coerce("7", "SomeName") == 7  # an unresolved (string) annotation: as if undeclared
    assert _adapter(np.ndarray) is None


def test_adapters_are_built_once_per_annotation():
    assert _adapter(tuple[int, ...]) is _adapter(tuple[int, ...])
    assert _adapter(int | None) is not _adapter(int)


def test_python_settings_are_checked_strictly():
    def build(hidden: tuple[int, ...] = (8,), lr: float = 0.1, steps: int = 10) -> None: ...

    assert apply_settings(build, {"hidden": [4, 4], "lr": 1, "steps": "20"}, "build") == {"hidden": (4, 4), "lr": 1.0, "steps": 20}
    with pytest.raises(ConfigError, match=r"steps: is 2\.5, not an integer\. Fix: give an integer for build \(default 10\)"):
        apply_settings(build, {"steps": 2.5}, "build")


def test_sb3_learning_rate_text_must_be_a_number():
    from rewardlab.rl.sb3 import check_hyperparams

    assert check_hyperparams("ppo", {"learning_rate": "3e-4"}) == {"learning_rate": 3e-4}
    with pytest.raises(ConfigError, match=r"learning_rate: is 'abc', not a finite number"):
        check_hyperparams("ppo", {"learning_rate": "abc"})


@pytest.mark.parametrize(("text", "expected"), [("1e6", 1_000_000), ("2.5e5", 250_000), ("-3E2", -300), ("1e+3", 1000)])
def test_integer_settings_take_exponent_notation(text, expected):
    """`--set steps=1e6`: an integer written with an exponent is that integer (an int, exactly)."""
    value = coerce(text, int)
    assert value == expected and type(value) is int
