"""Invariants shared across the registry: bounds, zero gradients, state_dict round trip,
batched == separate, momentum hook, in-place updates."""

import copy
import math

import pytest
import torch

from muonlab.optim import OPTIMIZERS, build

from .reference import (EPS32, gradient_sequence, jacobian_inf_norm, normuon_eta_rel_bound, normuon_update, ns5_f64,
                        ns5_float32_total_bound, ns5_input_float32_bound)

BATCHED = ["muon", "normuon", "trasmuon", "trasmuon-noclip", "trasmuon-clip-only", "trasmuon-clip-sf", "rmnp", "sf-muon", "amuse"]
HOOKED = BATCHED + ["da-muon", "sc-muon", "df-muon"]
FAST = {"T_w": 2}


def _hp(name: str) -> dict:
    return dict(FAST) if name.startswith("trasmuon") else ({"T0": 3} if name in ("amuse", "sf-muon") else {})


def test_trasmuon_clip_range_and_step_bound():
    lr, c_min, m, n = 1e-2, 0.25, 16, 12
    p = torch.nn.Parameter(torch.zeros(m, n))
    opt = build("trasmuon", [p], lr=lr, c_min=c_min, T_w=2, alpha=5.0)
    g = torch.Generator().manual_seed(0)
    for t in range(1, 41):
        G = torch.randn(m, n, generator=g)
        if t % 5 == 0:
            G[:, t % n] *= 50.0
        p.grad = G
        before = p.detach().clone()
        opt.step()
        c = opt.state[p]["c_last"]
        assert c.min() >= c_min - 1e-6 and c.max() <= 1.0
        assert (p.detach() - before).norm() <= lr * math.sqrt(m * n) * (1 + 1e-5)
    assert opt.last_stats()["c_used_min"] < 0.9


def test_noclip_update_rms_equals_lr():
    lr = 3e-3
    p = torch.nn.Parameter(torch.randn(10, 14))
    opt = build("trasmuon-noclip", [p], lr=lr, T_w=0)
    for G in gradient_sequence((10, 14), 12, seed=1):
        p.grad = G
        before = p.detach().clone()
        opt.step()
        assert (p.detach() - before).square().mean().sqrt().item() == pytest.approx(lr, rel=1e-5)
        assert opt.last_stats()["update_rms"] == pytest.approx(lr, rel=1e-5)


def test_rmnp_rows_have_unit_norm():
    """RMNP Lemma A.1: every row of D has unit norm, so ||dW_row|| = lr sqrt(max(1, m/n))."""
    lr, m, n = 0.01, 12, 5
    p = torch.nn.Parameter(torch.randn(m, n))
    opt = build("rmnp", [p], lr=lr)
    for G in gradient_sequence((m, n), 5, seed=2):
        p.grad = G
        before = p.detach().clone()
        opt.step()
        rows = (p.detach() - before).norm(dim=1) / (lr * math.sqrt(m / n))
        # bound: each entry of the float32 change is off by <= 2 eps32 |W| (the update's and
        # W - u's rounding), a row of n by sqrt(n) times that, relative to lr sqrt(m / n);
        # the row normalization, this norm and the division add (n / 2 + 3) + (n / 2 + 2) eps32
        w_max = max(before.abs().max().item(), p.detach().abs().max().item())
        rel = math.sqrt(n) * 2 * EPS32 * w_max / (lr * math.sqrt(m / n)) + (n + 5) * EPS32
        torch.testing.assert_close(rows, torch.ones(m), rtol=rel, atol=0)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_zero_gradients_give_no_nan(name):
    W = torch.nn.Parameter(torch.randn(6, 4))
    opt = build(name, [W], **_hp(name))
    for _ in range(6):
        W.grad = torch.zeros(6, 4)
        opt.step()
    assert torch.isfinite(W).all()
    assert all(math.isfinite(v) for v in opt.last_stats().values())


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dict_round_trip_is_bit_identical(name):
    shape = (7, 5)
    grads = gradient_sequence(shape, 16, seed=3)
    W = torch.nn.Parameter(torch.randn(shape, generator=torch.Generator().manual_seed(4)))
    opt = build(name, [W], **_hp(name))
    for G in grads[:8]:
        W.grad = G.clone()
        opt.step()
    saved_state = copy.deepcopy(opt.state_dict())
    saved_param = W.detach().clone()
    for G in grads[8:]:
        W.grad = G.clone()
        opt.step()
    expected = W.detach().clone()

    W2 = torch.nn.Parameter(saved_param.clone())
    opt2 = build(name, [W2], **_hp(name))
    opt2.load_state_dict(saved_state)
    for G in grads[8:]:
        W2.grad = G.clone()
        opt2.step()
    assert torch.equal(W2.detach(), expected)
    assert not torch.equal(expected, saved_param)


