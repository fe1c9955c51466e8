"""``rewardlab demo``: the first picture a newcomer sees.

On the lecture's navigation gridworld it draws the true reward, the optimal policy, the
soft-optimal (MaxEnt) policy and demonstrations sampled from it, and reports expected returns.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewardlab._io import atomic_write, write_json
from rewardlab.data import sample_tabular
from rewardlab.errors import ValidationError
from rewardlab.mdp import occupancy, soft_value_iteration, value_iteration
from rewardlab.mdp.worlds import navigation_gridworld

__all__ = ["run_demo"]


def run_demo(out: Path | str, *, seed: int = 0, n_demos: int = 5, layout: str = "crossing") -> dict[str, Any]:
    """Solve the navigation gridworld, sample demos and write ``demo.png`` and ``summary.json``.

    Returns:
        The summary dictionary (also written to ``summary.json``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if n_demos < 1:
        raise ValidationError("demos", f"is {n_demos}", "sample at least one demonstration")
    out = Path(out)
    world = navigation_gridworld(layout)
    mdp = world.mdp
    assert world.shape is not None and mdp.horizon is not None
    optimal = value_iteration(mdp, world.reward)
    soft = soft_value_iteration(mdp, world.reward)
    demos = sample_tabular(mdp, soft.policy, n_demos, rng=np.random.default_rng(seed), reward=world.reward)

    def expected_return(policy: torch.Tensor) -> float:
        return float(occupancy(mdp, policy) @ world.reward)

    returns = {
        "optimal": expected_return(optimal.policy),
        "soft-optimal (MaxEnt, T=1)": expected_return(soft.policy),
        "uniform random": expected_return(torch.full((mdp.horizon, mdp.n_states, mdp.n_actions), 1 / mdp.n_actions, dtype=mdp.dtype)),
        f"{n_demos} sampled demos (mean)": float(demos.returns().mean()),
    }

    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    world.plot(axes[0, 0], title="true reward (road -1, grass -2, rough -5, water -20, goal +5)")
    for r, row in enumerate(world.layout or ()):
        for c, ch in enumerate(row):
            axes[0, 0].text(c, r, ch, ha="center", va="center", fontsize=8, color="white")
    world.plot(axes[0, 1], values=optimal.values[0], policy=optimal.policy, title="optimal values and policy (t = 0)")
    world.plot(axes[1, 0], values=soft.values[0], policy=soft.policy, title="soft-optimal values and policy (t = 0)")
    world.plot(axes[1, 1], trajectories=[tr.obs for tr in demos], title=f"{n_demos} demonstrations sampled from the soft-optimal policy")
    fig.suptitle("rewardlab demo: what a demonstrator that is soft-optimal for the true reward does", fontsize=12)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    figure = atomic_write(out / "demo.png", lambda f: f.write(buffer.getvalue()))
    summary = {
        "layout": layout,
        "rows": world.shape[0],
        "cols": world.shape[1],
        "horizon": mdp.horizon,
        "seed": seed,
        "returns": returns,
        "optimal_ascii": world.ascii(policy=optimal.policy),
        "demos": [tr.obs.tolist() for tr in demos],
        "figure": str(figure),
    }
    summary["summary"] = str(out / "summary.json")
    write_json(out / "summary.json", summary)
    return summary
