"""The error boundary: whatever a user types or points at, rewardlab answers with one of its own errors
(the CLI: exit status 2 and one line) or succeeds; never another exception, never a hang.

Property tests (hypothesis) throw generated options at the CLI, generated specs at ``make_world`` and
generated, mutated or truncated files at every loader; the regression tests pin the cases that once
ended in a raw traceback, a misleading message or a silent success."""

from __future__ import annotations

import contextlib
import json
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.data import Trajectory, TrajectoryDataset
from rewardlab.data.io import load_dataset, load_npz_episodes, save_dataset
from rewardlab.errors import ConfigError, DataFileError, ProbabilityError, RewardLabError, ValidationError
from rewardlab.irl.bc import GymBCPolicy
from rewardlab.irl.posterior import RewardPosterior
from rewardlab.mdp import TabularMDP
from rewardlab.mdp.worlds import make_world
from rewardlab.prefs.brex import PreferencePosterior
from rewardlab.rewards import NeuralReward, TabularReward
from rewardlab.rewards.nets import RewardNetSpec

runner = CliRunner()
BOUNDED = settings(deadline=timedelta(seconds=20), suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@contextmanager
def no_hang(seconds: int = 60) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the body runs longer than ``seconds``."""

    def alarm(_signum: int, _frame: Any) -> None:
        raise TimeoutError(f"hung for over {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def cli(*args: str) -> Any:
    with no_hang():
        return runner.invoke(app, list(args))


def assert_clean(result: Any) -> None:
    """The CLI contract: success, or exit status 2 with one ``error:`` line on stderr; never an uncaught exception."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}\n{result.output}")
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output


def error_line(result: Any) -> str:
    """The message of a refused command (its one line)."""
    assert_clean(result)
    assert result.exit_code == 2, result.output
    return str(result.stderr.strip())


# ============================================================================ properties
_IRL_KEYS = [
    "iterations",
    "lr",
    "optimizer",
    "l2",
    "l1",
    "tol",
    "temperature",
    "reward",
    "model",
    "start",
    "action_noise",
    "itrations",
    "x",
]
_JUNK = st.text(alphabet="abinfx0123456789.-e,:", max_size=3)


@BOUNDED
@given(
    demos=st.one_of(st.integers(-3, 6), st.sampled_from(["abc", "10000000000", "1e3", "1000000000"])),
    length=st.one_of(st.none(), st.integers(-3, 14), st.just("x")),
    seed=st.one_of(st.integers(-3, 3), st.just("-1")),
    epsilon=st.one_of(st.floats(-1, 2), st.sampled_from(["nan", "inf", "x"])),
    setting=st.one_of(st.none(), st.tuples(st.sampled_from(_IRL_KEYS), _JUNK)),
)
def test_irl_cli_options_end_in_success_or_a_clean_error(
    tmp_path: Path, demos: Any, length: Any, seed: Any, epsilon: Any, setting: Any
) -> None:
    args = [
        "irl",
        "maxent",
        "--world",
        "navigation:layout=tiny",
        "--out",
        str(tmp_path / "run"),
        "--demos",
        str(demos),
        "--seed",
        str(seed),
    ]
    args += ["--epsilon", str(epsilon)] + ([] if length is None else ["--length", str(length)])
    if setting is not None:
        args += ["--set", f"{setting[0]}={setting[1]}"]
    assert_clean(cli(*args))


@BOUNDED
@given(
    command=st.sampled_from(["collect", "trex", "train", "rlhf"]),
    env=st.sampled_from(["Nope-v0", "Pendulm-v1", "", "ALE/Nope-v5"]),
    number=st.integers(-5, 0),
)
def test_gym_commands_refuse_bad_ids_and_sizes_before_any_work(tmp_path: Path, command: str, env: str, number: int) -> None:
    out = str(tmp_path / "out")
    if command == "collect":
        bad_id = cli("demos", "collect", "--env", env, "--out", out, "--steps", "64", "--checkpoints", "1")
        bad_size = cli("demos", "collect", "--env", "Pendulum-v1", "--out", out, "--steps", str(number))
    elif command == "trex":
        bad_id = cli("prefs", "trex", "--env", env, "--demos", out, "--out", out)
        bad_size = cli("prefs", "trex", "--env", "Pendulum-v1", "--demos", out, "--out", out, "--seed", str(number - 1))
    elif command == "rlhf":
        bad_id = cli("rlhf", "--env", env, "--out", out, "--steps", "64", "--labels", "2")
        bad_size = cli("rlhf", "--env", "Pendulum-v1", "--out", out, "--labels", str(number))
    else:
        bad_id = cli("train-policy", "--env", env, "--reward", out, "--out", out, "--steps", "64")
        bad_size = cli("train-policy", "--env", "Pendulum-v1", "--reward", out, "--out", out, "--steps", str(number))
    for result in (bad_id, bad_size):
        assert_clean(result)
        assert result.exit_code == 2
    assert "--env" in error_line(bad_id)


