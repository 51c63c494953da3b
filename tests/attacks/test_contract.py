"""The contract every registered attack meets on every device under test (cpu, and cuda when
present): results on the inputs' device, inside the ball and [0, 1], predictions that are the
model's at the returned points, success judged by decode, a cost counted, the model left untouched.

Tiny untrained models and a few real digits keep this fast; how *strong* the attacks are is
tested on trained models in the other files of this folder.
"""

from __future__ import annotations

import pytest
import torch

from labelrobust.attacks import available_attacks, make_attack
from labelrobust.data import load_dataset
from labelrobust.errors import ConfigError
from labelrobust.labels import make_label_space
from labelrobust.models import build_model

pytest.importorskip("pyautoattack")

EPS = 0.2
SPACES = {"onehot": {}, "binary": {}, "interval": {"alpha": 1.0, "beta": 3.0}}
PARAMS = {
    "fgsm": {},
    "fgsm-rs": {},
    "pgd": {"steps": 3, "restarts": 2, "momentum": 0.5},
    "cw": {"steps": 3},
    "apgd-ce": {"n_iter": 3},
    "apgd-dlr": {"n_iter": 3},
    "square": {"n_queries": 5},
    "autoattack": {"version": "custom", "attacks": ["apgd-ce", "square"], "n_iter": 2, "n_queries": 5},
    "transfer": {"attack_params": {"steps": 2}},
}


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits", test_size=24, seed=0)
    return data, data.test.float_images(), data.test.labels


def tiny_model(data, space, device, seed=0):
    torch.manual_seed(seed)
    model = build_model("mnist-cnn", input_shape=data.input_shape, out_dim=space.out_dim, mean=data.mean, std=data.std, width=4)
    return model.to(device).eval()


def test_every_attack_is_covered():
    assert set(PARAMS) == set(available_attacks())


@pytest.mark.parametrize("space_name", sorted(SPACES))
@pytest.mark.parametrize("attack_name", sorted(PARAMS))
def test_attack_contract_on_device(digits, device, attack_name, space_name):
    data, x, y = digits
    space = make_label_space(space_name, 10, **SPACES[space_name])
    model = tiny_model(data, space, device)
    x, y = x.to(device), y.to(device)
    params = dict(PARAMS[attack_name])
    if attack_name == "transfer":
        source_space = make_label_space("onehot", 10)
        params.update(source_model=tiny_model(data, source_space, device, seed=1), source_space=source_space)
    result = make_attack(attack_name, norm="linf", eps=EPS, **params)(model, space, x, y)

    assert result.x_adv.shape == x.shape
    assert result.x_adv.device == x.device and result.pred.device == x.device and result.success.device == x.device
    assert (result.x_adv - x).abs().max() <= EPS + 1e-6 and result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    with torch.no_grad():
        assert torch.equal(result.pred, space.decode(model(result.x_adv)))
    assert torch.equal(result.success, result.pred != y)
    # the victim's gradients: none for the black-box and the transfer attack (the source's are counted apart)
    assert result.cost.forwards >= len(x) and (result.cost.gradients == 0) == (attack_name in ("square", "transfer"))
    assert not model.training and all(p.grad is None for p in model.parameters()) and all(p.requires_grad for p in model.parameters())


def test_transfer_crafts_on_the_source_models_device(digits, device):
    """A CPU surrogate attacking a victim on ``device``: the points come back on the victim's device."""
    data, x, y = digits
    space = make_label_space("onehot", 10)
    victim, source = tiny_model(data, space, device), tiny_model(data, space, "cpu", seed=1)
    attack = make_attack("transfer", norm="linf", eps=EPS, source_model=source, source_space=space, attack_params={"steps": 2})
    result = attack(victim, space, x.to(device), y.to(device))
    assert result.x_adv.device == torch.device(device) and (result.x_adv.cpu() - x).abs().max() <= EPS + 1e-6


def test_inputs_on_another_device_than_the_model(digits):
    data, x, y = digits
    space = make_label_space("onehot", 10)
    model = tiny_model(data, space, "cpu").to("meta")  # a second device that every machine has
    with pytest.raises(ConfigError, match=r"the model is on meta but the inputs are on cpu; move them with x\.to\('meta'\)"):
        make_attack("pgd", norm="linf", eps=EPS)(model, space, x, y)
