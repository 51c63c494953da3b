"""labelrobust: the label side of adversarial robustness.

The few things a user starts from; everything else is reachable through the subpackages
(``labelrobust.labels``, ``.data``, ``.models``, ``.attacks``, ``.training``, ``.evaluation``,
``.metrics``) and their registries.
"""

from labelrobust.config import TrainConfig, load_config
from labelrobust.data import load_dataset
from labelrobust.evaluation import robust_evaluate_run
from labelrobust.labels import LabelSpace, make_label_space
from labelrobust.metrics import evaluate_run
from labelrobust.models import build_model
from labelrobust.runs import load_run
from labelrobust.training import train

__version__ = "0.1.0"

__all__ = [
    "LabelSpace",
    "TrainConfig",
    "build_model",
    "evaluate_run",
    "load_config",
    "load_dataset",
    "load_run",
    "make_label_space",
    "robust_evaluate_run",
    "train",
]