def _slice_hook(log):
    """Scales column 1 of the momentum by 4 at step 3: the T-45 injection, per slice."""

    def hook(param, M, step):
        log.append((param.shape, M.shape, step))
        if step == 3:
            M[..., 1] *= 4.0

    return hook


def _batched_step_bound(name: str, m: int, n: int) -> float | None:
    """Per-entry bound on |step_batched - step_separate| from the same float32 state.

    Momentum, hooks, weight decay and schedule-free averaging are elementwise or scalar
    (bitwise the same per slice); only reductions and matmuls may sum in another order
    (bmm vs mm, vector width). Each side's NS5 (or row normalization) is within its
    float32 bound of the exact value, so the two steps differ by <= 2 bounds, times the
    step size (lr_t <= lr for the schedule-free ones). Gradients are fixed, so the
    momentum (hence the next steps) does not depend on W: the errors add up linearly.
    None: NorMuon and TrasMuon, whose bound is computed per step at the state
    (_NorMuonBound, _TrasMuonBound).
    """
    lr = 0.02
    if name == "muon":
        return 2 * lr * math.sqrt(max(1.0, m / n)) * ns5_float32_total_bound(m, n)
    if name in ("sf-muon", "amuse"):  # adjust_lr="match_rms_adamw"
        return 2 * lr * 0.2 * math.sqrt(max(m, n)) * ns5_float32_total_bound(m, n)
    if name == "rmnp":  # row norm of n squares, sqrt, division: (n / 2 + 3) eps32, |D| <= 1
        return 2 * lr * math.sqrt(max(1.0, m / n)) * (n / 2 + 3) * EPS32
    return None


class _NorMuonBound:
    """NorMuon batched vs separate, first order: the momentum U is bitwise the same on both
    sides (elementwise), so the two O's differ by <= 2 ns5_input_float32_bound(U, 0) (NS5's
    and its norm's rounding, through the Jacobian at U); the row moments v differ by the
    EMA of 2 |O| dO plus both sides' row-mean rounding; the steps differ by the update map's
    Jacobians (at the float64 O = NS5(U) and the separate side's v) times those, plus both
    sides' (m n / 2 + 10) eps32 |u|. Evaluated at the separate optimizer's state."""

    def __init__(self, opt) -> None:
        self.opt, self.v_diff, self.v_prev = opt, 0.0, None

    @staticmethod
    def input_error(U: torch.Tensor) -> float:
        """NS5's input is U itself on both sides (bitwise)."""
        return 0.0

    def before_step(self, p: torch.Tensor) -> None:
        state = self.opt.state[p]
        self.v_prev = state["v_row"].double().clone() if state else torch.zeros(p.shape[0], dtype=torch.float64)

    def step_bound(self, p: torch.Tensor) -> float:
        group, state = self.opt.param_groups[0], self.opt.state[p]
        m, n = p.shape
        b2, eps = group["beta2"], group["eps"]
        c = group.get("rms_scale", 1.0) * group["lr"] * math.sqrt(m * n)
        U = state["momentum_buffer"].double()  # nesterov=False: U = M
        O = ns5_f64(U)
        o_diff = 2 * ns5_input_float32_bound(U, self.input_error(U))
        u = normuon_update(O, self.v_prev, b2, eps, c)
        bound = (jacobian_inf_norm(normuon_update, O, 0, self.v_prev, b2, eps, c) * o_diff
                 + jacobian_inf_norm(normuon_update, self.v_prev, 1, O, b2, eps, c) * self.v_diff
                 + 2 * (m * n / 2 + 10) * EPS32 * u.abs().max().item())
        self.eta_rel = normuon_eta_rel_bound(O, self.v_prev, b2, eps, o_diff, self.v_diff) * 2
        v = state["v_row"].double()
        self.v_diff = b2 * self.v_diff + (1 - b2) * 2 * O.abs().max().item() * o_diff + 2 * (n + 4) * EPS32 * v.max().item()
        return bound