_NAMES = ["navigation", "objectworld", "binaryworld", "featuregrid", "random", "frozenlake", "cliffwalking", "nope"]
_WORLD_KEYS = [
    "size", "seed", "slip", "discount", "horizon", "n_colours", "object_probability", "discrete", "layout", "n_states",
    "n_actions", "branching", "n_features", "map_name", "is_slippery", "weights", "state_action_reward", "colour",
]  # fmt: skip
_WORLD_VALUES = st.one_of(
    st.integers(-3, 12).map(str), _JUNK, st.sampled_from(["true", "none", "4x4", "8x8", "tiny", "0.5", "1.5", "nan", "1e9"])
)


@BOUNDED
@given(
    name=st.sampled_from(_NAMES),
    options=st.lists(st.tuples(st.sampled_from(_WORLD_KEYS), _WORLD_VALUES), max_size=3),
    noise=st.one_of(st.just(""), st.text(max_size=6)),
)
def test_world_specs_build_or_raise_a_rewardlab_error(name: str, options: list[tuple[str, str]], noise: str) -> None:
    spec = name + (":" + ",".join(f"{k}={v}" for k, v in options) if options else "") + noise
    with no_hang():
        try:
            world = make_world(spec)
        except RewardLabError:
            return
    assert world.mdp.n_states >= 1 and world.reward.shape[0] == world.mdp.n_states


# ---------------------------------------------------------------------------- files
def _saved(root: Path) -> dict[str, tuple[Path, Any]]:
    """One good directory per loader: ``name -> (directory, load)``."""
    rng = np.random.default_rng(0)
    demos = TrajectoryDataset(
        [Trajectory(rng.normal(size=(4, 3)), rng.normal(size=(3, 1)), rng.normal(size=3), infos={"rank": i}) for i in range(3)]
    )
    save_dataset(demos, root / "dataset", env_id="Pendulum-v1")
    NeuralReward(RewardNetSpec((3,), hidden=(4,)), members=2).save(root / "neural")
    TabularReward(torch.arange(6.0)).save(root / "tabular")
    world = make_world("random:n_states=5,n_actions=2")
    samples = torch.randn(2, 3, 5, dtype=torch.float64)
    chains = torch.zeros(2, 3, dtype=torch.float64)
    RewardPosterior(
        samples, chains, chains.clone(), torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64), world.mdp, "state", 1.0
    ).save(root / "posterior")
    PreferencePosterior(torch.randn(1, 4, 3), torch.zeros(1, 4), torch.zeros(1), 1.0).save(root / "preference")
    from rewardlab.irl.bc import _mlp

    GymBCPolicy(_mlp(3, (4,), 1, 0), torch.zeros(3), torch.ones(3), torch.tensor([-2.0]), torch.tensor([2.0])).save(root / "policy")
    np.savez(root / "episodes.npz", obs_0=rng.normal(size=(4, 3)), acts_0=rng.normal(size=(4, 1)), rews_0=rng.normal(size=4))
    return {
        "dataset": (root / "dataset", lambda d: load_dataset(d, env="Pendulum-v1")),
        "neural": (root / "neural", NeuralReward.load),
        "tabular": (root / "tabular", TabularReward.load),
        "posterior": (root / "posterior", lambda d: RewardPosterior.load(d, world.mdp)),
        "preference": (root / "preference", PreferencePosterior.load),
        "policy": (root / "policy", GymBCPolicy.load),
        "episodes": (root / "episodes.npz", load_npz_episodes),
    }


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any]]:
    return _saved(tmp_path_factory.mktemp("saved"))


def test_the_saved_files_load(saved: dict[str, tuple[Path, Any]]) -> None:
    for _name, (path, load) in saved.items():
        load(path)  # the fixtures are good: the properties below break them on purpose


def _files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())


def _loads_or_refuses(path: Path, load: Any) -> None:
    with no_hang(), contextlib.suppress(RewardLabError):
        load(path)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_LOADERS = ["dataset", "neural", "tabular", "posterior", "preference", "policy", "episodes"]


