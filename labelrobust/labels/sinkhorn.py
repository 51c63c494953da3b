"""Entropic optimal transport between class histograms (Sinkhorn), batched, in the log domain.

For histograms ``p, q`` on K classes (non-negative, summing to 1) and a K×K cost ``C``, the
entropic plan with regularisation ``ε > 0`` is (Cuturi 2013, "Sinkhorn distances: lightspeed
computation of optimal transport", §3–4; Peyré & Cuturi 2019, "Computational optimal
transport", §4.1)

    P_ε = argmin { ⟨P, C⟩ − ε·H(P) : P ≥ 0, P·1 = p, Pᵀ·1 = q },   H(P) = −Σ_ij P_ij (log P_ij − 1),

and it has the form ``P_ij = exp(a_i + b_j − C_ij/ε)``. Sinkhorn's algorithm alternates the two
marginal projections, here on the scaled log-potentials ``a = f/ε``, ``b = g/ε``
(Peyré & Cuturi 2019, §4.2 and the log-domain form of §4.4):

    a_i ← log p_i − LSE_j(b_j − C_ij/ε)      (rows of P sum to p),
    b_j ← log q_j − LSE_i(a_i − C_ij/ε)      (columns of P sum to q),

with LSE the log-sum-exp. The potentials stay logarithms, so a small ε overflows nothing, and
a zero entry of ``p`` or ``q`` is a log-potential of −∞ whose row or column of P is exactly 0
(and gets a zero gradient, never NaN).

What is returned: ``sinkhorn_wasserstein`` gives, per pair, the **transport cost of the entropic
plan** ``⟨P_ε, C⟩ = Σ_ij P_ij C_ij`` — Cuturi's dual-Sinkhorn divergence ``d_M^λ`` (λ = 1/ε), and what POT's
``ot.sinkhorn2(a, b, M, reg)`` returns by default — not the regularised objective
``⟨P_ε, C⟩ − ε·H(P_ε)``. With ``C`` the p-th power of a label metric it approximates
``W_p^p(p, q)`` from above and tends to it as ε → 0 (Peyré & Cuturi 2019, Prop. 4.1).
When one of the histograms is one-hot, ``U(p, q)`` holds a single plan, so the entropic plan
*is* the exact one for every ε and the iterations converge after two steps.

The gradient is that of the **unrolled iterations**: autograd differentiates through every
iteration actually run (including the early stop), so it is the exact derivative of the number
returned, and it tends to the derivative of ``⟨P_ε, C⟩`` as the iterations converge. It is not
the envelope-theorem gradient (the dual potential ``f``), which belongs to the regularised
objective, not to the transport cost returned here.

Each log-sum-exp runs as an N×K by K×K product with the kernel ``exp(−C/ε)`` and a per-row
shift while ``max C/ε`` ≤ 50 (float32; 500 in float64), where no term that matters underflows
(``LogKernel``): autograd then keeps O(iterations · N · K) values. For a smaller ε it runs on
the N×K×K array ``b_j − C_ij/ε`` itself — never underflowing, but O(iterations · N · K²) memory
and much slower; lower ``iters`` there. In float32 with ``max C/ε`` ~ 10³ the marginals cannot
get much below ~1e-4 (``a_i + b_j − C_ij/ε`` is a difference of numbers ~10³).

Defaults: ``reg`` is absolute, in the units of ``C``; ``default_reg(C) = 0.05 · max(C)`` scales it
to the cost. At most ``DEFAULT_ITERS`` = 1000 iterations, stopping early once the L1 error of
the column marginal (after a row update, so the rows are exact) is at most ``tol`` =
``DEFAULT_TOL`` = 1e-5 for every pair of the batch, tested every ``check_every`` = 1 iterations
(each test reads one number from the device).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from labelrobust.errors import ConfigError
from labelrobust.validation import integer, number

DEFAULT_REG_FRACTION = 0.05
"""The default ε as a fraction of the largest cost: ``reg = 0.05 · max(C)``."""

DEFAULT_ITERS = 1000
"""The default most iterations (one row plus one column update each)."""

DEFAULT_TOL = 1e-5
"""The default early-stop threshold on ``Σ_j |Σ_i P_ij − q_j|`` (histograms sum to 1)."""


@dataclass(frozen=True)
class SinkhornResult:
    """The entropic plans of a batch and what they cost.

    ``cost``: N, ``⟨P[n], C⟩``. ``iterations``: iterations run (≤ ``iters``). ``marginal_error``:
    N, ``Σ_i |Σ_j P_ij − p_i| + Σ_j |Σ_i P_ij − q_j|`` of the returned plan (without gradient).
    ``log_u``, ``log_v``: N×K scaled log-potentials ``a = f/ε``, ``b = g/ε``, with
    ``P_ij = exp(a_i + b_j − C_ij/ε)``; ``plan()`` forms the N×K×K plans from them
    (``plan()[n, i, j]``: the mass moved from class i of ``p[n]`` to class j of ``q[n]``).
    """

    cost: Tensor
    iterations: int
    marginal_error: Tensor
    log_u: Tensor
    log_v: Tensor
    scaled_cost: Tensor

    def plan(self) -> Tensor:
        return (self.log_u[:, :, None] + self.log_v[:, None, :] - self.scaled_cost).exp()


def default_reg(cost: Tensor) -> float:
    """``0.05 · max(C)``: ε on the scale of the cost (0.05 when C is all zero, where every plan costs 0)."""
    top = float(cost.max()) if cost.numel() else 0.0
    return DEFAULT_REG_FRACTION * (top if top > 0 else 1.0)


def sinkhorn_wasserstein(
    p: Tensor, q: Tensor, cost: Tensor, reg: float, *, iters: int = DEFAULT_ITERS, tol: float = DEFAULT_TOL, check_every: int = 1
) -> Tensor:
    """Per-pair transport cost ``⟨P_ε, C⟩`` of the entropic plan between ``p[n]`` and ``q[n]``, shape N.

    ``p``, ``q``: N×K histograms (non-negative, finite, positive row sums; each row is divided by
    its sum). ``cost``: the K×K cost ``C`` (finite; for a Wasserstein-p loss, the p-th power of a
    label metric). ``reg``: ε > 0, absolute (``default_reg(C)`` gives 0.05·max C). ``iters`` ≥ 1:
    the most iterations; ``tol`` ≥ 0: stop once every pair's column-marginal L1 error is ≤ tol
    (0: run all iterations); ``check_every`` ≥ 1: test that every this many iterations (each test
    reads one number from the device). Differentiable with respect to ``p`` (and ``q``, ``cost``)
    by autograd through the iterations (module docstring). The result has ``p``'s dtype and device.
    """
    return sinkhorn(p, q, cost, reg, iters=iters, tol=tol, check_every=check_every).cost


def sinkhorn(
    p: Tensor, q: Tensor, cost: Tensor, reg: float, *, iters: int = DEFAULT_ITERS, tol: float = DEFAULT_TOL, check_every: int = 1
) -> SinkhornResult:
    """``sinkhorn_wasserstein`` with the plans, the iterations run and the marginal errors."""
    cost = _check_shapes(p, q, cost, "sinkhorn")
    reg, iters, tol, check_every = check_settings(reg, iters, tol, check_every, "sinkhorn")
    q = q.to(p.dtype)
    ok = _histograms_ok(p) & _histograms_ok(q) & torch.isfinite(cost).all()
    if not bool(ok):  # one host sync on a GPU
        for name, h in (("p", p), ("q", q)):
            if not bool(_histograms_ok(h)):
                raise ConfigError(f"sinkhorn: {name} must hold histograms (finite, ≥ 0, each row summing to > 0), one per row")
        raise ConfigError("sinkhorn: cost must be finite")
    p = p / p.sum(dim=1, keepdim=True)
    q = q / q.sum(dim=1, keepdim=True)
    return log_sinkhorn(safe_log(p), safe_log(q), cost, reg, iters=iters, tol=tol, check_every=check_every)


def log_sinkhorn(
    log_p: Tensor,
    log_q: Tensor,
    cost: Tensor,
    reg: float,
    *,
    iters: int = DEFAULT_ITERS,
    tol: float = DEFAULT_TOL,
    check_every: int = 1,
) -> SinkhornResult:
    """The iterations on log-histograms (−∞ for a zero entry; each row's logsumexp must be 0,
    which is not checked): for callers that hold ``log_softmax`` outputs and validated targets.
    Half-precision inputs are computed in float32 (``exp(−C/ε)`` would underflow in float16) and
    the cost is returned in their dtype."""
    cost = _check_shapes(log_p, log_q, cost, "sinkhorn")
    reg, iters, tol, check_every = check_settings(reg, iters, tol, check_every, "sinkhorn")
    given = log_p.dtype
    if given in (torch.float16, torch.bfloat16):
        log_p, cost = log_p.float(), cost.float()
    log_q = log_q.to(log_p.dtype)
    kernel = LogKernel(cost, reg)
    q = log_q.exp()
    b = torch.zeros_like(log_q)
    a = b
    run = 0
    for run in range(1, iters + 1):
        a = log_p - kernel.over_columns(b)  # the rows of P now sum to p exactly
        column = kernel.over_rows(a)  # the column sums of P are exp(b + column)
        if run % check_every == 0:
            with torch.no_grad():
                error = ((b + column).exp() - q).abs().sum(dim=1).max()
            if bool(error <= tol):  # one host sync
                break
        if run < iters:
            b = log_q - column
    # the plan ends on a row update: rows exact, columns within the last error checked
    total = kernel.transport(a, b)
    with torch.no_grad():
        rows = (a + kernel.over_columns(b)).exp() - log_p.exp()
        columns = (b + kernel.over_rows(a)).exp() - q
        residual = rows.abs().sum(1) + columns.abs().sum(1)
    return SinkhornResult(total.to(given), run, residual, a, b, kernel.scaled)


KERNEL_LIMIT = {torch.float64: 500.0}
"""The largest ``max(C)/ε`` at which the log-sum-exps run as products with the kernel
``exp(−C/ε)`` (per dtype; 50 for the others): its smallest entry, ``exp(−max C/ε)``, is then far
above the dtype's underflow, so the shifted product is the log-sum-exp to rounding."""


