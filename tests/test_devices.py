"""Device names: one-line errors for unknown devices and for devices this machine lacks."""

from __future__ import annotations

import pytest
import torch

from labelrobust.devices import check_device_name, resolve_device
from labelrobust.errors import ConfigError


def test_cpu_and_cuda_names_are_valid():
    for name in ("cpu", "cuda", "cuda:1", "mps"):
        assert check_device_name(name) == name
    assert resolve_device("cpu") == "cpu"


@pytest.mark.parametrize("name, message", [("tpu", "unknown device 'tpu'"), ("xla", "not supported"), ("", "must be one of cpu"), (3, "must be one of cpu")])
def test_unknown_devices_are_refused(name, message):
    with pytest.raises(ConfigError, match=message):
        check_device_name(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(ConfigError, match="CUDA is not available on this machine.*use --device cpu"):
        resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_missing_cuda_index_names_the_ones_there():
    with pytest.raises(ConfigError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")
