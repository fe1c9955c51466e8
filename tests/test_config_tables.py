"""Config dataclasses as TOML tables and back (:func:`rewardlab._schema.config_table` /
:func:`rewardlab._schema.from_table`): every learner's config survives the round trip through real
TOML text, and a bad table fails naming the dotted key and the fix."""

import dataclasses
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Literal

import pytest
import tomli_w

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from rewardlab._schema import apply_settings, config_table, from_table
from rewardlab.errors import ConfigError
from rewardlab.prefs.drex import DREXConfig
from rewardlab.prefs.reward_trainer import RewardTrainerConfig
from rewardlab.prefs.trex import TREXConfig
from rewardlab.registry import LEARNERS

#: For each learner, settings that differ from the defaults: a tuple, a Literal, a None in an
#: Optional whose default is not None (T-REX's snippet), a nested config (D-REX's and B-REX's T-REX,
#: RLHF's reward trainer), a dict (RLHF's SB3 hyperparameters).
NON_DEFAULT: dict[str, dict[str, object]] = {
    "bc": {"model": "mlp", "hidden": (8, 4, 2), "batch_size": 32, "lr": 0.5},
    "projection": {"epsilon": 0.01, "max_iter": 7},
    "max-margin": {"epsilon": 0.01, "max_iter": 7},
    "mwal": {"iterations": 9, "feature_signs": (1, -1, 1)},
    "maxent": {"reward": "state", "optimizer": "adam", "tol": 1e-9, "start": "mdp", "action_noise": 0.1},
    "mce": {"reward": "state_action", "optimizer": "lbfgs", "model": "finite", "l2": 0.25},
    "deep-maxent": {"architecture": "cnn", "hidden": (16,), "grid_shape": (4, 5), "feature_scaling": "none", "causal": False},
    "relent": {"reward": "state", "samples": 300, "start": "mdp", "optimizer": "gd", "l1": 0.01},
    "relent-gym": {"reward": "mlp", "hidden": (8, 4), "actions": True, "max_steps": 100, "optimizer": "gd", "l1": 0.01},
    "perturb": {"copies": 7, "noise": 0.5, "correction": "none", "lr": 0.2, "l2": 0.1},
    "gail": {"reward": "logit", "state_only": True, "hidden": (8, 4), "activation": "tanh", "hyperparams": {"n_steps": 64}},
    "airl": {"state_only": False, "discount": 0.9, "hidden": (16,), "disc_updates": 2, "hyperparams": {"n_envs": 2}},
    "gcl": {"segment": 5, "mixture": 3, "demos_in_background": False, "state_only": True, "hidden": (8,), "hyperparams": {"n_envs": 2}},
    "birl": {"prior": "laplace", "sampler": "policywalk", "samples": 123, "covariance": "diagonal", "adapt": False},
    "lfl": {"alpha": 0.5, "state_only": True},
    "deep-lfl": {"hidden": (3,), "policy_hidden": (5, 6), "use_action": False, "discount": 0.9},
    "trex": {"architecture": "mlp", "hidden": (32, 16), "snippet": None, "ties": True, "aux": ("inverse_dynamics", "temporal_distance")},
    "drex": {"epsilons": (0.0, 0.5, 1.0), "max_steps": 40, "trex": TREXConfig(steps=5, snippet=None, hidden=())},
    "brex": {"covariance": "dense", "pretrain": TREXConfig(architecture="linear", snippet=(3, 4), steps=7)},
    "active-linear": {"strategy": "volume_removal", "length": None, "teacher": "mistake", "behaviour": "uniform", "target": 0.8},
    "rlhf": {
        "algo": "sac",
        "teacher": "myopic",
        "query": "uniform",
        "segment": 25,
        "hyperparams": {"batch_size": 128},
        "reward": RewardTrainerConfig(members=2, hidden=(8,), l2_band=(1.2, 1.4)),
    },
}


def configs() -> list[tuple[str, object]]:
    out = []
    for name, spec in LEARNERS.items():
        cls = spec.config_class()
        out.append((f"{name}-defaults", name, cls(**spec.fixed)))
        out.append((f"{name}-changed", name, cls(**{**NON_DEFAULT[name], **spec.fixed})))
    return [pytest.param(name, config, id=label) for label, name, config in out]


def test_every_learner_has_non_default_settings_here():
    assert sorted(NON_DEFAULT) == sorted(LEARNERS)


@pytest.mark.parametrize(("name", "config"), configs())
def test_round_trip(name, config):
    spec = LEARNERS[name]
    cls = type(config)
    table = config_table(config)
    assert from_table(cls, table, name) == config
    assert from_table(cls, table, name, fixed=spec.fixed) == config  # the fixed field repeated with its own value
    assert from_table(cls, tomllib.loads(tomli_w.dumps(table)), name) == config  # through real TOML text
    defaults = cls(**spec.fixed)
    kept = [f.name for f in dataclasses.fields(cls) if getattr(config, f.name) is not None or getattr(defaults, f.name) is not None]
    assert list(table) == kept  # every field, in order, except a None that is the default


@pytest.mark.parametrize(("name", "config"), configs())
def test_changed_settings_differ_from_the_defaults(name, config):
    spec = LEARNERS[name]
    changed = {k for k, v in NON_DEFAULT[name].items() if k not in spec.fixed}
    defaults = type(config)(**spec.fixed)
    if config != defaults:
        assert all(getattr(config, k) != getattr(defaults, k) for k in changed)


