"""``rewardlab demo``: the first thing a newcomer runs.

On the lecture's navigation gridworld (a robot crossing road, grass, rough ground and water to a
goal) it samples demonstrations from a soft-optimal demonstrator, then answers "what is the
reward?" side by side with every learner that is registered in :data:`rewardlab.experiments.irl.IRL_METHODS`
(behavioural cloning answers "how?" instead), and writes a self-contained HTML report:
``report.html`` (figures embedded), ``demo.png`` (the world and its demonstrations) and ``summary.json``,
all or nothing (:func:`rewardlab._io.run_directory`).
"""

from __future__ import annotations

import base64
import html
import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewardlab._io import atomic_write, check_out, run_directory, write_json
from rewardlab.data import sample_tabular
from rewardlab.errors import ValidationError
from rewardlab.experiments.irl import IRL_METHODS, as_demos_option, evaluate, make_learner
from rewardlab.mdp import occupancy, soft_value_iteration, value_iteration
from rewardlab.mdp.worlds import World, navigation_gridworld
from rewardlab.registry import LEARNERS

__all__ = ["DEMO_METHODS", "bayesian_section", "run_demo"]

#: Learners shown in the report, in order, with the hyperparameters the demo uses.
DEMO_METHODS: dict[str, dict[str, Any]] = {
    "bc": {},
    "projection": {},
    "mwal": {"feature_signs": (-1, -1, -1, -1, 1)},  # known signs: every terrain costs, the goal pays
    "mce": {"iterations": 150},
    "deep-maxent": {"iterations": 150},
}

#: Short column headings of the report's table.
_METRIC_LABEL = {
    "evd": "EVD",
    "reward_distance": "reward dist.",
    "policy_loss": "policy loss",
    "agreement_on_demo_states": "agreement",
    "feature_gap": "feature gap",
    "heldout_log_likelihood": "held-out LL",
}

_METRIC_HELP = {
    "evd": "expected value difference: true value lost by acting optimally for the learned reward (uniform starts); 0 is perfect",
    "reward_distance": "shaping- and scale-blind distance to the true reward (0 same, 1 opposite)",
    "policy_loss": "true value lost by the method's policy from uniform starts (for BC, its own policy)",
    "agreement_on_demo_states": "fraction of demonstrated states where the policy picks an expert action",
    "feature_gap": "||mu_E - mu_pi||: feature counts of demos vs the policy, over the demos' length",
    "heldout_log_likelihood": "log-probability per decision of held-out demonstrations under the learner's policy "
    "(−∞ for a deterministic policy that gives a demonstrated action probability 0)",
}


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def _world_figure(world: World, optimal: Any, soft: Any, demos: Any, n_demos: int) -> bytes:
    import matplotlib.pyplot as plt

    assert world.shape is not None
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    world.plot(axes[0, 0], title="true reward (road -1, grass -2, rough -5, water -20, goal +5)")
    for r, row in enumerate(world.layout or ()):
        for c, ch in enumerate(row):
            axes[0, 0].text(c, r, ch, ha="center", va="center", fontsize=8, color="white")
    world.plot(axes[0, 1], values=optimal.values[0], policy=optimal.policy, title="optimal values and policy (t = 0)")
    world.plot(axes[1, 0], values=soft.values[0], policy=soft.policy, title="soft-optimal values and policy (t = 0)")
    world.plot(axes[1, 1], trajectories=[tr.obs for tr in demos], title=f"{n_demos} demonstrations from the soft-optimal policy")
    fig.suptitle("the world and its demonstrator", fontsize=12)
    fig.tight_layout()
    return _png(fig)