def _copy(source: Path, into: Path) -> Path:
    import shutil

    target = into / source.name
    (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    return target


@BOUNDED
@given(which=st.sampled_from(_LOADERS), pick=st.integers(0, 3), data=st.binary(max_size=300))
def test_loaders_refuse_random_bytes(saved: dict[str, tuple[Path, Any]], which: str, pick: int, data: bytes) -> None:
    source, load = saved[which]
    with tempfile.TemporaryDirectory() as tmp:
        path = _copy(source, Path(tmp))
        files = _files(path)
        files[pick % len(files)].write_bytes(data)
        _loads_or_refuses(path, load)


@BOUNDED
@given(which=st.sampled_from(_LOADERS), pick=st.integers(0, 3), cut=st.floats(0, 1))
def test_loaders_refuse_truncated_files(saved: dict[str, tuple[Path, Any]], which: str, pick: int, cut: float) -> None:
    source, load = saved[which]
    with tempfile.TemporaryDirectory() as tmp:
        path = _copy(source, Path(tmp))
        files = _files(path)
        target = files[pick % len(files)]
        data = target.read_bytes()
        target.write_bytes(data[: int(cut * len(data))])
        _loads_or_refuses(path, load)


@BOUNDED
@given(which=st.sampled_from([n for n in _LOADERS if n != "episodes"]), replace_all=st.booleans(), key=st.integers(0, 20), value=_JSON)
def test_loaders_refuse_random_or_mutated_metadata(
    saved: dict[str, tuple[Path, Any]], which: str, replace_all: bool, key: int, value: Any
) -> None:
    source, load = saved[which]
    with tempfile.TemporaryDirectory() as tmp:
        path = _copy(source, Path(tmp))
        meta_path = next(p for p in _files(path) if p.suffix == ".json")
        meta = json.loads(meta_path.read_text())
        if replace_all:
            meta = value
        else:
            keys = [*sorted(meta), "spec"]
            name = keys[key % len(keys)]
            if name == "spec" and isinstance(meta.get("spec"), dict):  # one field of the nested spec
                inner = sorted(meta["spec"])
                meta["spec"][inner[key % len(inner)]] = value
            elif key % 5 == 4:
                meta.pop(name, None)
            else:
                meta[name] = value
        meta_path.write_text(json.dumps(meta))
        _loads_or_refuses(path, load)


# ============================================================================ regressions
# each of these ended in a raw traceback, a misleading message or a silent success before the fix


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--seed", "-1"], "--seed"),  # was ValueError: expected non-negative integer
        (["--length", "-1"], "--length"),  # was ValueError: negative dimensions are not allowed
        (["--length", "0"], "--length"),  # was "horizon: is 0", a horizon the user never gave
    ],
)
def test_irl_cli_numbers_out_of_range_name_the_option(tmp_path: Path, args: list[str], named: str) -> None:
    result = cli("irl", "maxent", "--world", "navigation:layout=tiny", "--demos", "2", "--out", str(tmp_path), *args)
    assert_clean(result)
    text = error_line(result)
    assert named in text and "horizon" not in text


def test_absurd_demo_counts_are_refused_with_the_memory_estimate(tmp_path: Path) -> None:
    for command in (["irl", "maxent", "--world", "navigation:layout=tiny"], ["demo"]):
        result = cli(*command, "--demos", "1000000000", "--out", str(tmp_path))  # was MemoryError (97 GiB, 276 GiB)
        assert_clean(result)
        text = error_line(result)
        assert "1000000000 episodes" in text and "would need about" in text and "TiB" in text


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (["iterations=abc"], ["iterations", "not an integer", "default 200"]),  # was "'<' not supported between 'str' and 'int'"
        (["lr=inf", "optimizer=adam"], ["lr", "not a finite number"]),  # was "MaxEnt diverged at step 1 ... lower lr"
        (["itrations=3"], ["itrations", "did you mean 'iterations'", "'tol'"]),
        (["causal=false"], ["causal", "set by maxent itself"]),
    ],
)
def test_mistyped_set_values_name_the_key_and_the_expected_type(tmp_path: Path, setting: list[str], expected: list[str]) -> None:
    args = [a for s in setting for a in ("--set", s)]
    result = cli("irl", "maxent", "--world", "navigation:layout=tiny", "--demos", "2", "--out", str(tmp_path), *args)
    text = error_line(result)
    for part in expected:
        assert part in text, text


