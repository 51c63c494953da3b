"""Interval and CROWN bounds are sound (every sampled activation lies inside), CROWN is never
looser than interval arithmetic, and the property bounds are upper bounds of the margin."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import labelrobust.verify.bounds as bounds_module
from labelrobust.errors import ConfigError
from labelrobust.models.base import Normalized, build_model
from labelrobust.verify.bounds import Bounds, crown_bounds, interval_bounds, property_upper_bound, unstable_counts
from labelrobust.verify.input_sets import InputSet, chebyshev_layers, layered_neighbourhood, linf_ball
from labelrobust.verify.network import MaxPool, from_torch
from labelrobust.verify.properties import argmax_property, linear_property, top2_property

DTYPE = torch.float64
SAMPLES = 2000


# -- small networks and input sets -------------------------------------------------------------


def _mlp(seed: int, shape=(1, 4, 5)) -> nn.Module:
    torch.manual_seed(seed)
    d = shape[0] * shape[1] * shape[2]
    return nn.Sequential(nn.Flatten(), nn.Linear(d, 12), nn.ReLU(), nn.Linear(12, 10), nn.ReLU(), nn.Linear(10, 4)).double().eval()


def _study_cnn(seed: int, shape=(1, 10, 12)) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("multilabel-cnn", input_shape=shape, out_dim=4, mean=(0.13,), std=(0.31,), channels=(2, 3)).double().eval()


def _batch_norm_cnn(seed: int, shape=(1, 10, 12)) -> nn.Module:
    """Normalisation before a padded, strided convolution (kept as a diagonal layer), batch norm
    after it, a padded max-pool, a second convolution and a fully connected head."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(shape[0], 3, 3, stride=2, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2, padding=1),
        nn.Conv2d(3, 4, 2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 2 * 3, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 4),
    )
    for bn in (net[1], net[8]):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    return Normalized(net, (0.4,), (0.3,)).double().eval()


NETWORKS = {"mlp": _mlp, "study-cnn": _study_cnn, "batch-norm-cnn": _batch_norm_cnn}
SHAPES = {"mlp": (1, 4, 5), "study-cnn": (1, 10, 12), "batch-norm-cnn": (1, 10, 12)}


def _input_set(kind: str, shape, seed: int, eps: float) -> InputSet:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=DTYPE)
    if kind == "linf":
        return linf_ball(x, eps)
    mask = torch.zeros(shape[1:], dtype=torch.bool)
    top, left = (int(torch.randint(0, s - 2, (1,), generator=g)) for s in shape[1:])
    mask[top:top + 2, left:left + 3] = True
    depth = int(chebyshev_layers(mask).max()) + 1
    return layered_neighbourhood(x, mask, (eps, eps / 2, eps / 4)[:depth])