def _method_figure(world: World, name: str, result: Any) -> bytes:
    import matplotlib.pyplot as plt

    reward = getattr(result.reward, "values", None)
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
    if reward is not None:
        world.plot(axes[0], values=reward, title=f"{name}: learned reward")
        policy = value_iteration(world.mdp, reward).policy
        world.plot(axes[1], values=world.reward, policy=policy, title="its optimal policy over the true reward")
    else:
        axes[0].axis("off")
        axes[0].text(0.5, 0.5, f"{name} learns no reward:\nit copies actions", ha="center", va="center", fontsize=12)
        world.plot(axes[1], values=world.reward, policy=result.policy, title=f"{name}: its policy over the true reward")
    fig.tight_layout()
    return _png(fig)


def bayesian_section(world: World, demos: Any, seed: int) -> tuple[dict[str, Any], bytes]:
    """Bayesian IRL on the world's discounted twin (gamma 0.95): how sure can we be of the reward?

    Returns a summary (acceptance, R-hat, the 0.95-VaR of the MAP policy's EVD, the sufficiency bound
    as demonstrations are added) and one figure: posterior mean and std of the reward, the action
    entropy map, the EVD histogram with its VaR, and the bound against the number of demonstrations.
    """
    import matplotlib.pyplot as plt

    from rewardlab.irl.bayesian import BayesianIRLConfig, decision_counts, sample_posterior
    from rewardlab.irl.sufficiency import sufficiency
    from rewardlab.mcmc import mixing_problem

    twin = navigation_gridworld(world.layout or "crossing", discount=0.95)
    mdp = twin.mdp
    # unit-norm weights; a modest beta: the demonstrator is soft, and with every cell carrying exactly one
    # terrain, shifting all weights together changes no policy, a ridge that sharper posteriors mix along slowly
    cfg = BayesianIRLConfig(prior="sphere", beta=5.0, chains=4, samples=1000, burn_in=300, thin=1, step_size=0.1)
    rng = np.random.default_rng(seed + 2)
    post = sample_posterior(mdp, decision_counts(demos, mdp), cfg, rng=rng)
    rewards = post.rewards()
    map_policy = value_iteration(mdp, post.map_reward().values).policy
    evd = post.evd(map_policy, initial="uniform")  # from every cell, not just the start the demos show
    var = post.evd_var(map_policy, 0.95, initial="uniform")
    entropy = post.action_entropy()
    small = BayesianIRLConfig(**{**cfg.__dict__, "chains": 2, "samples": 500, "burn_in": 200})
    counts_n = sorted({n for n in (1, 2, 4, 16) if n < len(demos)} | {len(demos)})
    bounds, bounds_everywhere, verdicts, verdicts_everywhere = [], [], [], []
    for n in counts_n:
        sub = sample_posterior(mdp, decision_counts(demos[:n], mdp), small, rng=rng)
        start, everywhere = (sufficiency(sub, alpha=0.95, delta=0.05, threshold=0.1, initial=i) for i in ("mdp", "uniform"))
        bounds.append(start.bound)
        bounds_everywhere.append(everywhere.bound)
        verdicts.append(start.sufficient)  # None: undetermined, the chains have not mixed
        verdicts_everywhere.append(everywhere.sufficient)
    diag = post.diagnostics()
    problem = mixing_problem(diag["rhat"], diag["ess"])
    undetermined = sum(v is None for v in verdicts + verdicts_everywhere)
    summary = {
        "world": "navigation, discounted 0.95",
        "samples": list(post.samples.shape),
        "acceptance": diag["acceptance"],
        "rhat_max": float(np.nanmax(diag["rhat"])),
        "evd_var_0.95": var,
        "evd_mean": float(evd.mean()),
        "map_weights": post.flat()[int(post.log_posterior.reshape(-1).argmax())].tolist(),
        "mean_weights": post.flat().mean(0).tolist(),
        "sufficiency": {
            "demos": counts_n,
            "bound": bounds,
            "bound_from_every_cell": bounds_everywhere,
            "sufficient": verdicts,
            "sufficient_from_every_cell": verdicts_everywhere,
        },
        "warnings": ([f"Bayesian IRL: {problem}; the 0.95-VaR of EVD is not to be trusted"] if problem else [])
        + ([f"sufficiency: {undetermined} verdict(s) undetermined (their chains have not mixed)"] if undetermined else []),
    }
    fig, axes = plt.subplots(2, 3, figsize=(14, 8.2))
    twin.plot(axes[0, 0], values=rewards.mean(0), title="posterior mean reward")
    twin.plot(axes[0, 1], values=rewards.std(0), title="posterior std of the reward")
    twin.plot(axes[0, 2], values=entropy, policy=map_policy, title="action entropy (Lopes), MAP policy")
    ax = axes[1, 0]
    ax.hist(evd.cpu().numpy(), bins=40, color="#4c72b0")
    ax.axvline(var, color="#c44e52", label=f"0.95-VaR = {var:.3g}")
    ax.set_xlabel("EVD of the MAP policy (uniform start) per posterior sample")
    ax.set_ylabel("samples")
    ax.legend()
    ax.set_title("how bad could the MAP policy be?")
    ax = axes[1, 1]
    ax.plot(counts_n, bounds, "o-", label="bound, from the start cell")
    ax.plot(counts_n, bounds_everywhere, "s-", label="bound, from every cell")
    ax.axhline(0.1, color="#c44e52", ls="--", label="sufficient below 0.1")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("demonstrations")
    ax.set_ylabel("(0.95, 0.05) bound on nEVD")
    ax.set_title("demonstration sufficiency (Trinh et al.)")
    ax.legend()
    ax = axes[1, 2]
    x = post.samples.cpu().numpy()
    true_weights = [] if twin.weights is None else (twin.weights / twin.weights.norm()).tolist()  # on the unit sphere
    for j, name in enumerate(twin.feature_names):
        ax.hist(x[..., j].ravel(), bins=40, alpha=0.55, label=f"{name} (true {true_weights[j]:.2f})")
    ax.set_xlabel("weight")
    ax.set_title("posterior of each terrain's weight")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return summary, _png(fig)