def test_a_config_refuses_an_infinite_learning_rate() -> None:
    from rewardlab.irl.maxent import MaxEntConfig

    with pytest.raises(ConfigError, match=r"lr: is inf\. Fix: use a positive finite number"):
        MaxEntConfig(lr=float("inf"), optimizer="adam")  # was accepted, and the fit diverged


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("hidden=abc", ["hidden", "each an integer"]),  # was ValueError: invalid literal for int()
        ("snippet=abc", ["snippet", "2 integers"]),  # was TypeError
        ("steps=abc", ["steps", "not an integer"]),  # was TypeError
        ("trex=1", ["trex", "group of settings", "trex.architecture"]),  # was AttributeError
    ],
)
def test_ranking_learners_check_set_values_by_type(tmp_path: Path, setting: str, expected: list[str]) -> None:
    method = "drex" if setting.startswith("trex") else "trex"
    result = cli("prefs", method, "--env", "Pendulum-v1", "--demos", str(tmp_path), "--out", str(tmp_path), "--set", setting)
    text = error_line(result)
    for part in expected:
        assert part in text, text


def test_nested_settings_are_named_with_their_group(tmp_path: Path) -> None:
    result = cli("prefs", "drex", "--env", "Pendulum-v1", "--demos", str(tmp_path), "--out", str(tmp_path), "--set", "trex.steps=abc")
    assert "trex.steps: is 'abc', not an integer" in error_line(result)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--steps", "0"], "--steps"),  # was "ceiling: is None ... the first checkpoint already reaches it"
        (["--checkpoints", "0"], "--checkpoints"),
        (["--episodes", "0"], "--episodes"),
        (["--seed", "-1"], "--seed"),  # was SB3's raw "Seed must be greater or equal to zero"
        (["--env", "Nope-v0"], "--env"),  # was gymnasium's NameNotFound traceback
        (["--set", "n_steps=abc"], "n_steps"),  # was TypeError
        (["--set", "n_stps=3"], "did you mean 'n_steps'"),  # was TypeError from PPO.__init__
        (["--set", "n_envs=0"], "n_envs"),  # was IndexError
        (["--set", "learning_rate=-1"], "Invalid learning rate"),  # was torch's raw ValueError
    ],
)
def test_demos_collect_refuses_bad_options_before_training(tmp_path: Path, args: list[str], named: str) -> None:
    base = {"--env": "Pendulum-v1", "--steps": "64", "--checkpoints": "1"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag in base:
            base[flag] = value
    extra = [a for flag, value in zip(args[::2], args[1::2], strict=True) if flag not in base for a in (flag, value)]
    result = cli("demos", "collect", "--out", str(tmp_path / "out"), *[a for kv in base.items() for a in kv], *extra)
    assert named in error_line(result)
    assert not (tmp_path / "out" / "trajectories.npz").exists()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--steps", "-5"], "--steps"),  # was exit 0: "trained" for -5 steps and wrote result.json
        (["--steps", "0"], "--steps"),  # was exit 0
        (["--ctrl-cost", "nan"], "ctrl_cost"),  # was torch's raw "invalid values" ValueError
        (["--set", "gamma=abc"], "gamma"),  # was TypeError
    ],
)
def test_train_policy_refuses_bad_options(tmp_path: Path, args: list[str], named: str) -> None:
    NeuralReward(RewardNetSpec((3,), hidden=(4,))).save(tmp_path / "reward")
    result = cli("train-policy", "--env", "Pendulum-v1", "--reward", str(tmp_path / "reward"), "--out", str(tmp_path / "run"), *args)
    assert named in error_line(result)
    assert not (tmp_path / "run" / "result.json").exists()


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("random:n_actions=0", "n_actions: is 0"),  # was ValueError: need at least one array to stack
        ("random:n_features=0", "n_features: is 0"),  # was RuntimeError from max()
        ("random:n_states=-3", "n_states: is -3"),  # was "branching: is 2", which the user did not set
        ("frozenlake:map_name=9x9", "map_name: is '9x9'"),  # was KeyError: (9, 9)
        ("objectworld:size=100000", "would need about"),  # was MemoryError (74.5 GiB)
        ("objectworld:object_probability=-1", "object_probability"),  # was accepted
        ("objectworld:size=abc", "size: is 'abc', not an integer"),  # was "'<' not supported ..."
        ("navigation:size=3", "size: is '3', not 2 integers"),  # was "cannot unpack non-iterable int"
        ("frozenlake:is_slipery=false", "did you mean 'is_slippery'"),
    ],
)
def test_world_spec_values_are_checked(spec: str, named: str) -> None:
    with pytest.raises(ValidationError) as caught:  # ConfigError, or the memory guard's ValidationError
        make_world(spec)
    assert named in str(caught.value)