class LogKernel:
    """The log-sum-exps of an iteration, ``LSE_j(b_j − C_ij/ε)`` and ``LSE_i(a_i − C_ij/ε)``,
    and the transport cost of the plan ``exp(a_i + b_j − C_ij/ε)``.

    With ``β = max_j b_j`` (held constant under autograd: the value does not depend on it),
    ``LSE_j(b_j − C_ij/ε) = β + log Σ_j exp(b_j − β)·exp(−C_ij/ε)``: an N×K by K×K product, with
    O(N·K) memory. The term of ``j = argmax b`` is at least ``exp(−max C/ε)``, so while that is far
    from underflow (``KERNEL_LIMIT``) no term that matters is lost; and since the rows of P sum
    to at most 1, ``exp(a_i + β) ≤ exp(max C/ε)``, so the cost ``Σ_i exp(a_i + β)·Σ_j exp(b_j − β)
    ·(exp(−C/ε) ⊙ C)_ij`` loses only terms below ``underflow · exp(max C/ε)`` of ``max C``. Below
    that ε (a sharper plan) everything runs on the N×K×K array ``b_j − C_ij/ε`` itself, in
    logsumexp, which never underflows.
    """

    def __init__(self, cost: Tensor, reg: float) -> None:
        self.cost = cost
        self.scaled = cost / reg
        limit = KERNEL_LIMIT.get(cost.dtype, 50.0)
        self.product = bool(self.scaled.max() <= limit) if cost.numel() else True
        if self.product:
            self.kernel = torch.exp(-self.scaled)
            self.weighted = self.kernel * cost

    def over_columns(self, b: Tensor) -> Tensor:
        """``LSE_j(b_j − C_ij/ε)`` for every row i: N×K."""
        if self.product:
            shift = _shift(b, 1)
            return ((b - shift).exp() @ self.kernel.T).log() + shift
        return _logsumexp(b[:, None, :] - self.scaled, 2)

    def over_rows(self, a: Tensor) -> Tensor:
        """``LSE_i(a_i − C_ij/ε)`` for every column j: N×K."""
        if self.product:
            shift = _shift(a, 1)
            return ((a - shift).exp() @ self.kernel).log() + shift
        return _logsumexp(a[:, :, None] - self.scaled, 1)

    def transport(self, a: Tensor, b: Tensor) -> Tensor:
        """``Σ_ij exp(a_i + b_j − C_ij/ε)·C_ij`` per sample: N."""
        if self.product:
            shift = _shift(b, 1)
            per_row = (b - shift).exp() @ self.weighted.T  # Σ_j exp(b_j − β)·exp(−C_ij/ε)·C_ij
            return ((a + shift).exp() * per_row).sum(dim=1)
        return ((a[:, :, None] + b[:, None, :] - self.scaled).exp() * self.cost).sum(dim=(1, 2))


