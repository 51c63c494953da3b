"""Training: the loop, its checkpoints and its learning-rate schedules."""

from labelrobust.training.loop import TrainingDiverged, train
from labelrobust.training.stopping import TrainingStopped

__all__ = ["TrainingDiverged", "TrainingStopped", "train"]