def test_world_spec_values_are_read_by_their_declared_type() -> None:
    world = make_world("navigation:size=4x5,seed=1,horizon=none,discount=0.9")
    assert world.shape == (4, 5) and world.mdp.horizon is None
    assert make_world("objectworld:size=6,discrete=true").mdp.n_features == 2 * 2 * 5


def test_from_dense_names_a_negative_probability() -> None:
    transitions = np.zeros((2, 1, 2))
    transitions[0, 0] = [1.5, -0.5]  # sums to 1, but -0.5 is no probability
    transitions[1, 0, 1] = 1.0
    with pytest.raises(ProbabilityError, match=r"negative probability P\[0, 0, 1\] = -0.5"):  # was accepted
        TabularMDP.from_dense(transitions, [1.0, 0.0])
    transitions[0, 0] = [0.8, -0.2]  # was "probabilities sum to 0.8", a sum the user never wrote
    with pytest.raises(ProbabilityError, match="negative probability"):
        TabularMDP.from_dense(transitions, [1.0, 0.0])


# ---------------------------------------------------------------------------- file regressions
def _write(path: Path, text: str | bytes) -> None:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


def _edit_meta(meta_path: Path, change: Any) -> None:
    """Write ``change`` over the metadata file: raw bytes or text as they are, or a dict of keys to set
    (``None`` deletes the key) applied to the JSON that is there."""
    if isinstance(change, dict):
        meta = json.loads(meta_path.read_text())
        for key, value in change.items():
            if value is None:
                del meta[key]
            else:
                meta[key] = value
        change = json.dumps(meta)
    _write(meta_path, change)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (b"\xff\xfe\x00", "not UTF-8"),  # was UnicodeDecodeError
        ("[1, 2]", "is a JSON list, not an object"),  # was AttributeError
        ({"count": None}, "has no 'count'"),  # was KeyError
        ({"infos": None}, "has no 'infos'"),  # was KeyError
        ({"count": "abc"}, "'count' is 'abc', not an integer"),  # was ValueError from int()
        ({"infos": [1, 2, 3, 4]}, "'infos' is [1, 2, 3, 4]"),  # was TypeError
        ({"lengths": [5]}, "'lengths' has 1 entries"),  # was IndexError
        ({"count": -1}, "count is -1"),  # was accepted as an empty dataset
    ],
)
def test_dataset_metadata_is_checked_against_its_schema(
    tmp_path: Path, saved: dict[str, tuple[Path, Any]], change: Any, message: str
) -> None:
    path = _copy(saved["dataset"][0], tmp_path)
    meta_path = path / "trajectories.json"
    _edit_meta(meta_path, change)
    with pytest.raises(DataFileError, match=r"trajectories\.json") as caught:
        load_dataset(path)
    assert message in str(caught.value)


def test_a_corrupt_npz_does_not_advise_unpickling(tmp_path: Path, saved: dict[str, tuple[Path, Any]]) -> None:
    path = _copy(saved["dataset"][0], tmp_path)
    _write(path / "trajectories.npz", b"hello, not a zip")
    with pytest.raises(DataFileError) as caught:
        load_dataset(path)
    assert "allow_pickle" not in str(caught.value) and "pickle" not in str(caught.value)
    assert "not an .npz archive" in str(caught.value)
    _write(tmp_path / "episodes.npz", b"junk")
    with pytest.raises(DataFileError) as caught:
        load_npz_episodes(tmp_path / "episodes.npz")
    assert "pickle" not in str(caught.value)


def test_npz_episodes_need_their_actions(tmp_path: Path) -> None:
    np.savez(tmp_path / "episodes.npz", obs_0=np.zeros((3, 2)))
    with pytest.raises(DataFileError, match="episode 0: has no 'acts'"):  # was KeyError: 'acts_0'
        load_npz_episodes(tmp_path / "episodes.npz")
    np.savez(tmp_path / "strings.npz", obs_0=np.array(["a", "b"]), acts_0=np.zeros(2))
    with pytest.raises(DataFileError, match="not numbers"):
        load_npz_episodes(tmp_path / "strings.npz")


