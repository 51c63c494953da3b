"""Training: the loop, its checkpoints and its learning-rate schedules."""

from labelrobust.training.loop import TrainingDiverged, train

__all__ = ["TrainingDiverged", "train"]