def _points(box: InputSet, seed: int) -> torch.Tensor:
    """Uniform samples, random vertices (every vertex when there are few) and the corners."""
    g = torch.Generator().manual_seed(seed)
    corners = box.lower + torch.randint(0, 2, (SAMPLES // 2, box.size), generator=g).to(DTYPE) * (box.upper - box.lower)
    parts = [box.sample(SAMPLES, g), corners, box.lower[None], box.upper[None], box.center[None]]
    if int(box.free.sum()) <= 10:
        parts.append(box.vertices())
    return torch.cat(parts)


def _query(name: str, seed: int, kind: str, eps: float):
    model = NETWORKS[name](seed)
    shape = SHAPES[name]
    net = from_torch(model, shape)
    return model, net, _input_set(kind, shape, seed, eps)


def _assert_contains(bounds: Bounds, values: list[torch.Tensor], what: str) -> None:
    for i, v in enumerate(values):
        lo, hi = bounds.layer(i)
        assert (v >= lo).all() and (v <= hi).all(), f"{what}: layer input {i} leaves its bounds by {max(float((lo - v).max()), float((v - hi).max())):.3g}"


query_args = dict(
    name=st.sampled_from(sorted(NETWORKS)),
    seed=st.integers(0, 10_000),
    kind=st.sampled_from(["linf", "layered"]),
    eps=st.sampled_from([0.002, 0.02, 0.1, 0.3]),
)


# -- soundness -------------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(**query_args)
def test_every_sampled_activation_lies_in_the_interval_and_crown_bounds(name, seed, kind, eps):
    model, net, box = _query(name, seed, kind, eps)
    points = _points(box, seed)
    values = [points, *net.activations(points)]
    assert torch.allclose(values[-1], model(points.reshape(-1, *box.shape)), atol=1e-10)
    interval = interval_bounds(net, box)
    crown = crown_bounds(net, box)
    _assert_contains(interval, values, "interval")
    _assert_contains(crown, values, "crown")
    for i in range(len(values)):  # CROWN is intersected with the interval bounds: never looser
        assert (crown.lower[i] >= interval.lower[i]).all() and (crown.upper[i] <= interval.upper[i]).all()


def _random_linear(k: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    clauses = []
    for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
        m = int(torch.randint(1, 4, (1,), generator=g))
        clauses.append((torch.randn(m, k, generator=g, dtype=DTYPE).tolist(), torch.randn(m, generator=g, dtype=DTYPE).tolist()))
    return linear_property(clauses, k)


@settings(max_examples=15, deadline=None)
@given(**query_args, target=st.integers(0, 3))
def test_property_bounds_are_at_least_the_margin_of_every_sampled_point(name, seed, kind, eps, target):
    _, net, box = _query(name, seed, kind, eps)
    outputs = net.forward(_points(box, seed))
    interval, crown = interval_bounds(net, box), crown_bounds(net, box)
    for prop in (argmax_property(target, 4), top2_property(target, 4), _random_linear(4, seed)):
        worst = float(prop.margin(outputs).max())
        by_box = property_upper_bound(net, box, prop, interval, "interval")
        by_crown = property_upper_bound(net, box, prop, crown)
        plain = property_upper_bound(net, box, prop, crown, combine=False)
        assert by_box >= worst and plain >= worst and by_crown >= worst, prop.kind
        assert by_crown <= plain + 1e-12  # the mean rows only ever tighten a clause
        # CROWN row bounds are intersected with the box bounds of the same outputs
        assert property_upper_bound(net, box, prop, crown, "interval") >= plain - 1e-12


@settings(max_examples=10, deadline=None)
@given(**query_args, target=st.integers(0, 3))
def test_top2_shortcut_equals_the_pairwise_clause_bound(name, seed, kind, eps, target):
    """The 2nd-largest UB(y_j − y_t) is exactly max over pairs of min(UB_j, UB_k); with the
    pair rows (y_j + y_k)/2 − y_t added, the shortcut and the clauses also agree exactly."""
    _, net, box = _query(name, seed, kind, eps)
    prop = top2_property(target, 4)
    for bounds, method in ((interval_bounds(net, box), "interval"), (crown_bounds(net, box), "crown")):
        for combine in (False, True):
            fast = property_upper_bound(net, box, prop, bounds, method, combine=combine)
            clauses = property_upper_bound(net, box, prop, bounds, method, combine=combine, shortcut=False)
            assert fast == pytest.approx(clauses, abs=1e-12), (method, combine)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 5), ties=st.booleans(), gap=st.sampled_from([0.0, 1e-3, 0.05, 0.5]))
def test_max_pool_relaxation_lines_hold_on_the_whole_window_box(seed, k, ties, gap):
    g = torch.Generator().manual_seed(seed)
    lo = torch.randn(6, k, generator=g, dtype=DTYPE)
    hi = lo + torch.rand(6, k, generator=g, dtype=DTYPE) * 2
    if k > 1:  # input 0 nearly dominates in windows 0–2 (its lower bound just below the others' uppers)
        lo[:3, 0] = hi[:3, 1:].amax(dim=1) - gap
        hi[:3, 0] = lo[:3, 0] + 1
    if ties:  # equal bounds and fixed inputs: the degenerate windows
        lo[3:, 0], hi[3:, 0] = hi[3:, -1], hi[3:, -1]
    layer = MaxPool(torch.arange(6 * k).reshape(6, k), (1, 6, k), (1, 6, 1))
    relax = bounds_module._pool_relaxation(layer, lo.flatten(), hi.flatten())
    # every vertex pattern of a window (applied to all windows at once) plus uniform samples
    bits = ((torch.arange(2 ** k)[:, None] >> torch.arange(k)[None]) & 1).to(DTYPE)
    vertices = (lo[None] + bits[:, None, :] * (hi - lo)[None]).reshape(2 ** k, -1)
    x = torch.cat([vertices, lo.flatten() + torch.rand(3000, 6 * k, generator=g, dtype=DTYPE) * (hi - lo).flatten()])
    y = layer.apply(x)
    assert (y >= x[:, relax.low_index] - 1e-12).all()
    upper = torch.where(relax.up_index >= 0, x[:, relax.up_index.clamp_min(0)], 0.0) + relax.up_bias
    assert (y <= upper + 1e-12).all()


def test_zero_width_box_gives_the_forward_pass():
    for name in NETWORKS:
        model, net, box = _query(name, 3, "linf", 0.0)
        values = [box.center[None], *net.activations(box.center[None])]
        for bounds in (interval_bounds(net, box), crown_bounds(net, box)):
            for i, v in enumerate(values):
                lo, hi = bounds.layer(i)
                assert torch.allclose(lo, v[0], rtol=0, atol=1e-9) and torch.allclose(hi, v[0], rtol=0, atol=1e-9), (name, i)


# -- tightness ---------------------------------------------------------------------------------------


def test_crown_proves_what_interval_arithmetic_cannot():
    """y0 = relu(x) − relu(x) = 0 and y1 = 0.5 on x ∈ [0.5, 1]: the margin y0 − y1 is −0.5
    everywhere, but the box of y0 is [−0.5, 0.5], so interval arithmetic reaches 0."""
    first, second = nn.Linear(1, 2), nn.Linear(2, 2)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0], [1.0]]))
        first.bias.zero_()
        second.weight.copy_(torch.tensor([[1.0, -1.0], [0.0, 0.0]]))
        second.bias.copy_(torch.tensor([0.0, 0.5]))
    net = from_torch(nn.Sequential(first, nn.ReLU(), second).double().eval(), (1,))
    box = linf_ball(torch.tensor([0.75], dtype=DTYPE), 0.25)
    prop = argmax_property(1, 2)
    assert property_upper_bound(net, box, prop, interval_bounds(net, box), "interval") == pytest.approx(0.0, abs=1e-9)
    assert property_upper_bound(net, box, prop, crown_bounds(net, box)) == pytest.approx(-0.5, abs=1e-9)


