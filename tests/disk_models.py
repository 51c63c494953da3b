"""A small tanh MLP fit on disk2d points with full-batch Adam, for the tests that attack inside
the disk's box (attacks and evaluation alike)."""

from __future__ import annotations

import torch
from torch import nn

from labelrobust.data import ImageSet
from labelrobust.labels import LabelSpace


def fit_disk_mlp(train: ImageSet, space: LabelSpace, *, hidden_layers: int, lr: float, steps: int, width: int = 32) -> nn.Module:
    """An MLP 2 → width (→ width …, ``hidden_layers`` tanh layers) → out_dim, seeded with 0 and
    trained for ``steps`` full-batch Adam steps on the space's own loss; returned in eval mode."""
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(2, width), nn.Tanh()]
    for _ in range(hidden_layers - 1):
        layers += [nn.Linear(width, width), nn.Tanh()]
    model = nn.Sequential(*layers, nn.Linear(width, space.out_dim))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = train.float_images(), train.labels
    for _ in range(steps):
        opt.zero_grad()
        space.loss(model(x), space.encode(y)).mean().backward()
        opt.step()
    return model.eval()
