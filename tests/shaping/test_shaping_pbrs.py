"""PBRS: hand-computed values, policy invariance on random MDPs, and the semantic trap."""

import numpy as np
import pytest

from robo_reward.rewards.shaping import (
    ShapingConfig,
    difference_reward,
    pbrs_reward,
    potential_reward,
    shaped_reward,
    shaped_step_reward,
    success_from_progress,
)


def test_pbrs_hand_values():
    phi, phi_next = np.array([0.2, 0.5, 0.9]), np.array([0.4, 0.5, 0.97])
    success = np.array([0.0, 0.0, 1.0])
    terminated = np.array([False, False, True])
    r = pbrs_reward(phi, phi_next, success, terminated, gamma=0.9)
    # 0.9*0.4-0.2 ; 0.9*0.5-0.5 ; 1 + 0.9*0 - 0.9 (Φ(terminal) := 0 after the bonus)
    np.testing.assert_allclose(r, [0.16, -0.05, 0.1])
    np.testing.assert_allclose(difference_reward(phi, phi_next, success, terminated), [0.2, 0.0, 0.1])
    np.testing.assert_allclose(potential_reward(phi_next, success), [0.4, 0.5, 1.97])
    # truncation is not terminal: the next potential is kept
    r_trunc = pbrs_reward(phi, phi_next, success * 0, np.zeros(3, bool), gamma=0.9)
    np.testing.assert_allclose(r_trunc[2], 0.9 * 0.97 - 0.9)


def test_success_from_progress_threshold():
    np.testing.assert_array_equal(success_from_progress(np.array([0.9, 0.949, 0.95, 1.0])), [0, 0, 1, 1])


def test_scale_touches_only_the_shaping_term():
    cfg = ShapingConfig(kind="pbrs", gamma=0.9, scale=2.0)
    r = shaped_step_reward(cfg, np.array([0.5]), np.array([0.0]), np.array([1.0]), np.array([True]))
    np.testing.assert_allclose(r, [1.0 + 2.0 * (0.0 - 0.5)])


