"""Analyses of trained runs under a label metric (Terzi, Susto, Chaudhari, "Directional
adversarial training for cost sensitive deep learning classification applications";
methods.md §4), each a function that returns a small result and a ``write_*`` that puts its
tables (CSV, markdown, JSON) and figure (PNG) into an output folder (``docs/analysis.md``):

- ``accuracy_gap`` / ``write_gap_report``: ``G = |C_A − C_B|`` of two runs' row-normalised
  clean confusion matrices, correlated with the metric over the pairs i ≠ j;
- ``weighted_scores`` / ``write_score_report``: ``S = Σ_ij c_ij m_ij`` under PGD on
  the Wasserstein loss and plain PGD, and relative to a reference run;
- ``entropy_histograms`` / ``write_entropy_report``: prediction entropy per true class;
- ``feature_embedding`` / ``write_embedding_report``: t-SNE of the penultimate features.
"""

from labelrobust.analysis.accuracy_gap import Correlation, GapResult, accuracy_gap, gap_from_confusions, gap_matrix, write_gap_report
from labelrobust.analysis.confusion import AnalysedRun, load_runs, row_normalised
from labelrobust.analysis.embedding import EmbeddingResult, feature_embedding, penultimate_features, write_embedding_report
from labelrobust.analysis.entropy import EntropyResult, entropy_histograms, prediction_entropy, write_entropy_report
from labelrobust.analysis.weighted_score import ScoreResult, ScoreRow, weighted_score, weighted_scores, write_score_report

__all__ = [
    "AnalysedRun", "Correlation", "EmbeddingResult", "EntropyResult", "GapResult", "ScoreResult", "ScoreRow", "accuracy_gap",
    "entropy_histograms", "feature_embedding", "gap_from_confusions", "gap_matrix", "load_runs", "penultimate_features",
    "prediction_entropy", "row_normalised", "weighted_score", "weighted_scores", "write_embedding_report", "write_entropy_report",
    "write_gap_report", "write_score_report",
]