class _TrasMuonBound(_NorMuonBound):
    """TrasMuon batched vs separate, first order. Until T_w it is calibrated NorMuon
    (rms_scale 1) on the bitwise-equal momentum, except that its pre-scaling
    M / (||M||_F / sqrt(m n) + eps) divides by a norm that may sum in another order: the
    NS5 inputs differ by <= 2 eps32 |M| per entry (a uniform factor cancels in NS5). The
    clip: E_j sums m squares ((m + 1) eps32 relative per side), E_ref is an EMA of their
    median (relative error <= its terms' + 2 eps32 per step), r_j = E_j / (E_ref_used + eps)
    adds 3 eps32; c_inst = clip(1 / (1 + alpha log(1 + r))) moves by <= alpha times r's
    relative error (+ 6 roundings), the trigger r > k is the same on both sides when
    |r - k| > r's bound (asserted: a decision margin); c_ema, c_avg = C / (S + eps) and their
    lerp add (2 t + 10 + 3 / (1 - beta_c)) eps32 per step and carry c's earlier error.
    The step eta_hat O_base c then differs by NorMuon's bound (c <= 1) + |eta_hat O_base| dc.
    r and the trigger are evaluated at the separate side's float32 state, in float64."""

    def __init__(self, opt) -> None:
        super().__init__(opt)
        self.e_ref_rel, self.c_diff = 0.0, 0.0

    @staticmethod
    def input_error(U: torch.Tensor) -> float:
        return 2 * EPS32 * U.abs().max().item()

    def step_bound(self, p: torch.Tensor) -> float:
        base = super().step_bound(p)
        group, state = self.opt.param_groups[0], self.opt.state[p]
        m, n = p.shape
        t, eps = state["step"], group["eps"]
        M = state["momentum_buffer"].double()
        E = (M * M).sum(dim=0)
        e_rel = 2 * (m + 1) * EPS32  # both sides
        self.e_ref_rel = max(self.e_ref_rel, e_rel) + 2 * 2 * EPS32
        self.r_rel = e_rel + self.e_ref_rel + 2 * 3 * EPS32
        E_ref = state["E_ref"].double() / ((1 - group["beta_E"] ** t) if group["ref_bias_correction"] else 1.0)
        self.r = E / (E_ref + eps)
        clip_on = group["clip"] and t > group["T_w"]
        if clip_on and t % group["K"] == 0:
            if group["k"] is not None:  # decision margin of the trigger
                assert ((self.r - group["k"]).abs() > self.r * self.r_rel).all()
            self.c_diff += group["alpha"] * self.r_rel + 2 * 6 * EPS32
        if clip_on:
            self.c_diff += 2 * (2 * t + 10 + 3 / (1 - group["beta_c"])) * EPS32
        self.c = state["c_last"].double()
        u_max = group["lr"] * math.sqrt(m * n)  # |eta_hat O_base|_ij <= its Frobenius norm, lr sqrt(m n)
        return base + u_max * self.c_diff