@pytest.mark.parametrize(
    ("which", "change", "message"),
    [
        ("neural", b"\xff\xfe", "not UTF-8"),  # was UnicodeDecodeError
        ("neural", "[]", "not an object"),  # was AttributeError
        ("neural", {"spec": "x"}, "'spec' is 'x', not an object"),  # was ValueError from dict()
        ("neural", {"members": "abc"}, "'members' is 'abc', not an integer"),  # was ValueError from int()
        ("neural", {"members": 10**9}, "members 1000000000"),  # would build a billion networks
        ("tabular", "[]", "not an object"),  # was AttributeError
        ("tabular", b"\x80", "not UTF-8"),  # was UnicodeDecodeError
        ("posterior", {"n_states": "5"}, "'n_states' is '5', not an integer"),
        ("preference", {"beta": None}, "has no 'beta'"),  # was KeyError
        ("policy", {"widths": [3, 10**7, 1]}, "do not give the saved layers' shapes"),  # would allocate 10^7-wide layers
    ],
)
def test_model_metadata_is_checked_against_its_schema(
    tmp_path: Path, saved: dict[str, tuple[Path, Any]], which: str, change: Any, message: str
) -> None:
    source, load = saved[which]
    path = _copy(source, tmp_path)
    meta_path = next(p for p in _files(path) if p.suffix == ".json")
    _edit_meta(meta_path, change)
    with pytest.raises(DataFileError) as caught:
        load(path)
    assert message in str(caught.value)


def test_the_set_checker_keeps_typed_python_values() -> None:
    from rewardlab.registry import make_learner

    learner = make_learner("mwal", iterations=5, feature_signs="1:-1")
    assert learner.config.iterations == 5 and learner.config.feature_signs == (1, -1)
    with pytest.raises(ConfigError, match=r"iterations: is 2\.5, not an integer"):
        make_learner("maxent", iterations=2.5)
    with pytest.raises(ValidationError):
        make_learner("maxent", iterations=0)


# ---------------------------------------------------------------------------- one line
# Usage errors that click/typer raise before a command runs (out of range, mistyped, unknown, missing)
# were a multi-line usage box; rewardlab's own errors were wrapped by rich at 80 columns, on stdout.
USAGE_ERRORS = [
    (["irl", "maxent", "--seed", "-1"], "error: --seed: -1 is not in the range x>=0. Fix: give an integer >= 0 (default 0)."),
    (["irl", "maxent", "--length", "0"], "error: --length: 0 is not in the range x>=1. Fix: give an integer >= 1."),
    (["irl", "maxent", "--demos", "abc"], "error: --demos: 'abc' is not an integer. Fix: give an integer >= 1 (default 16)."),
    (["irl", "maxent", "--epsilon", "2"], "error: --epsilon: 2 is not in the range 0.0<=x<=1.0. Fix: give a number between"),
    (["irl", "maxent", "--seeed", "1"], "error: --seeed: is not an option of rewardlab irl. Fix: did you mean --seed or --set?"),
    (["irl", "maxent", "--demos"], "error: --demos: requires an argument. Fix: give a value after --demos."),
    (["irl", "maxent", "a", "b"], "error: rewardlab irl: got unexpected extra argument(s) (a b). Fix: see `rewardlab irl --help`."),
    (["irl"], "error: method: is missing. Fix: give METHOD (Learner: maxent, mce"),
    (["demos", "collect", "--out", "x"], "error: --env: is missing. Fix: give --env ENV (Gymnasium env id"),
    (
        ["train-policy", "--env", "Pendulum-v1", "--reward", "r", "--out", "o", "--overwrite=yes"],
        "error: --overwrite: does not take a value",
    ),
    (["prefs", "trx"], "error: trx: is not a command of rewardlab prefs. Fix: did you mean 'trex'? use one of trex, drex, brex."),
    (["irl", "maxent", "--set", "itrations=3"], "error: itrations: is not a setting of maxent. Fix: did you mean 'iterations'?"),
    (["irl", "maxent", "--world", "navigation:layout=tiny", "--demos", "1000000000"], "error: --demos: 1000000000 episodes"),
]