def test_config_validates():
    with pytest.raises(ValueError):
        ShapingConfig(kind="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ShapingConfig(success_source="oracle")  # type: ignore[arg-type]


# ---------------------------------------------------------------- small MDPs solved exactly


def value_iteration(P, R, terminal, gamma, iters=3000):
    """Episodic MDP: entering a terminal state ends the episode (no value after it).

    P (S, A, S) transition probabilities, R (S, A, S) rewards, terminal (S,) bool. Returns Q (S, A).
    """
    S, A, _ = P.shape
    V = np.zeros(S)
    for _ in range(iters):
        Q = np.einsum("sat,sat->sa", P, R + gamma * np.where(terminal, 0.0, V)[None, None, :])
        V_new = np.where(terminal, 0.0, Q.max(axis=1))
        if np.max(np.abs(V_new - V)) < 1e-13:
            V = V_new
            break
        V = V_new
    return np.einsum("sat,sat->sa", P, R + gamma * np.where(terminal, 0.0, V)[None, None, :])


def shaped_rewards(kind, P, success, terminal, phi, gamma, zero_terminal=True):
    """R'(s, a, s') for every triple, through the same function the wrappers call."""
    S, A, _ = P.shape
    s = np.arange(S)[:, None, None]
    s_next = np.arange(S)[None, None, :]
    term_next = np.broadcast_to(terminal[s_next], (S, A, S)) if zero_terminal else np.zeros((S, A, S), bool)
    return shaped_reward(
        kind,
        np.broadcast_to(phi[s], (S, A, S)),
        np.broadcast_to(phi[s_next], (S, A, S)),
        np.broadcast_to(success[s_next], (S, A, S)),
        term_next,
        gamma,
    )


def random_mdp(rng, S=8, A=3):
    P = rng.dirichlet(np.full(S, 0.3), size=(S, A))
    terminal = np.zeros(S, bool)
    terminal[[S - 2, S - 1]] = True  # S-1: success, S-2: failure
    success = np.zeros(S)
    success[S - 1] = 1.0
    phi = rng.uniform(0, 1, S)  # includes arbitrary potentials at the terminal states
    return P, success, terminal, phi


@pytest.mark.parametrize("gamma", [0.9, 0.99])
def test_pbrs_preserves_optimal_policy_on_random_mdps(gamma):
    changed_by_potential = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        P, success, terminal, phi = random_mdp(rng)
        R = np.broadcast_to(success[None, None, :], P.shape)
        Q = value_iteration(P, R, terminal, gamma)
        Q_shaped = value_iteration(
            P, shaped_rewards("pbrs", P, success, terminal, phi, gamma), terminal, gamma
        )
        live = ~terminal
        # Ng et al.: Q'(s, a) = Q(s, a) − Φ(s) exactly, so every greedy policy is the same
        np.testing.assert_allclose(Q_shaped[live], Q[live] - phi[live, None], atol=1e-9)
        np.testing.assert_array_equal(Q_shaped[live].argmax(1), Q[live].argmax(1))
        Q_naive = value_iteration(
            P, shaped_rewards("potential", P, success, terminal, phi, gamma), terminal, gamma
        )
        changed_by_potential += int(np.any(Q_naive[live].argmax(1) != Q[live].argmax(1)))
    assert changed_by_potential > 20  # the baseline does change optimal policies, often


def test_pbrs_with_random_base_rewards_and_absorbing_terminals():
    """The same identity holds for any base reward, and for the absorbing-state formulation."""
    gamma = 0.95
    for seed in range(50):
        rng = np.random.default_rng(1000 + seed)
        P, success, terminal, phi = random_mdp(rng)
        base = rng.normal(size=P.shape)
        Q = value_iteration(P, base, terminal, gamma)
        F = shaped_rewards("pbrs", P, np.zeros_like(success), terminal, phi, gamma)
        Q_shaped = value_iteration(P, base + F, terminal, gamma)
        np.testing.assert_allclose(Q_shaped[~terminal], Q[~terminal] - phi[~terminal, None], atol=1e-9)
        # absorbing form: terminals loop on themselves with zero reward and keep their own Φ
        P_abs = P.copy()
        P_abs[terminal] = 0.0
        for s in np.flatnonzero(terminal):
            P_abs[s, :, s] = 1.0
        base_abs = np.where(terminal[:, None, None], 0.0, base)
        no_end = np.zeros_like(terminal)
        Q_abs = value_iteration(P_abs, base_abs, no_end, gamma)
        F_abs = shaped_rewards("pbrs", P_abs, np.zeros_like(success), no_end, phi, gamma)
        Q_abs_shaped = value_iteration(P_abs, base_abs + F_abs, no_end, gamma)
        np.testing.assert_allclose(Q_abs_shaped, Q_abs - phi[:, None], atol=1e-8)
        # ... and equals the episodic MDP with Φ(terminal) := 0 on the live states
        np.testing.assert_allclose(Q_abs[~terminal], Q[~terminal], atol=1e-8)


def test_keeping_terminal_potential_breaks_invariance():
    """Why Φ(terminal) := 0: a high-Φ failure ending outbids a slower success otherwise."""
    # 0 --a--> 1 --a--> 2 --a--> SUCCESS (3);   0 --b--> FAIL (4) with a learned Φ(FAIL) = 1
    S, A, gamma = 5, 2, 0.99
    P = np.zeros((S, A, S))
    P[0, 0, 1] = P[1, 0, 2] = P[2, 0, 3] = 1.0
    P[0, 1, 4] = 1.0
    P[1, 1, 1] = P[2, 1, 2] = 1.0
    P[3, :, 3] = P[4, :, 4] = 1.0
    terminal = np.array([False, False, False, True, True])
    success = np.array([0, 0, 0, 1.0, 0])
    phi = np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    R = np.broadcast_to(success[None, None, :], P.shape)
    assert value_iteration(P, R, terminal, gamma)[0].argmax() == 0  # go for success
    kept = shaped_rewards("pbrs", P, success, terminal, phi, gamma, zero_terminal=False)
    assert value_iteration(P, kept, terminal, gamma)[0].argmax() == 1  # broken: fail on purpose
    zeroed = shaped_rewards("pbrs", P, success, terminal, phi, gamma)
    assert value_iteration(P, zeroed, terminal, gamma)[0].argmax() == 0


def trap_mdp():
    """The semantic trap: state 1 is high progress (Φ = 0.9) and can be held indefinitely.

    0 (Φ=0) --advance--> 1 (Φ=0.9) --advance--> 2 = SUCCESS (terminal);  `stall` stays where it is.
    """
    P = np.zeros((3, 2, 3))
    P[0, 0, 1] = P[0, 1, 0] = 1.0
    P[1, 0, 2] = P[1, 1, 1] = 1.0
    P[2, :, 2] = 1.0
    terminal = np.array([False, False, True])
    success = np.array([0.0, 0.0, 1.0])
    phi = np.array([0.0, 0.9, 1.0])
    return P, success, terminal, phi


@pytest.mark.parametrize("gamma", [0.9, 0.99])
def test_semantic_trap(gamma):
    ADVANCE, STALL = 0, 1
    P, success, terminal, phi = trap_mdp()
    R = np.broadcast_to(success[None, None, :], P.shape)
    assert value_iteration(P, R, terminal, gamma)[1].argmax() == ADVANCE
    naive = value_iteration(P, shaped_rewards("potential", P, success, terminal, phi, gamma), terminal, gamma)
    assert naive[1].argmax() == STALL  # Φ-as-reward: parking at 0.9 pays 0.9/(1−γ) > finishing
    np.testing.assert_allclose(naive[1, STALL], 0.9 / (1 - gamma), rtol=1e-6)
    pbrs = value_iteration(P, shaped_rewards("pbrs", P, success, terminal, phi, gamma), terminal, gamma)
    assert pbrs[1].argmax() == ADVANCE and pbrs[0].argmax() == ADVANCE
    diff = value_iteration(P, shaped_rewards("difference", P, success, terminal, phi, gamma), terminal, gamma)
    assert diff[1].argmax() == ADVANCE  # the γ-less difference escapes this trap, but is not invariant