def test_crown_tightens_the_study_network_and_leaves_fewer_unstable_units():
    model, net, box = _query("study-cnn", 5, "linf", 0.05)
    interval, crown = interval_bounds(net, box), crown_bounds(net, box)
    assert float((crown.upper[-1] - crown.lower[-1]).sum()) < float((interval.upper[-1] - interval.lower[-1]).sum())
    counts_i, counts_c = unstable_counts(net, interval), unstable_counts(net, crown)
    assert len(counts_c) == 3 and all(c <= i for c, i in zip(counts_c, counts_i)) and sum(counts_c) < sum(counts_i)


def test_start_bounds_are_never_loosened():
    _, net, box = _query("batch-norm-cnn", 7, "layered", 0.2)
    start = crown_bounds(net, box)
    again = crown_bounds(net, box, start)
    for i in range(len(start)):
        assert (again.lower[i] >= start.lower[i]).all() and (again.upper[i] <= start.upper[i]).all()
    # bounds of a larger set are sound for a smaller one
    bigger = linf_ball(box.center.reshape(box.shape), 0.3)
    smaller = linf_ball(box.center.reshape(box.shape), 0.1)
    refined = crown_bounds(net, smaller, crown_bounds(net, bigger))
    points = _points(smaller, 1)
    _assert_contains(refined, [points, *net.activations(points)], "crown from a larger set's start")


# -- the two back-substitution forms and chunking agree -----------------------------------------------


@pytest.mark.parametrize("name", ["study-cnn", "batch-norm-cnn"])
def test_patch_rows_equal_dense_rows_and_chunking_changes_nothing(name, monkeypatch):
    _, net, box = _query(name, 11, "linf", 0.05)
    patched = crown_bounds(net, box)
    monkeypatch.setattr(bounds_module, "MAX_ROWS", 3)
    chunked = crown_bounds(net, box)
    monkeypatch.setattr(bounds_module, "_patchable", lambda layer: False)
    dense = crown_bounds(net, box)
    for other in (chunked, dense):
        for i in range(len(patched)):
            assert torch.allclose(patched.lower[i], other.lower[i], rtol=0, atol=1e-9)
            assert torch.allclose(patched.upper[i], other.upper[i], rtol=0, atol=1e-9)