def _one_line(stdout: str, stderr: str, expected: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert stdout == "" and len(lines) == 1, stdout + stderr
    assert lines[0].startswith(expected), lines[0]


@pytest.mark.parametrize(("args", "expected"), USAGE_ERRORS)
def test_cli_runner_prints_a_usage_error_as_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    extra = ["--out", str(tmp_path / "run")] if "--world" in args else []
    result = runner.invoke(app, args + extra, prog_name="rewardlab")
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    _one_line(result.stdout, result.stderr, expected)


def _entry_points() -> list[list[str]]:
    """The console script ``rewardlab`` (pyproject ``[project.scripts]``) beside the interpreter, and ``python -m rewardlab``."""
    import shutil
    import sys

    script = Path(sys.executable).with_name("rewardlab")
    found = str(script) if script.is_file() else shutil.which("rewardlab")
    return ([[found]] if found else []) + [[sys.executable, "-m", "rewardlab"]]


def _run(command: list[str], args: list[str]) -> Any:
    import os
    import subprocess

    import rewardlab

    src = str(Path(rewardlab.__file__).parents[1])
    env = dict(os.environ, PYTHONPATH=src, OMP_NUM_THREADS="1", COLUMNS="80")
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("entry", _entry_points(), ids=lambda c: Path(c[-1]).name)
def test_the_rewardlab_process_prints_usage_errors_as_one_line(tmp_path: Path, entry: list[str]) -> None:
    for args, expected in [USAGE_ERRORS[i] for i in (0, 2, 4, 8, 10, 12)]:
        extra = ["--out", str(tmp_path / "run")] if "--world" in args else []
        proc = _run(entry, args + extra)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        _one_line(proc.stdout, proc.stderr, expected)
    for args in (["--help"], ["irl", "--help"], ["prefs", "trex", "--help"]):
        proc = _run(entry, args)
        assert proc.returncode == 0 and "Usage: rewardlab" in proc.stdout and "--help" in proc.stdout, proc.stderr
    proc = _run(entry, ["prefs"])  # a bare group shows its help, as before
    assert proc.returncode == 2 and "trex" in proc.stdout and "error" not in proc.stdout + proc.stderr


# ---------------------------------------------------------------------------- absurd sizes
# Each of these allocated until the machine ran out of memory (a raw RuntimeError or MemoryError after
# up to tens of seconds and gigabytes); now it is refused before any work, with the estimate.
@pytest.fixture(scope="module")
def ranked_demos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    demos = TrajectoryDataset(
        [
            Trajectory(rng.normal(size=(21, 3)).astype(np.float32), rng.uniform(-2, 2, (20, 1)).astype(np.float32), infos={"rank": i})
            for i in range(4)
        ]
    )
    return save_dataset(demos, tmp_path_factory.mktemp("ranked") / "demos", env_id="Pendulum-v1")


@pytest.mark.parametrize(
    ("method", "setting", "expected"),
    [
        ("trex", "ensemble=1000000000", "error: ensemble: 1000000000 reward nets of 67073 parameters would need about 244 TiB"),
        ("trex", "pairs=1000000000000", "error: pairs: 1000000000000 pairs would need about 146 TiB"),
        ("trex", "hidden=100000,100000", "error: hidden: one reward net of 10000600001 parameters would need about 149 GiB"),
        ("brex", "samples=1000000000000", "error: samples: 1 chain(s) x 50000000000 kept samples x 1 parameter(s) would need"),
        ("drex", "trex.ensemble=1000000000", "error: trex.ensemble: 1000000000 reward nets of 67073 parameters"),
        ("drex", "trex.pairs=1000000000000", "error: trex.pairs: 1000000000000 pairs would need"),
        ("drex", "bc_hidden=1000000,1000000", "error: bc_hidden: a clone of 1000006000001 parameters would need"),
    ],
)
def test_ranking_learners_refuse_absurd_sizes_before_any_work(
    tmp_path: Path, ranked_demos: Path, method: str, setting: str, expected: str
) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["prefs", method, "--env", "Pendulum-v1", "--demos", str(ranked_demos), "--out", str(out), "--set", setting]
    )
    assert error_line(result).startswith(expected)
    assert "more than the" in result.stderr and not out.exists()


@pytest.mark.parametrize(
    ("method", "setting", "expected"),
    [
        ("birl", "samples=1000000000000", "error: samples: 4 chain(s) x 125000000000 kept samples x 5 parameter(s) would need"),
        ("deep-maxent", "hidden=100000,100000", "error: hidden: a net of 10000700001 parameters with 200000 hidden units"),
    ],
)
def test_irl_learners_refuse_absurd_sizes_before_allocating(tmp_path: Path, method: str, setting: str, expected: str) -> None:
    world = "navigation:layout=tiny" if method == "birl" else "objectworld:size=8"
    result = runner.invoke(app, ["irl", method, "--world", world, "--out", str(tmp_path / "out"), "--set", setting])
    assert error_line(result).startswith(expected)


