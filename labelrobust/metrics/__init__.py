"""Metrics: decisions (accuracy, abstain, confusion), multi-label set and target accuracy,
label-vector distances, clean evaluation."""

from labelrobust.metrics.classification import abstain_rate, accuracy, confusion_matrix, set_accuracy, target_accuracy
from labelrobust.metrics.clean import CleanReport, evaluate_clean, evaluate_run
from labelrobust.metrics.soft_labels import label_vector_distances

__all__ = ["CleanReport", "abstain_rate", "accuracy", "confusion_matrix", "evaluate_clean", "evaluate_run", "label_vector_distances", "set_accuracy", "target_accuracy"]