def _shift(x: Tensor, dim: int) -> Tensor:
    """The largest entry along ``dim`` (kept), without gradient (the log-sum-exp's value does not
    depend on the shift); 0 where all are −∞."""
    return x.detach().amax(dim=dim, keepdim=True).nan_to_num(neginf=0.0)


def _logsumexp(x: Tensor, dim: int) -> Tensor:
    """``torch.logsumexp`` with a constant shift: the same value, a backward pass of one exp."""
    shift = _shift(x, dim)
    return (x - shift).exp().sum(dim=dim).log() + shift.squeeze(dim)


def safe_log(x: Tensor) -> Tensor:
    """``log x`` with −∞ (and a zero gradient, never NaN) where ``x == 0``."""
    tiny = torch.finfo(x.dtype).tiny
    return torch.where(x > 0, x.clamp_min(tiny).log(), -math.inf)


def check_settings(reg, iters, tol, check_every, who: str) -> tuple[float, int, float, int]:
    """``reg`` > 0 finite, ``iters`` ≥ 1, ``tol`` ≥ 0 finite, ``check_every`` ≥ 1; ``who`` starts each message."""
    return (
        number(reg, f"{who}: reg (ε)", low=0, low_open=True),
        integer(iters, f"{who}: iters", low=1),
        number(tol, f"{who}: tol", low=0),
        integer(check_every, f"{who}: check_every", low=1),
    )


def _check_shapes(p: Tensor, q: Tensor, cost, who: str) -> Tensor:
    if not isinstance(p, Tensor) or not isinstance(q, Tensor):
        raise ConfigError(f"{who}: p and q must be tensors of shape (N, K), got {type(p).__name__} and {type(q).__name__}")
    if p.ndim != 2 or q.shape != p.shape:
        raise ConfigError(f"{who}: p and q must both have shape (N, K), got {tuple(p.shape)} and {tuple(q.shape)}")
    if not p.dtype.is_floating_point:
        raise ConfigError(f"{who}: p must be a floating-point tensor, got {p.dtype}")
    if q.device != p.device:
        raise ConfigError(f"{who}: q is on {q.device} but p on {p.device}; move them to one device")
    cost = torch.as_tensor(cost, dtype=p.dtype, device=p.device)
    k = p.shape[1]
    if cost.shape != (k, k):
        raise ConfigError(f"{who}: cost must have shape ({k}, {k}) for histograms over {k} classes, got {tuple(cost.shape)}")
    return cost


def _histograms_ok(h: Tensor) -> Tensor:
    return ((h >= 0) & (h < math.inf)).all() & (h.sum(dim=1) > 0).all()