def test_real_size_study_network_layered_neighbourhood_is_sound():
    torch.manual_seed(0)
    model = build_model("multilabel-cnn", input_shape=(1, 28, 56), out_dim=10, mean=(0.13,), std=(0.31,)).eval()
    net = from_torch(model, (1, 28, 56))
    mask = torch.zeros(28, 56, dtype=torch.bool)
    mask[8:20, 30:43] = True
    box = layered_neighbourhood(torch.rand(1, 28, 56), mask, (0.1, 0.05, 0.02))
    crown = crown_bounds(net, box)
    points = box.sample(100, torch.Generator().manual_seed(0))
    _assert_contains(crown, [points, *net.activations(points)], "crown, 28×56")
    prop = top2_property(3, 10)
    assert property_upper_bound(net, box, prop, crown) >= float(prop.margin(net.forward(points)).max())


# -- the Bounds container and unstable counts --------------------------------------------------------


def test_tighten_intersects_and_keeps_the_hull_where_bounds_cross():
    a = Bounds([torch.tensor([0.0, 0.0, 0.0], dtype=DTYPE)], [torch.tensor([2.0, 1.0, 1.0], dtype=DTYPE)])
    b = Bounds([torch.tensor([1.0, -1.0, 2.0], dtype=DTYPE)], [torch.tensor([3.0, 0.5, 3.0], dtype=DTYPE)])
    both = a.tighten(b)
    assert both.lower[0].tolist() == [1.0, 0.0, 0.0] and both.upper[0].tolist() == [2.0, 0.5, 3.0]
    assert both.layer(0)[0] is both.lower[0] and both.outputs[1] is both.upper[-1]


def test_unstable_counts_count_straddling_relus_and_undecided_windows():
    _, net, box = _query("study-cnn", 2, "linf", 0.05)
    bounds = interval_bounds(net, box)
    lo, hi = bounds.layer(1)  # the first ReLU's input
    counts = unstable_counts(net, bounds)
    assert counts[0] == int(((lo < 0) & (hi > 0)).sum())
    pool = net.layers[4]
    lo, hi = bounds.layer(4)
    wl, wu = lo[pool.windows], hi[pool.windows]
    decided = [any(wl[o, j] >= torch.cat([wu[o, :j], wu[o, j + 1:]]).max() for j in range(wl.shape[1])) for o in range(len(wl))]
    assert counts[2] == len(decided) - sum(decided)
    assert unstable_counts(net, interval_bounds(net, _query("study-cnn", 2, "linf", 0.0)[2])) == [0, 0, 0]


# -- bad input ---------------------------------------------------------------------------------------


def test_bad_input_is_a_config_error_naming_what_is_wrong():
    _, net, box = _query("study-cnn", 1, "linf", 0.05)
    other = linf_ball(torch.rand(1, 4, 5), 0.1)
    prop = top2_property(0, 4)
    good = interval_bounds(net, box)
    with pytest.raises(ConfigError, match=re.escape("the input set has 20 values (shape (1, 4, 5)) but the network reads 120 inputs")):
        interval_bounds(net, other)
    with pytest.raises(ConfigError, match="the input set has 20 values"):
        crown_bounds(net, other)
    with pytest.raises(ConfigError, match="needs a verifier Network|need a verifier Network"):
        interval_bounds("net", box)
    with pytest.raises(ConfigError, match="the property reads 5 outputs but the network has 4"):
        property_upper_bound(net, box, top2_property(0, 5), good)
    with pytest.raises(ConfigError, match="bound method must be one of interval, crown, got 'lp'"):
        property_upper_bound(net, box, prop, good, "lp")
    with pytest.raises(ConfigError, match="bounds have 2 entries but the network has 6 layers"):
        property_upper_bound(net, box, prop, Bounds(good.lower[:2], good.upper[:2]))
    with pytest.raises(ConfigError, match="start bounds were computed for a smaller input set"):
        crown_bounds(net, linf_ball(box.center.reshape(box.shape), 0.1), good)
    with pytest.raises(ConfigError, match="start must be Bounds"):
        crown_bounds(net, box, start=[good.lower])
    with pytest.raises(ConfigError, match="flat vectors of one length"):
        Bounds([torch.zeros(3)], [torch.zeros(4)])
    with pytest.raises(ConfigError, match="cannot intersect bounds of different networks"):
        good.tighten(Bounds(good.lower[:2], good.upper[:2]))
    with pytest.raises(ConfigError, match="bounds of layer input 1 have 3 values"):
        unstable_counts(net, Bounds([good.lower[0], torch.zeros(3), *good.lower[2:]], [good.upper[0], torch.zeros(3), *good.upper[2:]]))