@pytest.mark.parametrize("name", BATCHED)
def test_batched_equals_separate_optimizers(name):
    S, m, n, steps = 3, 9, 6, 14
    g = torch.Generator().manual_seed(5)
    W0 = torch.randn(S, m, n, generator=g)
    # Slices differ in gradient scale by 100x: per-slice statistics must stay independent.
    scale = torch.tensor([0.01, 1.0, 100.0])[:, None, None]
    grads = [torch.randn(S, m, n, generator=g) * scale for _ in range(steps)]
    log_b, log_s = [], []
    Wb = torch.nn.Parameter(W0.clone())
    opt_b = build(name, [Wb], batched=True, momentum_hook=_slice_hook(log_b), **_hp(name))
    Ws = [torch.nn.Parameter(W0[s].clone()) for s in range(S)]
    opts = [build(name, [Ws[s]], momentum_hook=_slice_hook(log_s), **_hp(name)) for s in range(S)]
    step_bound = _batched_step_bound(name, m, n)
    tracker = _TrasMuonBound if name.startswith("trasmuon") else _NorMuonBound if name == "normuon" else None
    normuon = [tracker(opt) for opt in opts] if tracker else None
    w_bounds = [0.0] * S
    for t, G in enumerate(grads, start=1):
        Wb.grad = G.clone()
        opt_b.step()
        stats_b = opt_b.last_stats_tensors()
        for s in range(S):
            Ws[s].grad = G[s].clone()
            if normuon:
                normuon[s].before_step(Ws[s])
            opts[s].step()
            stats = opts[s].last_stats_tensors()
            if normuon:
                step_bound = normuon[s].step_bound(Ws[s])
            # linear over the steps; each side's W - step rounds by <= eps32 (|W| + |step|), |step| < 1
            w_bounds[s] += step_bound + 2 * EPS32 * (Ws[s].detach().abs().max().item() + 1.0)
            assert step_bound < 0.1 * stats["update_fro"].item() / math.sqrt(m * n)  # << one step's rms move
            torch.testing.assert_close(Wb.detach()[s], Ws[s].detach(), rtol=0, atol=w_bounds[s])
            for key, value in stats.items():
                assert stats_b[key].shape == (S,)
                if key in ("update_fro", "update_rms"):  # ||d step||_F <= sqrt(m n) step_bound
                    rel = math.sqrt(m * n) * step_bound / stats["update_fro"].item() + 2 * (m * n / 2 + 4) * EPS32
                    torch.testing.assert_close(stats_b[key][s], value, rtol=rel, atol=0)
                elif key == "eta_hat":  # both sides' bound on ||O_hat||_F (hence the 2 above)
                    torch.testing.assert_close(stats_b[key][s], value, rtol=normuon[s].eta_rel, atol=0)
                elif key in ("r_max", "r_q95"):  # r's relative bound; the quantile's interpolation 2 x 6 eps32 r_max
                    r = normuon[s].r
                    atol = (normuon[s].r_rel + 12 * EPS32) * r.max().item()
                    torch.testing.assert_close(stats_b[key][s].double(), value.double(), rtol=0, atol=atol)
                elif key in ("c_used_min", "c_used_mean"):  # c's bound, the mean's 2 (n + 1) eps32
                    torch.testing.assert_close(stats_b[key][s].double(), value.double(), rtol=0,
                                               atol=normuon[s].c_diff + 2 * (n + 1) * EPS32)
                elif key == "frac_clipped":  # c < 1 decided alike: every c is 1 or off 1 by more than its bound
                    c = normuon[s].c
                    assert ((c == 1) | ((1 - c) > normuon[s].c_diff + 2 * EPS32)).all()
                    torch.testing.assert_close(stats_b[key][s], value, rtol=0, atol=0)
                else:  # beta_t, c_t: scalar schedules, the same arithmetic on both sides
                    torch.testing.assert_close(stats_b[key][s], value, rtol=0, atol=0)
    assert log_b[0] == ((S, m, n), (S, m, n), 1) and log_s[0] == ((m, n), (m, n), 1)
    assert len(log_b) == steps


@pytest.mark.parametrize("name", HOOKED)
def test_momentum_hook_modifies_momentum_in_place(name):
    W = torch.nn.Parameter(torch.randn(8, 5))
    calls = []

    def hook(param, M, step):
        calls.append(step)
        M.zero_()

    opt = build(name, [W], momentum_hook=hook, **_hp(name))
    W.grad = torch.randn(8, 5)
    opt.step()
    assert calls == [1] and opt.momentum_hook is hook
    assert torch.count_nonzero(opt.state[W]["momentum_buffer"]) == 0


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_step_updates_the_parameter_in_place(name):
    W = torch.nn.Parameter(torch.randn(8, 5))
    ptr, before = W.data_ptr(), W.detach().clone()
    grad = torch.randn(8, 5)
    opt = build(name, [W], **_hp(name))
    W.grad = grad.clone()
    opt.step()
    assert W.data_ptr() == ptr
    assert not torch.equal(W.detach(), before)
    if name not in ("sf-adamw",):  # the schedulefree package normalises p.grad in place
        assert torch.equal(W.grad, grad)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_closure_and_stats_without_sync_types(name):
    W = torch.nn.Parameter(torch.randn(6, 4))
    opt = build(name, [W], **_hp(name))

    def closure():
        opt.zero_grad()
        loss = (W**2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() > 0
    tensors = opt.last_stats_tensors()
    assert {"update_rms", "update_fro"} <= set(tensors)
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 for v in tensors.values())
