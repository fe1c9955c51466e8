"""T-REX: Trajectory-ranked Reward EXtrapolation (Brown, Goo, Nagarajan, Niekum, ICML 2019).

Given trajectories ranked by quality (no rewards), learn ``r_theta`` so that better trajectories get
higher predicted returns, by Bradley–Terry on pairs of snippets:

    ``min_theta  - sum_{(tau_i ≺ tau_j)} log [exp sum_{s in tau_j} r(s) / (exp sum_{s in tau_i} r(s) + exp sum_{s in tau_j} r(s))]``

Because the loss only asks for the *order*, the learned reward can rank (and a policy can reach)
behaviour better than the best demonstration: the extrapolation the paper is named for.

The same learner runs on

* a :class:`~rewardlab.mdp.TabularMDP` with state features: observations are state indices, the net
  sees ``features[s]``, and ``architecture="auto"`` is a *linear* reward ``w^T phi(s)`` (tabular T-REX);
  ``fit`` then returns a :class:`~rewardlab.rewards.TabularReward` and its optimal policy;
* a Gymnasium env (or its observation/action spaces): an MLP on vectors, the T-REX CNN on image stacks;
  ``fit`` returns a :class:`~rewardlab.rewards.NeuralReward` ensemble, normalised on the training data.

Training pairs come from :func:`rewardlab.data.ranking.snippet_pairs` (the better snippet starts no
earlier than the worse one), each ensemble member with its own pairs and initialisation.

``data`` may also be a :class:`~rewardlab.data.PreferenceDataset` of labelled segment pairs (Christiano et
al. 2017's data, e.g. from a simulated teacher or a person): the same loop then trains on those pairs
themselves, whole segments, with the label ``P(a ≻ b)`` as the Bradley–Terry target (a tie is 0.5,
skipped labels are dropped) instead of drawing snippet pairs from a ranking.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from rewardlab._memory import check_memory
from rewardlab._optim import Adam
from rewardlab.checkpoint import Checkpoint, rng_state, set_rng_state
from rewardlab.data.gym_rollouts import env_spaces
from rewardlab.data.preferences import PreferenceDataset, Ranking
from rewardlab.data.ranking import PAIR_NBYTES, SnippetPairs, as_dataset, ranking_scores, snippet_pairs
from rewardlab.data.trajectory import TrajectoryDataset
from rewardlab.data.validate import validate_dataset, validate_segments
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.eval.ranking import RankingAgreement, ranking_agreement
from rewardlab.learner import Callback, FitResult, History, ensure_finite, run_callback
from rewardlab.mdp import TabularMDP, value_iteration
from rewardlab.prefs.auxiliary import AUX_LOSSES, AuxiliaryHeads
from rewardlab.prefs.losses import bradley_terry_loss
from rewardlab.rewards import NeuralReward, RewardNetSpec, TabularReward
from rewardlab.rewards.nets import check_reward_memory

__all__ = [
    "TREX",
    "TREXConfig",
    "TrajectoryEncoder",
    "answered_preferences",
    "predicted_returns",
    "ranked_data",
    "recorded_agreement",
    "trex_ranking_warning",
]

# training and validation accuracy are measured on at most this many pairs each
_ACCURACY_PAIRS = 1000


@dataclass(frozen=True)
class TREXConfig:
    """Hyperparameters of T-REX.

    Attributes:
        architecture: ``"auto"`` (linear on a tabular MDP's features, MLP on vectors, CNN on images),
            ``"linear"``, ``"mlp"`` or ``"cnn"``.
        hidden: hidden widths of the MLP (the CNN's dense width is ``hidden[0]``).
        use_action: reward on (observation, action) instead of observation only.
        ensemble: number of independently trained members.
        pairs: training pairs per member (drawn from a ranking; a preference dataset's pairs are its own).
        snippet: ``(lo, hi)`` snippet lengths in decisions, or None to compare whole trajectories
            (rankings; a preference dataset's segments are compared whole).
        steps: gradient steps per member.
        batch_size: pairs per step.
        lr: Adam step size.
        weight_decay: L2 penalty on the weights.
        noise: probability that a ranking label is a random answer (robust Bradley–Terry).
        margin: margin of the preferred return.
        ties: keep pairs of equal rank as ties (label 0.5) (rankings; a preference dataset's ties are
            always trained on, as 0.5 targets).
        min_gap: only pair trajectories whose ranking scores differ by at least this (rankings).
        validation: fraction of each member's pairs held out to measure ranking accuracy (on at most
            1,000 of them; training accuracy likewise); each member draws its own split.
        normalize: after training, scale each member to zero mean, unit std on the training observations.
        device: ``"cpu"`` or ``"cuda"``.
        report_every: log and call the callback every this many steps.
        aux: self-supervised losses trained on the net's features alongside the ranking loss, names from
            :data:`rewardlab.prefs.auxiliary.AUX_LOSSES` (B-REX's pretraining; MLP or CNN rewards on
            observations only; ``"forward_dynamics"`` on vector observations only).
        aux_weight: weight of the summed auxiliary losses against the Bradley–Terry loss.
        aux_batch: transitions per auxiliary loss and step.
    """

    architecture: Literal["auto", "linear", "mlp", "cnn"] = "auto"
    hidden: tuple[int, ...] = (256, 256)
    use_action: bool = False
    ensemble: int = 1
    pairs: int = 6000
    snippet: tuple[int, int] | None = (50, 100)
    steps: int = 2000
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 0.0
    noise: float = 0.0
    margin: float = 0.0
    ties: bool = False
    min_gap: float = 0.0
    validation: float = 0.1
    normalize: bool = True
    device: str = "cpu"
    report_every: int = 100
    aux: tuple[str, ...] = ()
    aux_weight: float = 1.0
    aux_batch: int = 64

    def __post_init__(self) -> None:
        if self.architecture not in ("auto", "linear", "mlp", "cnn"):
            raise ConfigError("architecture", f"is {self.architecture!r}", "choose 'auto', 'linear', 'mlp' or 'cnn'")
        for name in ("ensemble", "pairs", "steps", "batch_size", "report_every"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"is {getattr(self, name)}", "use at least 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError("lr", f"is {self.lr}", "use a positive step size")
        if not 0 <= self.validation < 1:
            raise ConfigError("validation", f"is {self.validation}", "hold out a fraction in [0, 1)")
        if self.snippet is not None and not 1 <= self.snippet[0] <= self.snippet[1]:
            raise ConfigError("snippet", f"is {self.snippet}", "pass (lo, hi) with 1 <= lo <= hi, or None")
        object.__setattr__(self, "aux", (self.aux,) if isinstance(self.aux, str) else tuple(self.aux))
        unknown = sorted(set(self.aux) - set(AUX_LOSSES))
        if unknown:
            raise ConfigError("aux", f"names {unknown}", f"choose from {list(AUX_LOSSES)}")
        if self.aux and self.architecture == "linear":
            raise ConfigError("aux", "is set for a linear reward", "auxiliary losses train an MLP's or CNN's features: use 'mlp' or 'cnn'")
        if self.aux and self.use_action:
            raise ConfigError("aux", "is set with use_action=True", "auxiliary losses need a reward on observations only")
        if not (self.aux_weight >= 0 and math.isfinite(self.aux_weight)):
            raise ConfigError("aux_weight", f"is {self.aux_weight}", "use a finite weight >= 0")
        if self.aux_batch < 1:
            raise ConfigError("aux_batch", f"is {self.aux_batch}", "use at least 1")
        check_memory("pairs", self.pairs * PAIR_NBYTES, f"{self.pairs} pairs", "draw fewer pairs")  # whatever the data


@dataclass
class TrajectoryEncoder:
    """Turns trajectories into the tensors a reward net reads, all concatenated on one axis.

    For a tabular MDP the observation of state ``s`` is ``features[s]`` and actions are integers;
    for a Gymnasium env, observations and actions are taken as they are.
    """

    spec: RewardNetSpec
    features: Tensor | None = None  # (S, F) for a tabular MDP

    @classmethod
    def for_env(
        cls, env_or_mdp: Any, *, architecture: str = "auto", hidden: tuple[int, ...] = (256, 256), use_action: bool = False
    ) -> TrajectoryEncoder:
        """The encoder (and net spec) for an MDP, a Gymnasium env, or an ``(observation_space, action_space)`` pair."""
        if isinstance(env_or_mdp, TabularMDP):
            if env_or_mdp.features is None:
                raise ValidationError("env_or_mdp", "is a TabularMDP without features", "give the MDP state features (S, F)")
            arch = "linear" if architecture == "auto" else architecture
            if arch == "cnn":
                raise ConfigError("architecture", "is 'cnn' on a tabular MDP", "use 'linear' or 'mlp'")
            phi = env_or_mdp.features.detach().cpu().float()
            act_dim = env_or_mdp.n_actions if use_action else 0
            spec = RewardNetSpec((phi.shape[1],), arch, hidden, act_dim, True)  # type: ignore[arg-type]
            return cls(spec, phi)
        obs_space, act_space = env_spaces(env_or_mdp)
        if not isinstance(obs_space, gym.spaces.Box):
            raise ValidationError("observation_space", f"is {obs_space}", "use Box observations (vectors or image stacks)")
        shape = tuple(obs_space.shape)
        arch = ("cnn" if len(shape) == 3 else "mlp") if architecture == "auto" else architecture
        discrete = isinstance(act_space, gym.spaces.Discrete)
        act_dim = 0
        if use_action:
            act_dim = int(act_space.n) if isinstance(act_space, gym.spaces.Discrete) else int(np.prod(act_space.shape or ()))
        return cls(RewardNetSpec(shape, arch, hidden, act_dim, discrete), None)  # type: ignore[arg-type]

    @classmethod
    def for_reward(cls, env_or_mdp: Any, model: NeuralReward) -> TrajectoryEncoder:
        """The encoder that turns ``env_or_mdp``'s trajectories into ``model``'s inputs (its spec's
        architecture, widths and action input)."""
        spec = model.spec
        return cls.for_env(env_or_mdp, architecture=spec.architecture, hidden=spec.hidden, use_action=spec.uses_action)

    def observations(self, dataset: TrajectoryDataset) -> tuple[Tensor, Tensor, np.ndarray]:
        """``(obs (sum_n T_n, ...), acts (sum_n T_n, ...), offsets (N,))``: the decision observations
        ``obs[:-1]`` and actions of every trajectory, concatenated; trajectory ``n`` starts at ``offsets[n]``."""
        obs = np.concatenate([np.asarray(tr.obs)[: len(tr)] for tr in dataset])
        acts = np.concatenate([np.asarray(tr.acts) for tr in dataset])
        lengths = np.array([len(tr) for tr in dataset])
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return self._encode(obs, "trajectories"), torch.as_tensor(acts), offsets

    def segments(self, dataset: PreferenceDataset) -> tuple[Tensor, Tensor, np.ndarray]:
        """``(obs (2 N T, ...), acts (2 N T, ...), offsets (2 N,))`` of the ``N`` preferences' segments of
        ``T`` steps, concatenated in the order of :func:`~rewardlab.data.save_preferences`: segment ``2k``
        is preference ``k``'s ``a``, ``2k + 1`` its ``b``, starting at ``offsets = T * arange(2 N)``."""
        batch = dataset.segments()
        n, t = len(dataset), int(dataset.length or 0)
        obs = np.stack([batch.obs_a, batch.obs_b], 1).reshape(2 * n * t, *batch.obs_a.shape[2:])
        acts = np.stack([batch.acts_a, batch.acts_b], 1).reshape(2 * n * t, *batch.acts_a.shape[2:])
        return self._encode(obs, "data"), torch.as_tensor(acts), np.arange(2 * n, dtype=np.int64) * t

    def _encode(self, obs: np.ndarray, name: str) -> Tensor:
        """The net's input rows of decision observations ``obs`` ``(K, ...)`` (``features[s]`` on a tabular MDP)."""
        if self.features is not None:
            if obs.ndim != 1 or not np.issubdtype(obs.dtype, np.integer):
                raise ValidationError(f"{name}.obs", "are not state indices", "pass tabular trajectories of this MDP")
            return self.features[torch.as_tensor(obs, dtype=torch.long)]
        if tuple(obs.shape[1:]) != self.spec.obs_shape:
            raise ValidationError(
                f"{name}.obs", f"have shape {obs.shape[1:]}", f"pass observations of shape {self.spec.obs_shape} (from this env)"
            )
        o = torch.as_tensor(obs)
        return o.float() if o.dtype == torch.float64 else o

    def encode(self, data: TrajectoryDataset | PreferenceDataset) -> tuple[Tensor, Tensor, np.ndarray, np.ndarray]:
        """``(obs, acts, offsets, lengths)`` of trajectories (:meth:`observations`) or of a preference
        dataset's segments (:meth:`segments`); ``lengths`` ``(N,)`` counts each one's decisions."""
        obs, acts, offsets = self.segments(data) if isinstance(data, PreferenceDataset) else self.observations(data)
        return obs, acts, offsets, np.diff(np.append(offsets, len(obs)))


def _segment_index(offsets: np.ndarray, which: np.ndarray, start: np.ndarray, length: np.ndarray) -> tuple[Tensor, Tensor]:
    """Row indices of every decision in each snippet, and the snippet each row belongs to."""
    seg = np.repeat(np.arange(len(which)), length)
    within = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
    rows = np.repeat(offsets[which] + start, length) + within
    return torch.as_tensor(rows), torch.as_tensor(seg)


def snippet_returns(model: NeuralReward, member: int, obs: Tensor, acts: Tensor, rows: Tensor, seg: Tensor, n: int) -> Tensor:
    """``(n,)`` predicted returns of ``n`` snippets: one forward pass over all their rows, then segment sums."""
    r = model.member(member)(obs[rows], acts[rows] if model.spec.uses_action else None)
    return torch.zeros(n, dtype=r.dtype, device=r.device).index_add_(0, seg.to(r.device), r)


def _pair_returns(
    model: NeuralReward, m: int, data: tuple[Tensor, Tensor, np.ndarray], p: SnippetPairs, pick: np.ndarray
) -> tuple[Tensor, Tensor]:
    obs, acts, offsets = data
    n = len(pick)
    which = np.concatenate([p.first[pick], p.second[pick]])
    start = np.concatenate([p.first_start[pick], p.second_start[pick]])
    length = np.concatenate([p.first_length[pick], p.second_length[pick]])
    rows, seg = _segment_index(offsets, which, start, length)
    ret = snippet_returns(model, m, obs, acts, rows.to(obs.device), seg, 2 * n)
    return ret[:n], ret[n:]


def predicted_returns(model: Any, dataset: Any, encoder: TrajectoryEncoder) -> np.ndarray:
    """``(N,)`` predicted returns ``sum_t r(obs_t, a_t)`` of whole trajectories under ``model``'s ensemble
    mean; of a :class:`~rewardlab.data.PreferenceDataset`, the ``(2 N,)`` returns of its segments
    (``2k``: preference ``k``'s ``a``, ``2k + 1``: its ``b``, as :meth:`TrajectoryEncoder.segments`)."""
    ds = dataset if isinstance(dataset, PreferenceDataset) else as_dataset(dataset)
    obs, acts, offsets, lengths = encoder.encode(ds)
    device = model.offset.device
    out = np.zeros(len(offsets))
    with torch.no_grad():
        for n in range(len(offsets)):
            sl = slice(int(offsets[n]), int(offsets[n] + lengths[n]))
            out[n] = float(model(obs[sl].to(device), acts[sl].to(device) if model.spec.uses_action else None).sum())
    return out


def ranked_data(data: Any, scores: Any) -> Any:
    """``data`` as the ranked trajectories T-REX and B-REX read: a :class:`~rewardlab.data.Ranking` becomes
    :meth:`Ranking.to_dataset() <rewardlab.data.Ranking.to_dataset>` (worst first, ``infos["rank"]`` = its
    scores); anything else is returned unchanged. A ranking carries its own scores, so ``scores`` must
    then be None."""
    if not isinstance(data, Ranking):
        return data
    if scores is not None:
        raise ValidationError(
            "scores", "was given with a Ranking", "pass the scores in the Ranking (Ranking(trajectories, scores=...)), not both"
        )
    return data.to_dataset()


def _env_id(env_or_mdp: Any) -> str | None:
    """The Gymnasium id of an env id or a made env (its ``spec.id``), else None (spaces, a factory, an MDP)."""
    if isinstance(env_or_mdp, str):
        return env_or_mdp
    spec = getattr(env_or_mdp, "spec", None)
    return getattr(spec, "id", None) if spec is not None and not isinstance(env_or_mdp, TabularMDP) else None


def answered_preferences(data: PreferenceDataset, env_or_mdp: Any, scores: Any = None, *, name: str = "data") -> PreferenceDataset:
    """The answered preferences of ``data``, checked against ``env_or_mdp``: what T-REX and B-REX train on.

    Skipped preferences say nothing about which segment is better and are dropped; a tie (0.5) stays.

    Raises:
        ValidationError: ``scores`` given (a preference dataset carries its labels), an empty dataset or
            one whose every preference is skipped, an ``env_id`` other than the env's (when both are
            known), segments that do not fit the MDP or the spaces
            (:func:`~rewardlab.data.validate.validate_segments`), each naming ``name``.

    Examples:
        >>> from rewardlab.data import Preference, Segment
        >>> seg = Segment(np.zeros((2, 3), np.float32), np.zeros((2, 1), np.float32))
        >>> ds = PreferenceDataset([Preference(seg, seg, 1.0), Preference(seg, seg, "skipped")], env_id="Pendulum-v1")
        >>> len(answered_preferences(ds, "Pendulum-v1"))
        1
        >>> answered_preferences(ds, "CartPole-v1")
        Traceback (most recent call last):
        ...
        rewardlab.errors.ValidationError: data.env_id: is 'Pendulum-v1', but the env is 'CartPole-v1'. Fix: fit on preferences recorded in CartPole-v1 (or pass the env those segments come from).
    """
    if scores is not None:
        raise ValidationError(
            "scores", "was given with a PreferenceDataset", "leave it out: the preferences' labels say which segment is better"
        )
    if not len(data):
        raise ValidationError(name, "holds no preferences", "pass at least one labelled pair of segments")
    answered = data.answered()
    if not len(answered):
        raise ValidationError(
            name,
            f"has no answered preference: all {len(data)} are skipped",
            "label some pairs 1.0 (a better), 0.0 (b better) or 0.5 (a tie)",
        )
    env_id = _env_id(env_or_mdp)
    if data.env_id is not None and env_id is not None and data.env_id != env_id:
        raise ValidationError(
            f"{name}.env_id",
            f"is {data.env_id!r}, but the env is {env_id!r}",
            f"fit on preferences recorded in {env_id} (or pass the env those segments come from)",
        )
    validate_segments(answered, env_or_mdp, name=name)
    return answered


def recorded_agreement(dataset: TrajectoryDataset, scores: np.ndarray) -> RankingAgreement | None:
    """:func:`~rewardlab.eval.ranking.ranking_agreement` of ``scores`` with the trajectories' true returns,
    or None when some trajectory has no recorded rewards (nothing to check against)."""
    if not len(dataset) or any(tr.rews is None for tr in dataset):
        return None
    return ranking_agreement(scores, dataset.returns())


def trex_ranking_warning(agreement: RankingAgreement | None, method: str = "T-REX") -> str | None:
    """The warning of T-REX and B-REX when the recorded true returns do not rise with rank, else None."""
    if agreement is None or agreement.agrees is not False:
        return None
    return (
        f"{method}: the recorded true returns do not rise with rank ({agreement.describe()}); "
        "the learned reward explains this order, which need not be the task's (are the better-ranked trajectories really better?)"
    )


@dataclass
class TREX:
    """T-REX with the estimator shape of :mod:`rewardlab.learner`.

    ``fit(data, env_or_mdp, *, rng, scores=None)``: ``data`` is

    * a :class:`~rewardlab.data.Ranking`, or a dataset of ranked trajectories whose ``infos["rank"]``
      (higher = better) gives the order, or pass ``scores`` explicitly: each member draws ``pairs``
      snippet pairs (:func:`~rewardlab.data.ranking.snippet_pairs`). When every trajectory records its
      true rewards, ``info["ranking_tau"]`` is the Kendall tau between rank and true return
      (:func:`~rewardlab.eval.ranking.ranking_agreement`) and ``info["warnings"]`` says so if the
      returns do not rise with rank;
    * a :class:`~rewardlab.data.PreferenceDataset`: the members train on its answered pairs of whole
      segments, ``-[y log sigmoid(R_a - R_b) + (1 - y) log sigmoid(R_b - R_a)]`` with the label
      ``y = P(a ≻ b)`` (a tie is ``y = 0.5``; skipped labels are dropped; ``noise`` and ``margin``
      apply as for rankings), each member with its own validation split. ``info["pairs"]`` counts the
      answered pairs and ``info["skipped"]`` the dropped ones; a dataset whose ``env_id`` is not the
      env's, or whose segments do not fit the env (:func:`answered_preferences`), is refused naming ``data``.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> from rewardlab.data import Trajectory
        >>> mdp = chain(4, discount=0.9).replace(features=torch.eye(4))
        >>> demos = [Trajectory(np.array([s] * 6), np.zeros(5, int), infos={"rank": s}) for s in range(4)]
        >>> fit = TREX(TREXConfig(snippet=(2, 4), pairs=200, steps=300, lr=0.05)).fit(demos, mdp, rng=np.random.default_rng(0))
        >>> fit.reward.values.argsort().tolist()  # staying in a higher state was ranked better
        [0, 1, 2, 3]
        >>> fit.info["val_accuracy"]
        1.0

        From labelled pairs of segments instead: 1 beats 0, 3 beats 1, 1 ties with 2, one pair skipped:

        >>> from rewardlab.data import Preference, PreferenceDataset, Segment
        >>> def seg(s): return Segment(np.full(3, s), np.zeros(3, int))
        >>> prefs = PreferenceDataset([Preference(seg(1), seg(0), 1.0), Preference(seg(3), seg(1), 1.0),
        ...                            Preference(seg(1), seg(2), 0.5), Preference(seg(0), seg(3), "skipped")])
        >>> fit = TREX(TREXConfig(steps=300, lr=0.05, validation=0.0)).fit(prefs, mdp, rng=np.random.default_rng(0))
        >>> r = fit.reward.values
        >>> bool(r[3] > r[1] > r[0]), bool(abs(r[1] - r[2]) < 0.01), fit.info["pairs"], fit.info["skipped"]
        (True, True, 3, 1)
    """

    config: TREXConfig = field(default_factory=TREXConfig)

    def fit(
        self,
        data: Any,
        env_or_mdp: Any,
        *,
        rng: np.random.Generator,
        callback: Callback | None = None,
        scores: Any = None,
        checkpoint: Checkpoint | None = None,
    ) -> FitResult:
        """Train the ensemble, member after member, on the ranked trajectories or preferences ``data``.

        With ``checkpoint``, the state after global step ``m * steps + step`` (the callback's numbering:
        every member's weights and normaliser, the current member's Adam moments and auxiliary heads, the
        random states, history, finished members' accuracies) is saved when due and after the last step;
        a fit run again with the same settings, data and seed continues from the latest one, drawing the
        current member's pairs and validation split again from the random state they were drawn from,
        and returns what an uninterrupted fit returns.
        """
        cfg = self.config
        diverged = f"lower lr (now {cfg.lr:g}) or add weight_decay"
        source = _training_data(cfg, data, env_or_mdp, scores)
        encoder = TrajectoryEncoder.for_env(env_or_mdp, architecture=cfg.architecture, hidden=cfg.hidden, use_action=cfg.use_action)
        obs, acts, offsets, lengths = encoder.encode(source.data)
        device = torch.device(cfg.device)
        tensors = (obs.to(device), acts.to(device), offsets)
        if checkpoint is not None:
            checkpoint = checkpoint.bind("trex", cfg, encoder.spec, obs, acts, offsets, source.fingerprint, rng_state(rng))
        seed = int(rng.integers(2**31))
        check_reward_memory(encoder.spec, cfg.ensemble, fields=("ensemble", "hidden"))
        model = NeuralReward(encoder.spec, members=cfg.ensemble, seed=seed).to(device)
        aux = _Auxiliary(cfg, encoder, env_or_mdp, lengths, tensors, seed) if cfg.aux else None
        history = History()
        accuracies: list[tuple[float, float]] = []
        aux_final: list[dict[str, float]] = []
        saved = checkpoint.restore() if checkpoint is not None else None
        first_member = 0
        if saved is not None:  # the finished members, and the random state the current member's pairs were drawn from
            model.load_state_dict(saved["model"])
            history.load_state_dict(saved["history"])
            accuracies = [(float(a), float(b)) for a, b in saved["accuracies"]]
            aux_final = [dict(d) for d in saved["aux_final"]]
            first_member = int(saved["member"])
            set_rng_state(rng, saved["member_rng"])
        total_steps = cfg.ensemble * cfg.steps
        for m in range(first_member, cfg.ensemble):
            member_rng = rng_state(rng) if checkpoint is not None else None
            pairs = source.draw(rng)
            n_val = round(cfg.validation * len(pairs))
            order = rng.permutation(len(pairs))
            val, train = order[:n_val], order[n_val:]
            label = torch.as_tensor(pairs.label, device=device)
            heads = aux.heads(model, m) if aux is not None else None
            params = [*model.member(m).parameters(), *(heads.parameters() if heads is not None else ())]
            opt = Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
            stopped = False
            first_step = 1
            if saved is not None and m == first_member:  # the current member: where its training stopped
                opt.load_state_dict(saved["optimizer"])
                if heads is not None and aux is not None:
                    heads.load_state_dict(saved["heads"])
                    set_rng_state(aux.rng, saved["aux_rng"])
                set_rng_state(rng, saved["rng"])
                first_step = int(saved["member_step"]) + 1
            for step in range(first_step, cfg.steps + 1):
                pick = train[rng.integers(len(train), size=min(cfg.batch_size, len(train)))]
                ra, rb = _pair_returns(model, m, tensors, pairs, pick)
                loss = bradley_terry_loss(ra, rb, label[pick].to(ra.dtype), noise=cfg.noise, margin=cfg.margin)
                extra = aux.losses(model, m, heads) if aux is not None and heads is not None else {}
                total = loss + cfg.aux_weight * sum(extra.values()) if extra else loss
                opt.zero_grad()
                torch.autograd.backward(total)
                opt.step()
                if step % cfg.report_every == 0 or step == cfg.steps:  # the loss is read (one device sync) only here
                    ensure_finite(float(total.detach()), f"T-REX loss (member {m})", step=step, fix=diverged)
                    metrics = {"member": float(m), "loss": float(loss.detach()), **{k: float(v.detach()) for k, v in extra.items()}}
                    history.log(m * cfg.steps + step, **metrics)
                    if run_callback(callback, m * cfg.steps + step, metrics):
                        stopped = True
                        break
                done = m * cfg.steps + step
                if checkpoint is not None and (checkpoint.due(done - 1) or done == total_steps):
                    state: dict[str, Any] = {"member": m, "member_step": step, "member_rng": member_rng, "rng": rng_state(rng)}
                    state |= {"model": model.state_dict(), "optimizer": opt.state_dict(), "history": history.state_dict()}
                    state |= {"accuracies": accuracies, "aux_final": aux_final}
                    if heads is not None and aux is not None:
                        state |= {"heads": heads.state_dict(), "aux_rng": rng_state(aux.rng)}
                    checkpoint.save(done, state)
            accuracies.append((_accuracy(model, m, tensors, pairs, train), _accuracy(model, m, tensors, pairs, val)))
            if aux is not None and heads is not None:
                aux_final.append(aux.evaluate(model, m, heads))
            if stopped:
                break
        if cfg.normalize and len(obs) > 1:
            model.normalize(tensors[0], tensors[1] if encoder.spec.uses_action else None)
        ensure_finite(
            model,
            "T-REX reward weights",
            step="the end",
            fix=diverged,
        )
        model.eval()
        info = {
            "train_accuracy": float(np.mean([a for a, _ in accuracies])),
            "val_accuracy": float(np.nanmean([b for _, b in accuracies])) if cfg.validation > 0 else float("nan"),
            **source.info,
            "spec": encoder.spec,
        }
        if aux_final:
            info["aux_losses"] = {k: float(np.mean([d[k] for d in aux_final])) for k in aux_final[0]}
        if isinstance(env_or_mdp, TabularMDP):
            assert encoder.features is not None
            with torch.no_grad():
                values = model(encoder.features.to(device)).to(env_or_mdp.dtype).cpu()
            weights = None
            if encoder.spec.architecture == "linear" and cfg.ensemble == 1 and not cfg.use_action:
                w = model.member(0).last_layer.weight.detach().reshape(-1).cpu().double()
                weights = w / model.scale[0].cpu().double()
            reward = TabularReward(values, weights)
            policy = value_iteration(env_or_mdp, reward.values.to(env_or_mdp.device)).policy
            return FitResult(reward=reward, policy=policy, history=history, info={**info, "model": model})
        return FitResult(reward=model, history=history, info=info)


@dataclass
class _TrainingData:
    """What one T-REX fit trains on: ``data`` (trajectories or preferences, checked), ``draw(rng)`` giving
    a member's pairs, ``fingerprint`` (the labels or scores, bound to checkpoints) and its ``info`` keys."""

    data: TrajectoryDataset | PreferenceDataset
    draw: Callable[[np.random.Generator], SnippetPairs]
    fingerprint: np.ndarray
    info: dict[str, Any]


def _training_data(cfg: TREXConfig, data: Any, env_or_mdp: Any, scores: Any) -> _TrainingData:
    """A ranking's snippet pairs (drawn afresh for each member), or a preference dataset's answered pairs."""
    if isinstance(data, PreferenceDataset):
        prefs = answered_preferences(data, env_or_mdp, scores)
        n, t = len(prefs), int(prefs.length or 0)
        label = prefs.labels()
        whole = np.full(n, t, dtype=np.int64)
        start = np.zeros(n, np.int64)
        pairs = SnippetPairs(np.arange(0, 2 * n, 2), np.arange(1, 2 * n, 2), start, start, whole, whole, label)  # whole segments
        counts = {"pairs": n, "skipped": data.n_skipped, "segments": 2 * n}
        return _TrainingData(prefs, lambda rng: pairs, label, {**counts, "ranking_tau": None, "warnings": []})
    ds = validate_dataset(ranked_data(data, scores), env_or_mdp)
    s = ranking_scores(ds, scores)
    agreement = recorded_agreement(ds, s)

    def draw(rng: np.random.Generator) -> SnippetPairs:
        return snippet_pairs(ds, s, cfg.pairs, length=cfg.snippet, rng=rng, ties=cfg.ties, min_gap=cfg.min_gap)

    info: dict[str, Any] = {
        "pairs": cfg.pairs,
        "trajectories": len(ds),
        "ranking_tau": None if agreement is None else agreement.tau,
        "warnings": [w for w in [trex_ranking_warning(agreement)] if w is not None],
    }
    return _TrainingData(ds, draw, s, info)


class _Auxiliary:
    """The auxiliary losses of one T-REX fit: each member's heads, the transitions, and their own random
    stream (seeded from the model's seed, so that ``aux_weight=0`` trains exactly what plain T-REX does)."""

    def __init__(
        self,
        cfg: TREXConfig,
        encoder: TrajectoryEncoder,
        env_or_mdp: Any,
        lengths: np.ndarray,
        tensors: tuple[Tensor, Tensor, np.ndarray],
        seed: int,
    ):
        self.cfg, self.tensors = cfg, tensors
        self.lengths = lengths  # decisions of each trajectory or segment
        if not (self.lengths >= 2).any():
            raise ValidationError("trajectories", "are all shorter than 2 decisions", "auxiliary losses need transitions")
        if encoder.spec.architecture == "linear":  # "auto" on a tabular MDP
            raise ConfigError("aux", "is set for a linear reward", "auxiliary losses train an MLP's features: use architecture='mlp'")
        if "forward_dynamics" in cfg.aux and len(encoder.spec.obs_shape) != 1:
            raise ConfigError("aux", "has 'forward_dynamics' on image observations", "use it on vector observations only")
        with_actions = TrajectoryEncoder.for_env(env_or_mdp, architecture=encoder.spec.architecture, use_action=True).spec
        self.act_dim, self.discrete = with_actions.act_dim, with_actions.discrete_actions  # action width or count
        self.obs_shape = tuple(tensors[0].shape[1:])
        self.seed, self.rng = seed, np.random.default_rng([seed, 1])

    def heads(self, model: NeuralReward, m: int) -> AuxiliaryHeads:
        net = model.member(m)
        with torch.no_grad():
            dim = net.features(self.tensors[0][:1], None).shape[1]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.rng.integers(2**31)))
            heads = AuxiliaryHeads(self.obs_shape, dim, self.act_dim, self.discrete, self.cfg.aux)
        return heads.to(self.tensors[0].device)

    def losses(self, model: NeuralReward, m: int, heads: AuxiliaryHeads) -> dict[str, Tensor]:
        obs, acts, offsets = self.tensors
        net = model.member(m)
        return heads.losses(lambda o: net.features(o, None), obs, acts, offsets, self.lengths, self.cfg.aux_batch, self.rng)

    @torch.no_grad()
    def evaluate(self, model: NeuralReward, m: int, heads: AuxiliaryHeads, batch: int = 2048) -> dict[str, float]:
        """Each loss of a trained member on ``batch`` fresh draws (``info["aux_losses"]``, mean over members)."""
        obs, acts, offsets = self.tensors
        net = model.member(m)
        rng = np.random.default_rng([self.seed, 2, m])
        out = heads.losses(lambda o: net.features(o, None), obs, acts, offsets, self.lengths, batch, rng)
        return {k: float(v) for k, v in out.items()}


@torch.no_grad()
def _accuracy(model: NeuralReward, m: int, tensors: tuple[Tensor, Tensor, np.ndarray], pairs: SnippetPairs, pick: np.ndarray) -> float:
    """Fraction of strict pairs whose predicted order matches the label (NaN when there are none), over at
    most ``_ACCURACY_PAIRS`` of them (``pick`` is already in random order)."""
    pick = pick[pairs.label[pick] != 0.5][:_ACCURACY_PAIRS]
    if not len(pick):
        return float("nan")
    hits = 0
    for k in range(0, len(pick), 256):
        chunk = pick[k : k + 256]
        ra, rb = _pair_returns(model, m, tensors, pairs, chunk)
        hits += int(((ra > rb).cpu().numpy() == (pairs.label[chunk] == 1.0)).sum())
    return hits / len(pick)