def test_table_values_are_toml_values():
    table = config_table(DREXConfig(epsilons=(0.0, 1.0), trex=TREXConfig(snippet=None, aux=("inverse_dynamics",))))
    assert table["epsilons"] == [0.0, 1.0]
    assert "max_steps" not in table  # None is its default
    assert table["trex"]["snippet"] == "none"  # None where the default is (50, 100)
    assert table["trex"]["aux"] == ["inverse_dynamics"]
    assert table["trex"]["steps"] == 2000  # defaults filled in
    text = tomli_w.dumps(table)
    assert "[trex]" in text and 'snippet = "none"' in text


def test_nested_table_and_dotted_keys_are_the_same_and_merge():
    by_table = from_table(DREXConfig, {"trex": {"steps": 500, "lr": 0.01}}, "drex")
    by_keys = from_table(DREXConfig, {"trex.steps": 500, "trex.lr": 0.01}, "drex")
    merged = from_table(DREXConfig, {"trex": {"steps": 500}, "trex.lr": 0.01}, "drex")
    assert by_table == by_keys == merged == DREXConfig(trex=TREXConfig(steps=500, lr=0.01))
    assert apply_settings(DREXConfig, {"trex": {"steps": "500"}}, "drex") == {"trex": TREXConfig(steps=500)}  # --set text too
    with pytest.raises(ConfigError, match=r"trex\.steps: is given twice"):
        from_table(DREXConfig, {"trex": {"steps": 500}, "trex.steps": 400}, "drex")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"trex": {"stepz": 5}},
            "trex.stepz: is not a setting of drex.trex. Fix: did you mean 'steps'? use one of ['architecture', 'aux',",
        ),
        ({"rolouts": 5}, "rolouts: is not a setting of drex. Fix: did you mean 'rollouts'? use one of ['bc_epochs', "),
        ({"trex": {"steps": "500"}}, "trex.steps: is '500', not an integer. Fix: give an integer for drex.trex (default 2000)."),
        ({"trex": {"steps": 2.5}}, "trex.steps: is 2.5, not an integer. Fix: give an integer for drex.trex (default 2000)."),
        ({"trex": {"snippet": [1, 2, 3]}}, "trex.snippet: is [1, 2, 3], not 2 integers separated by 'x' or ','"),
        ({"trex": {"steps": 0}}, "trex.steps: is 0. Fix: use at least 1."),  # the config's own range check
        ({"noop": "yes"}, "noop: is 'yes', not true or false."),
        ({"trex": 5}, "trex: is a group of settings of drex. Fix: set its fields one by one, e.g. trex.architecture=..., or give a table."),
    ],
)
def test_bad_tables_name_the_dotted_key_and_the_fix(table, message):
    with pytest.raises(ConfigError) as info:
        from_table(DREXConfig, table, "drex")
    assert str(info.value).startswith(message)


def test_a_missing_required_field_is_named_with_the_fix():
    @dataclass(frozen=True)
    class Inner:
        size: int
        rate: float = 0.5

    @dataclass(frozen=True)
    class Outer:
        mode: Literal["a", "b"]
        inner: Inner

    assert from_table(Outer, {"mode": "b", "inner": {"size": 4}}, "outer") == Outer("b", Inner(4))
    assert config_table(Outer("b", Inner(4))) == {"mode": "b", "inner": {"size": 4, "rate": 0.5}}
    with pytest.raises(ConfigError) as info:
        from_table(Outer, {"inner": {"size": 4}}, "outer")
    assert str(info.value) == "mode: is missing (a required setting of outer). Fix: set mode to one of 'a', 'b'."
    with pytest.raises(ConfigError) as info:
        from_table(Outer, {"mode": "a", "inner": {"rate": 1.0}}, "run", prefix="learner.")
    assert str(info.value) == (
        "learner.inner.size: is missing (a required setting of run.inner). Fix: set learner.inner.size to an integer."
    )
    with pytest.raises(ConfigError) as info:
        from_table(Outer, {"mode": "a"}, "outer")
    assert str(info.value) == (
        "inner: is missing (a required setting of outer). Fix: give its settings as a table [inner] (or as inner.size=...)."
    )


def test_fixed_fields_are_set_and_a_different_value_is_refused():
    spec = LEARNERS["max-margin"]
    cls = spec.config_class()
    assert from_table(cls, {"epsilon": 0.01}, "max-margin", fixed=spec.fixed).method == "max_margin"
    with pytest.raises(ConfigError, match="method: is set by max-margin itself"):
        from_table(cls, {"method": "projection"}, "max-margin", fixed=spec.fixed)


def test_text_mode_reads_command_line_strings():
    config = from_table(DREXConfig, {"rollouts": "3", "trex.snippet": "none", "trex": {"hidden": "8,8"}}, "drex", text=True)
    assert config == DREXConfig(rollouts=3, trex=TREXConfig(snippet=None, hidden=(8, 8)))


def test_an_enum_is_written_as_its_value_and_read_back():
    class Colour(Enum):
        RED = "red"
        BLUE = "blue"

    @dataclass(frozen=True)
    class Paint:
        colour: Colour = Colour.RED
        coats: tuple[Colour, ...] = ()

    paint = Paint(Colour.BLUE, (Colour.RED, Colour.BLUE))
    table = config_table(paint)
    assert table == {"colour": "blue", "coats": ["red", "blue"]}
    assert from_table(Paint, tomllib.loads(tomli_w.dumps(table)), "paint") == paint
    assert from_table(Paint, {"colour": "blue"}, "paint", text=True).colour is Colour.BLUE
    with pytest.raises(ConfigError, match="colour: is 'green', not one of 'red', 'blue'"):
        from_table(Paint, {"colour": "green"}, "paint")