#: The CSS of rewardlab's HTML pages (this report and :mod:`rewardlab.experiments.report`'s).
REPORT_STYLE = """body { font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } .sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35em 0.6em; text-align: right; }
tbody th, thead th:first-child, thead th.name { text-align: left; } tbody th { font-weight: 600; max-width: 26em; }
.desc { color: #666; font-size: 0.82em; font-weight: normal; }
thead th { background: #f4f4f6; cursor: help; }
img { max-width: 100%; } figure { margin: 1em 0; } figcaption { color: #666; font-size: 0.9em; }
code { background: #f4f4f6; padding: 0 0.3em; border-radius: 3px; }
pre { background: #f4f4f6; padding: 0.8em; overflow-x: auto; } pre code { padding: 0; }
"""


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _bayes_html(bayes: dict[str, Any], png: bytes) -> str:
    suff = bayes["sufficiency"]

    def first_sufficient(verdicts: list[bool | None]) -> str | None:
        """Where the bound first judges the demonstrations sufficient, and where it could not judge; None
        when every verdict is "not sufficient"."""
        pairs = list(zip(suff["demos"], verdicts, strict=True))
        first = next((n for n, v in pairs if v), None)
        unsure = [str(n) for n, v in pairs if v is None]
        text = f"the bound falls below 0.1 at {first} demonstration(s)" if first else "the bound stays above 0.1 where it can be judged"
        if unsure:
            text += f" (undetermined with {', '.join(unsure)}: those chains have not mixed)"
        return text if first or unsure else None

    start, everywhere = first_sufficient(suff["sufficient"]), first_sufficient(suff["sufficient_from_every_cell"])
    verdict = f"from the start cell {start or 'the bound stays above 0.1'}" + (
        f"; from every cell, {everywhere}."
        if everywhere
        else "; from every cell it stays above 0.1: the demonstrations show the route from the start, not what to do everywhere."
    )
    mixing = (
        " R-hat above 1.01 says the chains have not mixed, so the VaR below is not to be trusted: every cell has exactly one"
        " terrain, so shifting all weights together changes no policy, and the chains drift slowly along that ridge;"
        " longer chains tighten the estimates."
        if bayes["rhat_max"] > 1.01
        else ""
    )
    return f"""<h2>How sure can we be? Bayesian IRL</h2>
<p>Bayesian IRL (Ramachandran &amp; Amir 2007) samples the posterior over terrain weights instead of returning one
answer (the same world, discounted at 0.95; Boltzmann demonstrator, β 5; unit-norm weights;
{bayes["samples"][0]} chains × {bayes["samples"][1]} samples, acceptance {bayes["acceptance"]:.2f}, max R-hat {bayes["rhat_max"]:.3f}).{mixing}
The posterior says where the demonstrations leave the reward uncertain (high std), where it is unsure what to do (high action entropy),
and how much true value the MAP policy could lose from a random cell: its 0.95-VaR of EVD is <b>{bayes["evd_var_0.95"]:.3g}</b>.
Demonstration sufficiency: {verdict}</p>
{_img(png, "Bayesian IRL")}
<p>Rerun on any world: <code>rewardlab irl birl --world featuregrid:size=6 --demos 10 --out runs/b</code>.</p>
"""


