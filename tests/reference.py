"""Slow, obviously-correct references: dense (S, A, S) transitions and Python loops over states.

The fast solvers are checked against these on small random MDPs.
"""

from __future__ import annotations

import numpy as np
import torch

from rewardlab.mdp import TabularMDP


def dense(mdp: TabularMDP) -> np.ndarray:
    """P[s, a, s'] built entry by entry from the successor lists, with terminal rows zeroed."""
    S, A, K = mdp.successors.shape
    P = np.zeros((S, A, S))
    succ, prob = mdp.successors.numpy(), mdp.probabilities.numpy()
    term = mdp.terminal_mask().numpy()
    for s in range(S):
        if term[s]:
            continue
        for a in range(A):
            for k in range(K):
                P[s, a, succ[s, a, k]] += prob[s, a, k]
    return P


def sa_reward(mdp: TabularMDP, reward: np.ndarray) -> np.ndarray:
    reward = np.asarray(reward, dtype=float)
    return reward if reward.ndim == 2 else np.repeat(reward[:, None], mdp.n_actions, axis=1)


def backup(P: np.ndarray, r: np.ndarray, gamma: float, V: np.ndarray) -> np.ndarray:
    return r + gamma * (P @ V)  # dense (S, A, S) @ (S,)


def soft_max(Q: np.ndarray, T: float) -> tuple[np.ndarray, np.ndarray]:
    m = Q.max(1, keepdims=True)
    V = (m + T * np.log(np.exp((Q - m) / T).sum(1, keepdims=True)))[:, 0]
    return V, np.exp((Q - V[:, None]) / T)


def backup_noncausal(P: np.ndarray, r: np.ndarray, gamma: float, V: np.ndarray, T: float) -> np.ndarray:
    """Ziebart 2008: Q(s, a) = r + T log sum_s' P(s'|s,a) exp(gamma V(s') / T); 0 continuation if terminal."""
    cont = np.zeros_like(r)
    for s in range(P.shape[0]):
        for a in range(P.shape[1]):
            mass = P[s, a]
            if mass.sum() > 0:
                cont[s, a] = T * np.log((mass * np.exp(gamma * V / T)).sum())
    return r + cont


def solve(mdp: TabularMDP, reward: np.ndarray, *, soft: bool, T: float = 1.0, sweeps: int = 600, causal: bool = True):
    """Values (H, S)/(S,) and policy by plain recursion; hard policies as argmax one-hot."""
    P, r, g = dense(mdp), sa_reward(mdp, reward), mdp.discount
    step = backup if causal else (lambda P, r, g, V: backup_noncausal(P, r, g, V, T))
    S, A = r.shape
    if mdp.horizon is not None:
        V = np.zeros(S)
        Vs, pis = [], []
        for _ in range(mdp.horizon):
            Q = step(P, r, g, V)
            if soft:
                V, pi = soft_max(Q, T)
            else:
                V, pi = Q.max(1), np.eye(A)[Q.argmax(1)]
            Vs.append(V)
            pis.append(pi)
        return np.array(Vs[::-1]), np.array(pis[::-1])
    V = np.zeros(S)
    for _ in range(sweeps):
        Q = step(P, r, g, V)
        V = soft_max(Q, T)[0] if soft else Q.max(1)
    Q = step(P, r, g, V)
    return V, (soft_max(Q, T)[1] if soft else np.eye(A)[Q.argmax(1)])


def evaluate(mdp: TabularMDP, reward: np.ndarray, policy: np.ndarray, sweeps: int = 600) -> np.ndarray:
    P, r, g = dense(mdp), sa_reward(mdp, reward), mdp.discount
    V = np.zeros(mdp.n_states)
    if mdp.horizon is not None:
        out = []
        for t in reversed(range(mdp.horizon)):
            V = (backup(P, r, g, V) * policy[t]).sum(1)
            out.append(V)
        return np.array(out[::-1])
    for _ in range(sweeps):
        V = (backup(P, r, g, V) * policy).sum(1)
    return V


def visitation(mdp: TabularMDP, policy: np.ndarray, steps: int = 600) -> np.ndarray:
    """State-action visitation (S, A): finite sums over t < H, discounted sums gamma^t."""
    P, g = dense(mdp), mdp.discount
    S, A = mdp.n_states, mdp.n_actions
    d = mdp.initial.numpy().copy()
    total = np.zeros((S, A))
    n = mdp.horizon if mdp.horizon is not None else steps
    for t in range(n):
        pi = policy[t] if mdp.horizon is not None else policy
        sa = d[:, None] * pi
        total += g**t * sa
        d = np.einsum("sa,sat->t", sa, P)
    return total


def soft_log_partition(mdp: TabularMDP, reward: torch.Tensor, T: float = 1.0, sweeps: int = 2000) -> torch.Tensor:
    """sum_s rho0(s) V_soft(s), differentiable in ``reward`` (dense torch, no in-place tricks)."""
    P = torch.as_tensor(dense(mdp))
    r = reward if reward.ndim == 2 else reward[:, None].expand(-1, mdp.n_actions)
    V = torch.zeros(mdp.n_states, dtype=torch.float64)
    n = mdp.horizon if mdp.horizon is not None else sweeps
    for _ in range(n):
        Q = r + mdp.discount * torch.einsum("sat,t->sa", P, V)
        V = T * torch.logsumexp(Q / T, dim=1)
    return (mdp.initial * V).sum()


def point_posterior(world, n: int):
    """A Bayesian IRL posterior whose ``n`` samples all equal the world's true (linear) weights."""
    from rewardlab.irl.posterior import RewardPosterior

    theta = world.weights.expand(1, n, -1).clone()
    zero = torch.zeros(1, n, dtype=torch.float64)
    return RewardPosterior(theta, zero, zero, torch.ones(1), torch.ones(1), world.mdp, "linear", 50.0)
