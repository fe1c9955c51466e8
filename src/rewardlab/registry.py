"""Every learner of the library by name: its config class, its estimator class, what data it learns
from and where it runs.

The command line, the experiment runner and the shared conformance checks
(:mod:`rewardlab.checks`) read this table; a new learner is added here once and is then reachable
from all three.

Examples:
    >>> spec = LEARNERS["mce"]
    >>> spec.data, sorted(spec.spaces)
    ('demonstrations', ['tabular'])
    >>> learner = make_learner("mce", iterations=50)
    >>> learner.config.causal, learner.config.iterations
    (True, 50)
    >>> make_learner("maxentt")
    Traceback (most recent call last):
    ...
    rewardlab.errors.ConfigError: method: 'maxentt' is not a known learner here. Fix: did you mean 'maxent'? choose one of active-linear, airl, bc, birl, brex, deep-lfl, deep-maxent, drex, gail, gcl, lfl, max-margin, maxent, mce, mwal, perturb, projection, relent, relent-gym, rlhf, trex.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from rewardlab.errors import ConfigError

__all__ = ["LEARNERS", "DataKind", "LearnerSpec", "learner_spec", "learners_for", "make_learner"]

#: What a learner's ``fit`` takes as ``data``: expert demonstrations, ranked trajectories (a
#: :class:`~rewardlab.data.Ranking`, or each with ``infos["rank"]``, higher = better; the ranking learners
#: also take a :class:`~rewardlab.data.PreferenceDataset`), a learner's successive policies or their
#: trajectories, or no dataset but a teacher who answers queries during the fit (``"teacher"``;
#: active-linear's ``data`` is the simulated teacher's true weights; RLHF's ``fit(env, *, rng,
#: teacher=None, ...)`` takes none, its teacher a B-Pref preset of its config by default, labelling
#: the learner's own rollouts).
DataKind = Literal["demonstrations", "rankings", "stages", "teacher"]


@dataclass(frozen=True)
class LearnerSpec:
    """One learner in the registry.

    Attributes:
        name: the name on the command line, e.g. ``"max-margin"``.
        description: one line with the paper it implements.
        learner: ``"module:Class"`` of the estimator (imported on first use, so the table is cheap).
        config: ``"module:Class"`` of its frozen config dataclass.
        fixed: config fields this name fixes (``max-margin`` is ``ApprenticeshipConfig(method="max_margin")``).
        data: what ``fit`` learns from (:data:`DataKind`).
        spaces: where it runs: ``"tabular"`` (a ``TabularMDP``) and/or ``"gym"`` (Gymnasium spaces or env).
        iterative: whether ``fit`` reports steps to a callback that can stop it.
        empty_ok: whether empty data has a meaning (Bayesian IRL then samples its prior) rather than
            being an error.
        resumable: whether ``fit`` takes ``checkpoint=`` (a :class:`rewardlab.checkpoint.Checkpoint`) and
            continues a killed fit from its latest checkpoint, returning what an uninterrupted fit returns
            (bit for bit, except for ``"teacher"`` learners and GAIL and AIRL: their envs restart their episodes on
            resume, so they continue the same schedule (and label budget), not the same numbers).
            The others (the exact tabular solvers, which take seconds) are simply fitted again from the
            start by ``rewardlab run --resume``.
        resume_exact: whether a resumed fit returns bit for bit what an uninterrupted fit returns (False:
            its envs restart their episodes on resume, so it continues the same schedule with other numbers;
            :func:`rewardlab.checks.learner_checks` then checks the schedule, and that a fit run again after it
            finished returns the resumed fit's reward).
    """

    name: str
    description: str
    learner: str
    config: str
    data: DataKind
    spaces: frozenset[str]
    fixed: dict[str, Any] = field(default_factory=dict)
    iterative: bool = True
    empty_ok: bool = False
    resumable: bool = False
    resume_exact: bool = True

    def config_class(self) -> type:
        return _load(self.config)

    def learner_class(self) -> type:
        return _load(self.learner)

    def make_config(self, **settings: Any) -> Any:
        """The config with this name's fixed fields and ``settings`` over the defaults: each setting is
        checked against its declared field type (command-line text is read by that type, nested keys as
        ``trex.steps``) by :func:`rewardlab._schema.apply_settings`, then by the config's own checks.

        Raises:
            ConfigError: an unknown key (with a did-you-mean), a value of the wrong type, a fixed key.
        """
        from rewardlab._schema import apply_settings

        cls = self.config_class()
        return cls(**apply_settings(cls, settings, self.name, fixed=self.fixed), **self.fixed)

    def make(self, **overrides: Any) -> Any:
        """A learner of this kind, configured by ``overrides`` over the defaults."""
        return self.learner_class()(self.make_config(**overrides))


def _load(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


_TAB = frozenset({"tabular"})
_GYM = frozenset({"gym"})
_BOTH = frozenset({"tabular", "gym"})

LEARNERS: dict[str, LearnerSpec] = {
    spec.name: spec
    for spec in (
        LearnerSpec(
            "bc",
            "behavioural cloning: copy the demonstrated actions (tabular counts; model=mlp over features)",
            "rewardlab.irl.bc:BehaviouralCloning",
            "rewardlab.irl.bc:BCConfig",
            "demonstrations",
            _TAB,
            iterative=False,
            resumable=True,
        ),
        LearnerSpec(
            "projection",
            "apprenticeship learning, projection method, Abbeel & Ng 2004",
            "rewardlab.irl.feature_matching:Apprenticeship",
            "rewardlab.irl.feature_matching:ApprenticeshipConfig",
            "demonstrations",
            _TAB,
            fixed={"method": "projection"},
        ),
        LearnerSpec(
            "max-margin",
            "apprenticeship learning, max-margin method, Abbeel & Ng 2004",
            "rewardlab.irl.feature_matching:Apprenticeship",
            "rewardlab.irl.feature_matching:ApprenticeshipConfig",
            "demonstrations",
            _TAB,
            fixed={"method": "max_margin"},
        ),
        LearnerSpec(
            "mwal",
            "multiplicative weights apprenticeship learning, Syed & Schapire 2007",
            "rewardlab.irl.mwal:MWAL",
            "rewardlab.irl.mwal:MWALConfig",
            "demonstrations",
            _TAB,
        ),
        LearnerSpec(
            "maxent",
            "MaxEnt IRL, Ziebart et al. 2008 (linear in features)",
            "rewardlab.irl.maxent:MaxEntIRL",
            "rewardlab.irl.maxent:MaxEntConfig",
            "demonstrations",
            _TAB,
            fixed={"causal": False},
            resumable=True,
        ),
        LearnerSpec(
            "mce",
            "maximum causal entropy IRL, Ziebart et al. 2010 (linear in features)",
            "rewardlab.irl.maxent:MaxEntIRL",
            "rewardlab.irl.maxent:MaxEntConfig",
            "demonstrations",
            _TAB,
            fixed={"causal": True},
            resumable=True,
        ),
        LearnerSpec(
            "deep-maxent",
            "Deep MaxEnt IRL, Wulfmeier et al. 2015 (MLP over features)",
            "rewardlab.irl.deep_maxent:DeepMaxEntIRL",
            "rewardlab.irl.deep_maxent:DeepMaxEntConfig",
            "demonstrations",
            _TAB,
            resumable=True,
        ),
        LearnerSpec(
            "relent",
            "relative-entropy IRL, Boularias et al. 2011: MaxEnt with Z importance-sampled from a background policy's trajectories",
            "rewardlab.irl.sample_based:RelativeEntropyIRL",
            "rewardlab.irl.sample_based:RelativeEntropyConfig",
            "demonstrations",
            _TAB,
        ),
        LearnerSpec(
            "relent-gym",
            "relative-entropy IRL on a Gymnasium env, Boularias et al. 2011: Z over a uniform random policy's segments; random features or an MLP",
            "rewardlab.irl.sample_based:GymRelativeEntropyIRL",
            "rewardlab.irl.sample_based:GymRelativeEntropyConfig",
            "demonstrations",
            _GYM,
        ),
        LearnerSpec(
            "perturb",
            "MaxEnt with each demonstration's Z from noisy copies of it, Kalakrishnan et al. 2013",
            "rewardlab.irl.sample_based:PerturbationIRL",
            "rewardlab.irl.sample_based:PerturbationConfig",
            "demonstrations",
            _TAB,
        ),
        LearnerSpec(
            "gail",
            "generative adversarial imitation, Ho & Ermon 2016: a discriminator's reward for an SB3 PPO generator",
            "rewardlab.irl.adversarial:GAIL",
            "rewardlab.irl.adversarial:GAILConfig",
            "demonstrations",
            _GYM,
            resumable=True,
            resume_exact=False,
        ),
        LearnerSpec(
            "airl",
            "adversarial IRL, Fu et al. 2018: a shaped discriminator whose reward term g(s) is reusable",
            "rewardlab.irl.adversarial:AIRL",
            "rewardlab.irl.adversarial:AIRLConfig",
            "demonstrations",
            _GYM,
            resumable=True,
            resume_exact=False,
        ),
        LearnerSpec(
            "gcl",
            "guided cost learning, Finn et al. 2016: a neural reward's MaxEnt Z importance-sampled from the SB3 PPO policies it trains",
            "rewardlab.irl.gcl:GuidedCostLearning",
            "rewardlab.irl.gcl:GCLConfig",
            "demonstrations",
            _GYM,
        ),
        LearnerSpec(
            "birl",
            "Bayesian IRL, Ramachandran & Amir 2007 (MCMC posterior over rewards; MAP reward)",
            "rewardlab.irl.bayesian:BayesianIRL",
            "rewardlab.irl.bayesian:BayesianIRLConfig",
            "demonstrations",
            _TAB,
            empty_ok=True,
            resumable=True,
        ),
        LearnerSpec(
            "lfl",
            "learning from a learner, Jacq et al. 2019 (its successive soft policy-iteration policies)",
            "rewardlab.irl.lfl:LearnerIRL",
            "rewardlab.irl.lfl:LearnerIRLConfig",
            "stages",
            _TAB,
            iterative=False,
        ),
        LearnerSpec(
            "deep-lfl",
            "learning from a learner with neural policies and reward, Jacq et al. 2019 section 4",
            "rewardlab.irl.lfl_deep:DeepLearnerIRL",
            "rewardlab.irl.lfl_deep:DeepLearnerIRLConfig",
            "stages",
            _GYM,
            resumable=True,
        ),
        LearnerSpec(
            "trex",
            "T-REX, Brown et al. 2019: Bradley-Terry on snippets of ranked trajectories",
            "rewardlab.prefs.trex:TREX",
            "rewardlab.prefs.trex:TREXConfig",
            "rankings",
            _BOTH,
            resumable=True,
        ),
        LearnerSpec(
            "drex",
            "D-REX, Brown et al. 2019: rankings made by injecting noise into a behavioural clone, then T-REX",
            "rewardlab.prefs.drex:DREX",
            "rewardlab.prefs.drex:DREXConfig",
            "demonstrations",
            _GYM,
            resumable=True,
        ),
        LearnerSpec(
            "brex",
            "Bayesian REX, Brown et al. 2020: MCMC over a linear reward on learned features of ranked trajectories",
            "rewardlab.prefs.brex:BayesianREX",
            "rewardlab.prefs.brex:BayesianREXConfig",
            "rankings",
            _BOTH,
            resumable=True,
        ),
        LearnerSpec(
            "active-linear",
            "active preference learning of a linear reward, Sadigh et al. 2017, Biyik et al. 2019 (APReL): one query a step to a simulated teacher",
            "rewardlab.prefs.active_linear:ActivePreferenceLearner",
            "rewardlab.prefs.active_linear:ActivePreferenceConfig",
            "teacher",
            _TAB,
        ),
        LearnerSpec(
            "rlhf",
            "RL from preferences, Christiano et al. 2017: a policy, a reward ensemble and a teacher's labels in one loop",
            "rewardlab.prefs.rlhf:RLHF",
            "rewardlab.prefs.rlhf:RLHFConfig",
            "teacher",
            _GYM,
            resumable=True,
            resume_exact=False,
        ),
    )
}


def learners_for(*, data: DataKind | None = None, space: str | None = None) -> list[str]:
    """Names of the learners that take ``data`` and run on ``space`` (``"tabular"`` or ``"gym"``).

    Examples:
        >>> learners_for(data="rankings", space="tabular")
        ['brex', 'trex']
    """
    return sorted(n for n, s in LEARNERS.items() if (data is None or s.data == data) and (space is None or space in s.spaces))


def make_learner(name: str, **overrides: Any) -> Any:
    """The learner called ``name`` (a key of :data:`LEARNERS`), configured by ``overrides``.

    Raises:
        ConfigError: an unknown name or setting, naming the valid ones (with a "did you mean").
    """
    return learner_spec(name).make(**overrides)


def learner_spec(name: str, among: Iterable[str] | None = None) -> LearnerSpec:
    """The registry entry ``name``, which must be one of ``among`` (default: every learner).

    Raises:
        ConfigError: an unknown name, naming the valid ones (with a "did you mean").
    """
    from rewardlab._schema import did_you_mean

    valid = sorted(LEARNERS if among is None else among)
    if name not in valid:
        raise ConfigError("method", f"{name!r} is not a known learner here", f"{did_you_mean(name, valid)}choose one of {', '.join(valid)}")
    return LEARNERS[name]