def _report_html(summary: dict[str, Any], world_png: bytes, method_pngs: dict[str, bytes], bayes_html: str = "") -> str:
    metric_keys = [k for k in _METRIC_HELP if any(k in row["metrics"] for row in summary["methods"].values())]
    head = "".join(f'<th title="{html.escape(_METRIC_HELP[k])}">{html.escape(_METRIC_LABEL[k])}</th>' for k in metric_keys)

    def cell(value: float | None) -> str:
        if value is None:
            return "<td>–</td>"
        return f"<td>{value:.3g}</td>" if np.isfinite(value) else f"<td>{'−∞' if value < 0 else '∞'}</td>"

    rows = []
    for name, row in summary["methods"].items():
        cells = "".join(cell(row["metrics"].get(k)) for k in metric_keys)
        label = f"{html.escape(name)}<div class=desc>{html.escape(row['description'])}</div>"
        rows.append(f"<tr><th>{label}</th>{cells}<td>{row['fit_seconds']:.2f}</td></tr>")
    returns = "".join(f"<li>{html.escape(k)}: <b>{v:.2f}</b></li>" for k, v in summary["returns"].items())
    help_items = "".join(
        f"<li><b>{html.escape(_METRIC_LABEL[k])}</b>: {html.escape(v)}</li>" for k, v in _METRIC_HELP.items() if k in metric_keys
    )
    panels = "".join(f"<figure>{_img(png, name)}<figcaption>{html.escape(name)}</figcaption></figure>" for name, png in method_pngs.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rewardlab demo: what is the reward?</title>
<style>
{REPORT_STYLE}</style></head><body>
<h1>What is the reward?</h1>
<p class="sub">rewardlab demo on the navigation gridworld “{html.escape(summary["layout"])}” ({summary["rows"]}×{summary["cols"]}, horizon {summary["horizon"]}),
{summary["demos"]} demonstrations, seed {summary["seed"]}. Generated in {summary["seconds"]:.1f} s.</p>
<p>A robot crosses road, grass, rough ground and water to reach a goal. We watch a soft-optimal demonstrator and ask each learner
what it was optimising; each learned reward is then judged by what its optimal policy earns under the <em>true</em> reward.</p>
<h2>Scores</h2>
<table><thead><tr><th>method</th>{head}<th>fit s</th></tr></thead><tbody>{"".join(rows)}</tbody></table>
<ul class=desc>{help_items}</ul>
<h2>The world</h2>
<p>Expected true return from the start:</p><ul>{returns}</ul>
{_img(world_png, "world")}
<h2>Each learner's answer</h2>
{panels}
{bayes_html}
<p>Rerun: <code>rewardlab demo --out DIR --demos {summary["demos"]} --seed {summary["seed"]}</code>;
one learner at a time, on any world: <code>rewardlab irl mce --world objectworld:size=32 --demos 16 --out runs/x</code>.</p>
</body></html>
"""


def run_demo(out: Path | str, *, seed: int = 0, n_demos: int = 10, layout: str = "crossing", overwrite: bool = False) -> dict[str, Any]:
    """Solve the navigation gridworld, sample demos, fit every demo learner, write the report into ``out``
    (an existing non-empty ``out`` only with ``overwrite``).

    Returns:
        The summary dictionary (also written to ``summary.json``).
    """
    import matplotlib

    matplotlib.use("Agg")
    if n_demos < 1:
        raise ValidationError("demos", f"is {n_demos}", "sample at least one demonstration")
    out = check_out(out, overwrite=overwrite)
    started = time.perf_counter()
    world = navigation_gridworld(layout)
    mdp = world.mdp
    assert world.shape is not None and mdp.horizon is not None
    optimal = value_iteration(mdp, world.reward)
    soft = soft_value_iteration(mdp, world.reward)
    with as_demos_option():
        demos = sample_tabular(mdp, soft.policy, n_demos, rng=np.random.default_rng(seed), reward=world.reward)
    held_out = sample_tabular(mdp, soft.policy, 50, rng=np.random.default_rng(seed + 10_000), reward=world.reward)

    def expected_return(policy: torch.Tensor) -> float:
        return float(occupancy(mdp, policy) @ world.reward)

    returns = {
        "optimal": expected_return(optimal.policy),
        "soft-optimal (MaxEnt, T=1)": expected_return(soft.policy),
        "uniform random": expected_return(torch.full((mdp.horizon, mdp.n_states, mdp.n_actions), 1 / mdp.n_actions, dtype=mdp.dtype)),
        f"{n_demos} sampled demos (mean)": float(demos.returns().mean()),
    }
    methods: dict[str, Any] = {}
    pngs: dict[str, bytes] = {}
    for name, hyper in DEMO_METHODS.items():
        if name not in IRL_METHODS:
            continue
        t0 = time.perf_counter()
        result = make_learner(name, **hyper).fit(demos, mdp, rng=np.random.default_rng(seed + 1))
        seconds = time.perf_counter() - t0
        methods[name] = {
            "description": LEARNERS[name].description,
            "fit_seconds": seconds,
            "metrics": evaluate(world, result, demos, held_out, soft.policy),
        }
        pngs[name] = _method_figure(world, name, result)
    t0 = time.perf_counter()
    bayes, bayes_png = bayesian_section(world, demos, seed)
    bayes["seconds"] = time.perf_counter() - t0
    world_png = _world_figure(world, optimal, soft, demos, n_demos)
    summary: dict[str, Any] = {
        "layout": layout,
        "rows": world.shape[0],
        "cols": world.shape[1],
        "horizon": mdp.horizon,
        "seed": seed,
        "demos": n_demos,
        "returns": returns,
        "methods": methods,
        "bayesian": bayes,
        "warnings": list(bayes["warnings"]),
        "optimal_ascii": world.ascii(policy=optimal.policy),
        "figure": str(out / "demo.png"),
        "report": str(out / "report.html"),
        "summary": str(out / "summary.json"),
    }
    summary["seconds"] = time.perf_counter() - started
    page = _report_html(summary, world_png, pngs, _bayes_html(bayes, bayes_png))
    with run_directory(out, overwrite=overwrite) as tmp:
        atomic_write(tmp / "demo.png", lambda f: f.write(world_png))
        atomic_write(tmp / "report.html", lambda f: f.write(page.encode()))
        write_json(tmp / "summary.json", summary)
    return summary
