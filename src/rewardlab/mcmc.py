"""One Metropolis–Hastings loop, shared by Bayesian IRL and Bayesian REX (two targets for it), and the
convergence checks its users apply before they trust a posterior.

**The loop** (:func:`metropolis_hastings`) runs ``B`` chains at once on a leading batch axis. Each step
proposes ``x' = x + h L eps`` (``eps ~ N(0, I)``; symmetric) or, for PolicyWalk, a lattice neighbour
``x' = x ± delta e_i``, and accepts with probability ``min(1, p(x') / p(x))``; the normaliser of the
posterior cancels. A :class:`Target` returns the log-likelihood and log-prior of a batch of points and
may carry a warm-start state per chain (Bayesian IRL keeps each chain's optimal policy).

**Adaptation during burn-in, frozen after it** (so the kept chain is a valid, time-homogeneous MCMC):

* the scale ``h`` (one for all chains: they share one target) follows Robbins–Monro toward
  ``target_accept``: ``log h <- log h + (mean_c 1[chain c accepted] - target_accept) / k^0.6``;
* with ``covariance="dense"`` (or ``"diagonal"``), the proposal's shape ``L`` adapts too (adaptive
  Metropolis, Haario, Saksman & Tamminen 2001; Roberts & Rosenthal 2009): burn-in is cut like Stan's
  warm-up into an initial buffer (15%, isotropic proposal), three doubling windows (75%) and a terminal
  buffer (10%). At the end of each window ``L L^T = 2.38^2 / d * Sigma``, where ``Sigma`` is the
  covariance of that window's samples pooled within chains, shrunk toward a small multiple of the
  identity, ``Sigma = n/(n+5) S + 5/(n+5) 1e-3 tr(S)/d I`` (Stan's regularisation), and ``h`` restarts
  at 1, the optimal scale for a Gaussian target.

**Unit-vector parameters** (``sphere=True``, for a uniform prior on the unit sphere): the chain moves
``x`` in ``R^d`` with the auxiliary density ``N(0, I / d)`` and the target sees ``u = x / ||x||``
(Stan's ``unit_vector`` transform). Because ``||x||`` and ``u`` are independent under that density,
``u`` has exactly the posterior on the sphere, while the proposal stays symmetric in ``R^d`` and can adapt
its covariance; ``||x||`` stays near 1 (sd ``1 / sqrt(2 d)``), so a step ``h`` moves ``u`` by about ``h``.

References:
    Heikki Haario, Eero Saksman, Johanna Tamminen, "An adaptive Metropolis algorithm", Bernoulli 2001.
    Gareth O. Roberts, Jeffrey S. Rosenthal, "Examples of Adaptive MCMC", JCGS 2009.
    Aki Vehtari, Andrew Gelman, Daniel Simpson, Bob Carpenter, Paul-Christian Bürkner, "Rank-normalization,
    folding, and localization: an improved R-hat for assessing convergence of MCMC", Bayesian Analysis 2021.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import Tensor

from rewardlab._memory import check_memory
from rewardlab.checkpoint import Checkpoint
from rewardlab.errors import ConfigError
from rewardlab.learner import Callback, History, run_callback

__all__ = [
    "MIN_BULK_ESS",
    "RHAT_LIMIT",
    "MHChains",
    "MHSettings",
    "Target",
    "adaptation_windows",
    "chain_diagnostics",
    "check_chain_memory",
    "metropolis_hastings",
    "mixing_problem",
    "proposal_factor",
]

#: R-hat above this means the chains have not mixed (Vehtari et al. 2021; Stan and ArviZ warn above it).
RHAT_LIMIT = 1.01
#: The bulk ESS a posterior summary needs (Vehtari et al. 2021 ask for at least 400 before trusting R-hat or estimates).
MIN_BULK_ESS = 400
#: Above this many dimensions ``covariance="auto"`` adapts a diagonal instead of a dense covariance.
_DENSE_LIMIT = 256
_CHUNK = 256


# ============================================================================ diagnostics
def chain_diagnostics(samples: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Rank-normalised split R-hat and bulk effective sample size ``(D,)`` of MCMC samples ``(C, N, D)``
    (ArviZ, ``arviz-stats``). A single chain is split into its two halves for R-hat (Gelman et al.'s
    split R-hat), so it too shows a chain that drifts. NaN where a parameter is constant.

    Examples:
        >>> rhat, ess = chain_diagnostics(torch.randn(4, 500, 2, generator=torch.Generator().manual_seed(0)))
        >>> bool((abs(rhat - 1) < 0.02).all()), bool((ess > 1000).all())
        (True, True)
        >>> drift = torch.linspace(0, 5, 1000).reshape(1, 1000, 1)  # one chain that never settles
        >>> bool(chain_diagnostics(drift)[0][0] > 1.5)
        True
    """
    array_stats: Any = importlib.import_module("arviz_stats.base").array_stats

    x = samples.detach().cpu().double().numpy().transpose(2, 0, 1)  # (D, C, N)
    halves = x if x.shape[1] > 1 else x[..., : 2 * (x.shape[2] // 2)].reshape(x.shape[0], 2, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if halves.shape[-1] >= 4:
            rhat = np.asarray(array_stats.rhat(halves, chain_axis=-2, draw_axis=-1), dtype=float)
        else:
            rhat = np.full(x.shape[0], np.nan)
        ess = np.asarray(array_stats.ess(x, chain_axis=-2, draw_axis=-1), dtype=float)
    return rhat.reshape(-1), ess.reshape(-1)


def mixing_problem(rhat: Any, ess: Any, *, min_ess: float = MIN_BULK_ESS, purpose: str = "") -> str | None:
    """Why MCMC samples with these diagnostics cannot be trusted yet, or None when they can.

    Stan/ArviZ practice (Vehtari et al. 2021): the chains have mixed when every rank-normalised split
    R-hat is at most :data:`RHAT_LIMIT`; the bulk effective sample size must also reach ``min_ess``
    (what the estimate computed from the samples needs; ``purpose`` says what that is). NaN entries
    (constant parameters) are ignored.

    Examples:
        >>> mixing_problem([1.002, 1.4], [900.0, 7.0], min_ess=59)
        'chains have not mixed (max R-hat 1.4 > 1.01)'
        >>> mixing_problem([1.002], [40.0], min_ess=59, purpose="the (0.95, 0.05) bound")
        'too few effective samples (min bulk ESS 40 < 59 needed for the (0.95, 0.05) bound)'
        >>> mixing_problem([1.002], [900.0]) is None
        True
    """
    r = np.asarray(rhat, dtype=float).ravel()
    e = np.asarray(ess, dtype=float).ravel()
    r, e = r[np.isfinite(r)], e[np.isfinite(e)]
    if r.size and r.max() > RHAT_LIMIT:
        return f"chains have not mixed (max R-hat {r.max():.3g} > {RHAT_LIMIT})"
    if e.size and e.min() < min_ess:
        need = f" needed for {purpose}" if purpose else " needed"
        return f"too few effective samples (min bulk ESS {e.min():.3g} < {min_ess:.3g}{need})"
    return None


# ============================================================================ settings and results
@dataclass(frozen=True)
class MHSettings:
    """The loop's settings (a learner's config maps onto them).

    Attributes:
        samples: steps kept per chain after burn-in (before thinning).
        burn_in: steps discarded first; all adaptation happens in them.
        thin: keep every ``thin``-th step.
        step_size: the initial proposal scale ``h`` (Gaussian) or the lattice step ``delta``.
        proposal: ``"gaussian"`` (random walk) or ``"lattice"`` (PolicyWalk: one coordinate moves ``±delta``).
        adapt: adapt during burn-in (the scale toward ``target_accept``; the covariance as ``covariance`` says).
        target_accept: the acceptance rate the scale aims at.
        covariance: proposal shape adapted during burn-in: ``"dense"``, ``"diagonal"``, ``"identity"``
            (isotropic, scale only) or ``"auto"`` (dense up to 256 dimensions, else diagonal).
        sphere: the parameters are unit vectors (uniform prior on the sphere; see the module docstring).
        report_every: log history and call the callback every this many steps.
    """

    samples: int
    burn_in: int
    thin: int = 1
    step_size: float = 0.1
    proposal: Literal["gaussian", "lattice"] = "gaussian"
    adapt: bool = True
    target_accept: float = 0.3
    covariance: Literal["auto", "dense", "diagonal", "identity"] = "auto"
    sphere: bool = False
    report_every: int = 100

    def __post_init__(self) -> None:
        if self.proposal not in ("gaussian", "lattice"):
            raise ConfigError("proposal", f"is {self.proposal!r}", "choose 'gaussian' or 'lattice'")
        if self.covariance not in ("auto", "dense", "diagonal", "identity"):
            raise ConfigError("covariance", f"is {self.covariance!r}", "choose 'auto', 'dense', 'diagonal' or 'identity'")
        for name in ("samples", "thin", "report_every"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"is {getattr(self, name)}", "use at least 1")
        if self.burn_in < 0:
            raise ConfigError("burn_in", f"is {self.burn_in}", "use 0 or more steps")
        if not (self.step_size > 0 and math.isfinite(self.step_size)):
            raise ConfigError("step_size", f"is {self.step_size}", "use a positive finite number")
        if not 0 < self.target_accept < 1:
            raise ConfigError("target_accept", f"is {self.target_accept}", "use a rate in (0, 1), e.g. 0.3")
        if self.sphere and self.proposal == "lattice":
            raise ConfigError("proposal", "is 'lattice' on the sphere (the lattice leaves the sphere)", "use proposal='gaussian'")


@dataclass(frozen=True)
class MHChains:
    """What :func:`metropolis_hastings` returns.

    Attributes:
        samples: ``(C, N, D)`` kept points (unit vectors with ``sphere``).
        log_likelihood, log_prior: ``(C, N)`` the target's values at them.
        acceptance: ``(C,)`` acceptance rate after burn-in.
        step_size: ``(C,)`` the frozen scale ``h`` (multiplies ``scale_tril``).
        scale_tril: ``(D, D)`` the frozen proposal shape ``L`` (the identity unless the covariance adapted).
        steps: steps run (fewer than ``burn_in + samples`` when the callback stopped the run).
    """

    samples: Tensor
    log_likelihood: Tensor
    log_prior: Tensor
    acceptance: Tensor
    step_size: Tensor
    scale_tril: Tensor
    steps: int


class Target(Protocol):
    """A posterior for the loop: ``log p(theta) = log_likelihood + log_prior`` (up to a constant).

    ``evaluate(theta, current)`` takes points ``(B, D)`` and the chains' current state (None at the
    start) and returns ``(log_likelihood (B,), log_prior (B,), proposed_state)``; ``select(accept,
    proposed, current)`` returns the chains' state after the accept/reject step (``accept`` ``(B,)``
    bool). A target without state returns None and ``select`` returns None.
    """

    def evaluate(self, theta: Tensor, current: Any) -> tuple[Tensor, Tensor, Any]: ...

    def select(self, accept: Tensor, proposed: Any, current: Any) -> Any: ...


# ============================================================================ adaptation maths
def adaptation_windows(burn_in: int) -> list[int]:
    """The steps (0-based, exclusive ends) at which the proposal covariance is re-estimated: three doubling
    windows after a 15% initial buffer, leaving a 10% terminal buffer for the scale alone (Stan's warm-up
    scheme). Fewer than 100 burn-in steps: none (the covariance stays the identity).

    Examples:
        >>> adaptation_windows(1000)
        [257, 471, 900]
        >>> adaptation_windows(50)
        []
    """
    if burn_in < 100:
        return []
    start, end = int(0.15 * burn_in), burn_in - int(0.1 * burn_in)
    unit = (end - start) / 7
    return [start + round(unit), start + round(3 * unit), end]


def proposal_factor(cov: Tensor, n: int, kind: str) -> Tensor:
    """``L`` with ``L L^T = 2.38^2 / D * Sigma`` (Haario et al. 2001): ``(D, D)`` lower-triangular, or
    ``(D,)`` its diagonal when ``L`` is diagonal (so a proposal over many parameters never stores or
    multiplies a ``(D, D)`` matrix), where ``Sigma`` is the
    sample covariance ``cov`` ``(D, D)`` (or its diagonal ``(D,)``; ``kind="diagonal"`` keeps only the
    diagonal) of ``n`` samples, shrunk toward ``1e-3 tr(cov) / D I`` with weight ``5 / (n + 5)`` (Stan's
    regularisation).

    Examples:
        >>> L = proposal_factor(torch.tensor([[4.0, 0.0], [0.0, 1.0]]), 1000, "dense")
        >>> torch.allclose(L @ L.T, 2.38**2 / 2 * torch.diag(torch.tensor([4.0, 1.0])), rtol=1e-2)
        True
    """
    d = cov.shape[0]
    diag = cov.diagonal() if cov.ndim == 2 else cov
    ridge = 1e-3 * float(diag.sum()) / d + 1e-12
    w = n / (n + 5.0)
    if kind == "diagonal":
        var = diag if cov.ndim == 1 else diag.clone()
        return (2.38**2 / d * (w * var + (1 - w) * ridge)).sqrt()
    cov = w * cov + (1 - w) * ridge * torch.eye(d, dtype=cov.dtype, device=cov.device)
    cov = 0.5 * (cov + cov.T)
    factor, info = torch.linalg.cholesky_ex(2.38**2 / d * cov)
    if int(info) != 0:  # not positive definite in floating point: keep the diagonal
        return (2.38**2 / d * cov.diagonal()).clamp_min(1e-24).sqrt()
    out: Tensor = factor
    return out


# ============================================================================ the loop
def _target_state(state: Any) -> Any:
    """A target's chain state as a checkpoint stores it: None, a tensor, or a list of tensors."""
    if state is None or isinstance(state, Tensor):
        return state
    if isinstance(state, tuple) and all(isinstance(t, Tensor) for t in state):
        return list(state)
    raise ConfigError(
        "checkpoint",
        f"got a target whose chain state is a {type(state).__name__}",
        "resume targets whose state is None, a tensor or a tuple of tensors",
    )


def _load_target_state(saved: Any, device: torch.device) -> Any:
    if saved is None:
        return None
    if isinstance(saved, Tensor):
        return saved.to(device)
    return tuple(t.to(device) for t in saved)


def check_chain_memory(chains: int, samples: int, thin: int, dim: int, *, itemsize: int = 8) -> None:
    """Refuse (:class:`~rewardlab.errors.ValidationError` on ``samples``, with the estimate) a run whose
    kept points would not fit in memory: ``chains x samples // thin`` points of ``dim`` parameters with
    their log-likelihoods and log-priors, plus the proposal's ``(dim, dim)`` factor and adaptation scatter.

    Examples:
        >>> check_chain_memory(4, 10_000, 10, 64)  # 2 MiB: fine
        >>> try:
        ...     check_chain_memory(1, 10**12, 20, 1)
        ... except ValueError as err:
        ...     print(str(err).split(" would")[0])
        samples: 1 chain(s) x 50000000000 kept samples x 1 parameter(s)
    """
    kept = samples // thin
    nbytes = itemsize * (chains * kept * (dim + 2) + 2 * dim * dim)
    what = f"{chains} chain(s) x {kept} kept samples x {dim} parameter(s)"
    check_memory("samples", nbytes, what, "lower samples, raise thin or run fewer chains")


def metropolis_hastings(
    target: Target,
    initial: Tensor,
    settings: MHSettings,
    *,
    generator: torch.Generator,
    callback: Callback | None = None,
    history: History | None = None,
    checkpoint: Checkpoint | None = None,
) -> MHChains:
    """Run ``B`` Metropolis–Hastings chains on ``target`` from ``initial`` ``(B, D)`` (unit vectors with ``sphere``).

    Args:
        target: the posterior (:class:`Target`).
        initial: ``(B, D)`` starting points, one per chain (over-dispersed, e.g. drawn from the prior).
        settings: the loop's settings.
        generator: the torch generator of every proposal and acceptance (CPU; draws move to ``initial``'s device).
        callback: ``callback(step, metrics) -> stop?`` every ``settings.report_every`` steps, with
            ``log_posterior``, ``log_likelihood``, ``acceptance`` (since the last report) and ``step_size``;
            stopped during burn-in, the chains' current points are returned as one sample each.
        history: where those metrics are logged (a new :class:`History` if None).
        checkpoint: where to save the loop's state after step ``k`` (numbered from 1, as the callback's)
            when ``checkpoint.due(k - 1)`` and after the last step, and to resume from: the chains'
            points, log-likelihoods and log-priors, the target's warm-start state (None, a tensor or a
            tuple of tensors), the adaptation state (scale, proposal factor, the window's sums), the kept
            samples so far, acceptance counts, the generator's state at the start of the current chunk of
            draws, and the history. A resumed run returns exactly what an uninterrupted one does.

    Returns:
        :class:`MHChains` with ``(B, samples // thin, D)`` kept samples.

    Examples:
        >>> class Gauss:  # a standard normal in 2-D, no state
        ...     def evaluate(self, theta, current):
        ...         return -0.5 * theta.square().sum(-1), torch.zeros(theta.shape[0], dtype=theta.dtype), None
        ...     def select(self, accept, proposed, current):
        ...         return None
        >>> gen = torch.Generator().manual_seed(0)
        >>> init = torch.randn(4, 2, generator=gen, dtype=torch.float64) * 3
        >>> out = metropolis_hastings(Gauss(), init, MHSettings(samples=4000, burn_in=500, step_size=1.0), generator=gen)
        >>> out.samples.shape
        torch.Size([4, 4000, 2])
        >>> bool(out.samples.reshape(-1, 2).std(0).sub(1).abs().max() < 0.1)
        True
    """
    s = settings
    b, d = initial.shape
    check_chain_memory(b, s.samples, s.thin, d, itemsize=initial.element_size())
    device, dtype = initial.device, initial.dtype
    sphere, lattice = s.sphere, s.proposal == "lattice"
    kind = s.covariance if s.covariance != "auto" else ("dense" if d <= _DENSE_LIMIT else "diagonal")
    windows = adaptation_windows(s.burn_in) if s.adapt and not lattice and kind != "identity" else []

    def point(x: Tensor) -> Tensor:
        return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(1e-300) if sphere else x

    def auxiliary(x: Tensor) -> Tensor:
        """``log N(x; 0, I/d)`` up to a constant: the radial density of the unit-vector transform."""
        return -0.5 * d * x.square().sum(-1)

    def shape(raw: Tensor, factor: Tensor) -> Tensor:
        """``raw @ L^T`` for a triangular factor, ``raw * L`` for a diagonal one."""
        return raw @ factor.T if factor.ndim == 2 else raw * factor

    x = initial.clone()
    ll, lp, state = target.evaluate(point(x), None)
    aux = auxiliary(x) if sphere else None

    kept = s.samples // s.thin
    out_theta = torch.empty(b, kept, d, dtype=dtype, device=device)
    out_ll = torch.empty(b, kept, dtype=dtype, device=device)
    out_lp = torch.empty(b, kept, dtype=dtype, device=device)
    accepted = torch.zeros(b, dtype=dtype, device=device)
    window_accepts = torch.zeros(b, dtype=dtype, device=device)
    log_step = torch.full((b,), math.log(s.step_size), dtype=dtype, device=device)
    tril = torch.ones(d, dtype=dtype, device=device)  # the identity, as its diagonal
    # adaptation state: steps since the scale last restarted; the window's centred sums
    since_reset = 0
    window_start = int(0.15 * s.burn_in)
    centre = x.clone()
    sum_x = torch.zeros(b, d, dtype=dtype, device=device)
    scatter = torch.zeros((d, d) if kind == "dense" else (d,), dtype=dtype, device=device)
    n_window = 0
    rows = torch.arange(b, device=device)
    total = s.burn_in + s.samples
    history = history if history is not None else History()
    first = 0
    if checkpoint is not None:
        checkpoint = checkpoint.bind("mcmc", s, initial, generator.get_state())
        saved = checkpoint.restore()
        if saved is not None:  # everything built as for a fresh run above, then overwritten
            first = int(saved["step"])  # the number of steps done
            x, ll, lp = (saved[k].to(device) for k in ("x", "ll", "lp"))
            aux = None if saved["aux"] is None else saved["aux"].to(device)
            state = _load_target_state(saved["target"], device)
            done = max(0, first - s.burn_in) // s.thin
            out_theta[:, :done], out_ll[:, :done], out_lp[:, :done] = (saved[k].to(device) for k in ("theta", "theta_ll", "theta_lp"))
            accepted, window_accepts, log_step, tril = (saved[k].to(device) for k in ("accepted", "window_accepts", "log_step", "tril"))
            centre, sum_x, scatter = (saved[k].to(device) for k in ("centre", "sum_x", "scatter"))
            since_reset, window_start, n_window = int(saved["since_reset"]), int(saved["window_start"]), int(saved["n_window"])
            generator.set_state(saved["generator"])
            history.load_state_dict(saved["history"])

    def finish(steps: int, theta: Tensor, t_ll: Tensor, t_lp: Tensor) -> MHChains:
        after = max(1, steps - s.burn_in)
        factor = torch.diag(tril) if tril.ndim == 1 else tril
        return MHChains(theta, t_ll, t_lp, accepted / after, torch.exp(log_step), factor, steps)

    for start in range((first // _CHUNK) * _CHUNK, total, _CHUNK):
        m = min(_CHUNK, total - start)
        chunk_generator = generator.get_state() if checkpoint is not None else None
        log_u = torch.log(torch.rand(m, b, generator=generator, dtype=dtype)).to(device)
        if lattice:
            coord = torch.randint(d, (m, b), generator=generator).to(device)
            sign = (torch.randint(2, (m, b), generator=generator) * 2 - 1).to(device=device, dtype=dtype)
        else:
            raw = torch.randn(m, b, d, generator=generator, dtype=dtype).to(device)
            shaped = shape(raw, tril)
        for i in range(max(0, first - start), m):
            step = start + i
            burning = step < s.burn_in
            if lattice:
                prop = x.clone()
                prop[rows, coord[i]] += sign[i] * s.step_size
            else:
                prop = x + torch.exp(log_step).unsqueeze(1) * shaped[i]
            theta_prop = point(prop)
            ll_prop, lp_prop, proposed = target.evaluate(theta_prop, state)
            if aux is None:
                accept = log_u[i] < (ll_prop + lp_prop) - (ll + lp)
            else:
                aux_prop = auxiliary(prop)
                accept = log_u[i] < (ll_prop + lp_prop + aux_prop) - (ll + lp + aux)
                aux = torch.where(accept, aux_prop, aux)
            x = torch.where(accept.unsqueeze(1), prop, x)
            ll = torch.where(accept, ll_prop, ll)
            lp = torch.where(accept, lp_prop, lp)
            state = target.select(accept, proposed, state)
            window_accepts += accept
            if burning:
                if s.adapt and not lattice:
                    since_reset += 1
                    log_step += (accept.to(dtype).mean() - s.target_accept) / since_reset**0.6
                if windows and window_start <= step < windows[-1]:
                    if n_window == 0:
                        centre = x.clone()
                    dev = x - centre
                    sum_x += dev
                    scatter += (dev.T @ dev) if kind == "dense" else dev.square().sum(0)
                    n_window += 1
                if step + 1 in windows and n_window > 1:
                    # pooled within-chain scatter: sum over chains of sum_t (x - mean_c)(x - mean_c)^T
                    if kind == "dense":
                        within = scatter - (sum_x.T @ sum_x) / n_window
                    else:
                        within = scatter - sum_x.square().sum(0) / n_window
                    cov = within / (b * (n_window - 1))
                    spread = float(cov.diagonal().sum() if cov.ndim == 2 else cov.sum())
                    if bool(torch.isfinite(cov).all()) and spread > 0:  # a window without a move keeps the old proposal
                        tril = proposal_factor(cov, b * n_window, kind)
                        log_step.zero_()
                        since_reset = 0
                        shaped = shape(raw, tril)
                    window_start, n_window = step + 1, 0
                    sum_x.zero_()
                    scatter.zero_()
            else:
                accepted += accept
                j, r = divmod(step - s.burn_in, s.thin)
                if r == s.thin - 1:
                    out_theta[:, j], out_ll[:, j], out_lp[:, j] = point(x), ll, lp
            if (step + 1) % s.report_every == 0 or step + 1 == total:
                since = step % s.report_every + 1
                metrics = {
                    "log_posterior": float((ll + lp).mean()),
                    "log_likelihood": float(ll.mean()),
                    "acceptance": float(window_accepts.mean()) / since,
                    "step_size": float(torch.exp(log_step).mean()),
                }
                window_accepts.zero_()
                history.log(step + 1, **metrics)
                if run_callback(callback, step + 1, metrics):
                    done = max(0, step + 1 - s.burn_in) // s.thin
                    if done == 0:  # stopped during burn-in: the chains' current points are the only samples
                        return finish(step + 1, point(x)[:, None], ll[:, None], lp[:, None])
                    return finish(step + 1, out_theta[:, :done], out_ll[:, :done], out_lp[:, :done])
            if checkpoint is not None and (checkpoint.due(step) or step + 1 == total):
                done = max(0, step + 1 - s.burn_in) // s.thin
                chunk_done = i == m - 1  # the next chunk's draws start from the generator's state now
                checkpoint.save(
                    step + 1,
                    {
                        "x": x,
                        "ll": ll,
                        "lp": lp,
                        "aux": aux,
                        "target": _target_state(state),
                        "theta": out_theta[:, :done],
                        "theta_ll": out_ll[:, :done],
                        "theta_lp": out_lp[:, :done],
                        "accepted": accepted,
                        "window_accepts": window_accepts,
                        "log_step": log_step,
                        "tril": tril,
                        "centre": centre,
                        "sum_x": sum_x,
                        "scatter": scatter,
                        "since_reset": since_reset,
                        "window_start": window_start,
                        "n_window": n_window,
                        "generator": generator.get_state() if chunk_done else chunk_generator,
                        "history": history.state_dict(),
                    },
                )
    return finish(total, out_theta, out_ll, out_lp)
