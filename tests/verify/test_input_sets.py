"""Input sets: L∞ balls in the domain and the study's layered neighbourhoods (Chebyshev layers)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrobust.data.mnist import load_mnist
from labelrobust.domain import Box
from labelrobust.errors import ConfigError
from labelrobust.verify.input_sets import chebyshev_layers, layered_neighbourhood, linf_ball


def _brute_chebyshev(mask):
    points = mask.nonzero()
    h, w = mask.shape
    grid = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij"), -1).reshape(-1, 1, 2)
    return (grid - points[None]).abs().amax(-1).amin(-1).reshape(h, w)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 9), st.integers(2, 9), st.integers(0, 10_000))
def test_chebyshev_layers_equal_brute_force(h, w, seed):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand((h, w), generator=g) < 0.2
    mask[seed % h, seed % w] = True
    assert torch.equal(chebyshev_layers(mask), _brute_chebyshev(mask))


def test_layered_neighbourhood_on_a_real_digit(data_root):
    images = load_mnist(data_root, False).test.float_images(torch.arange(1))
    x = images[0]
    mask = x[0] > 0.5
    eps = (0.1, 0.05, 0.02)
    box = layered_neighbourhood(x, mask, eps)
    distance = chebyshev_layers(mask).flatten()
    radius = (box.upper - box.lower).flatten()
    for d, e in enumerate(eps):
        inside = (distance == d)
        expected = ((x.flatten().double() + e).clamp_max(1) - (x.flatten().double() - e).clamp_min(0))[inside]
        assert torch.allclose(radius[inside], expected)
    assert (radius[distance > 2] == 0).all(), "pixels beyond the last layer are fixed"
    assert box.description["layer_pixels"][0] == int(mask.sum())
    assert box.contains(box.sample(200)).all() and bool(box.contains(x[None]).all())
    assert (box.lower >= 0).all() and (box.upper <= 1).all()


def test_linf_ball_is_clipped_to_the_domain():
    x = torch.tensor([[0.0, 0.5, 1.0]])
    box = linf_ball(x, 0.2)
    assert box.lower.tolist() == [0.0, 0.3, 0.8] and box.upper.tolist() == pytest.approx([0.2, 0.7, 1.0])
    disk = linf_ball(torch.tensor([-1.5, 0.0]), 1.0, Box(-2, 2))
    assert disk.lower.tolist() == [-2.0, -1.0]


def test_vertices_of_a_small_box():
    box = linf_ball(torch.tensor([0.5, 0.5, 0.0]), 0.1)
    v = box.vertices()
    assert len(v) == 8 and box.contains(v).all()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: linf_ball(torch.tensor([1.2]), 0.1), "outside the input domain"),
        (lambda: linf_ball(torch.tensor([float("nan")]), 0.1), "NaN"),
        (lambda: linf_ball(torch.tensor([0.5]), -0.1), "eps must be"),
        (lambda: layered_neighbourhood(torch.rand(1, 4, 4), torch.zeros(4, 4, dtype=torch.bool), [0.1]), "object mask is empty"),
        (lambda: layered_neighbourhood(torch.rand(1, 4, 4), torch.ones(4, 4, dtype=torch.bool), [0.1, 0.1]), "eps has 2 layers but the image has only 1"),
        (lambda: layered_neighbourhood(torch.rand(1, 4, 4), torch.ones(4, 4, dtype=torch.bool), [-0.1]), "eps of layer 0 must be"),
        (lambda: layered_neighbourhood(torch.rand(1, 4, 4), torch.ones(4, 4, dtype=torch.bool), []), "at least one radius"),
        (lambda: layered_neighbourhood(torch.rand(1, 4, 4), torch.ones(3, 4, dtype=torch.bool), [0.1]), "object mask has shape"),
        (lambda: layered_neighbourhood(torch.rand(16), torch.ones(4, 4, dtype=torch.bool), [0.1]), "needs an image"),
        (lambda: layered_neighbourhood(torch.rand(1, 4, 4), torch.ones(4, 4, dtype=torch.bool), "0.1"), "list of per-layer radii"),
    ],
)
def test_bad_input_sets_are_one_line_errors(call, message):
    with pytest.raises(ConfigError, match=message):
        call()