def test_the_library_refuses_absurd_sizes_where_they_are_allocated() -> None:
    from rewardlab.data.ranking import snippet_pairs
    from rewardlab.mcmc import MHSettings, metropolis_hastings

    with pytest.raises(ValidationError, match=r"^members: 1000000000000 reward nets of 41 parameters would need about"):
        NeuralReward(RewardNetSpec((3,), hidden=(8,)), members=10**12)
    demos = [Trajectory(np.zeros(5, int), np.zeros(4, int)) for _ in range(2)]
    with pytest.raises(ValidationError, match=r"^n: 10000000000000 pairs would need about"):
        snippet_pairs(demos, [0, 1], 10**13, length=(1, 2), rng=np.random.default_rng(0))

    class Flat:
        def evaluate(self, theta: torch.Tensor, current: Any) -> tuple[torch.Tensor, torch.Tensor, None]:
            raise AssertionError("the sampler ran before checking its memory")

    with pytest.raises(ValidationError, match=r"^samples: 2 chain\(s\) x 10000000000000 kept samples x 3 parameter\(s\)"):
        metropolis_hastings(Flat(), torch.zeros(2, 3), MHSettings(samples=10**13, burn_in=0), generator=torch.Generator())  # type: ignore[arg-type]


def test_the_size_estimates_cover_what_is_allocated() -> None:
    import tracemalloc

    from rewardlab.data.ranking import PAIR_NBYTES, snippet_pairs
    from rewardlab.rewards.nets import RewardNet, check_reward_memory, mlp_parameters

    for spec in (
        RewardNetSpec((3,), hidden=(8, 4), act_dim=2),
        RewardNetSpec((5,), "linear"),
        RewardNetSpec((2, 84, 84), "cnn", hidden=(16,)),
    ):
        assert check_reward_memory(spec, 1) == sum(p.numel() for p in RewardNet(spec).parameters())
    assert mlp_parameters(7, (5, 3), 2) == (7 + 1) * 5 + (5 + 1) * 3 + (3 + 1) * 2
    demos = [Trajectory(np.zeros(101, int), np.zeros(100, int)) for _ in range(4)]
    tracemalloc.start()
    snippet_pairs(demos, [0, 1, 2, 3], 200_000, length=(50, 100), rng=np.random.default_rng(0))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert 0.5 * PAIR_NBYTES < peak / 200_000 <= PAIR_NBYTES  # the estimate is the measured peak, with a little room


# ---------------------------------------------------------------------------- a reward on the wrong env
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # was "obs: has shape (2048, 4). Fix: pass (B, *(3,))", an array the user never made
        (
            RewardNetSpec((3,), hidden=(4,)),
            "error: --reward: was trained on observations of shape (3,), but --env CartPole-v1 gives shape (4,).",
        ),
        # was exit 0: the discrete action index read as a continuous action
        (
            RewardNetSpec((4,), hidden=(4,), act_dim=1),
            "error: --reward: was trained on actions of size 1, but --env CartPole-v1 has 2 discrete",
        ),
    ],
)
def test_train_policy_refuses_a_reward_of_another_env(tmp_path: Path, spec: RewardNetSpec, expected: str) -> None:
    NeuralReward(spec).save(tmp_path / "reward")
    args = ["train-policy", "--env", "CartPole-v1", "--reward", str(tmp_path / "reward"), "--out", str(tmp_path / "run"), "--steps", "64"]
    text = error_line(cli(*args))
    assert text.startswith(expected) and "Fix: pass a reward learned on --env CartPole-v1" in text
    assert not (tmp_path / "run").exists()


def test_reward_wrappers_and_train_policy_refuse_a_reward_of_another_env() -> None:
    import gymnasium as gym

    from rewardlab.rewards.wrappers import LearnedReward, VectorLearnedReward
    from rewardlab.rl import train_policy

    pendulum = NeuralReward(RewardNetSpec((3,), hidden=(4,)))
    with pytest.raises(ValidationError, match=r"^model: was trained on observations of shape \(3,\), but env gives shape \(4,\)"):
        LearnedReward(gym.make("CartPole-v1"), pendulum)
    with pytest.raises(ValidationError, match=r"^model: was trained on observations of shape \(3,\)"):
        VectorLearnedReward(gym.make_vec("CartPole-v1", num_envs=2), pendulum)
    with pytest.raises(ValidationError, match=r"^reward: .* but env_id gives shape \(4,\)"):
        train_policy("CartPole-v1", steps=64, reward=pendulum)
    LearnedReward(gym.make("Pendulum-v1"), pendulum)  # its own env is fine
