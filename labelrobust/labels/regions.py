"""Code-based label spaces: each class owns a closed region of output space.

The task-aware study (Han et al., methods.md §2) decodes an output to the class whose code or
interval it falls into and to *None* when it falls into none. We make that decision rule
attackable by giving every class a score:

    score_k(o) = − dist₁(o, R_k),

the negative L1 distance from the output ``o`` to class ``k``'s box-shaped region ``R_k`` (the
sum of how far each coordinate lies outside the box). The score is 0 exactly inside ``R_k``
and negative outside, so

    decode(o) = argmax_k score_k(o)   if max_k score_k(o) = 0,   else ABSTAIN.

By construction the arg-max of the scores equals ``decode`` wherever ``decode`` does not
abstain, and the scores give margin/CW/DLR attacks a gradient toward the nearest wrong region
(the adaptive attack that broke ECOC defences, Tramèr et al. 2020). On the shared boundary of
two closed regions the lower class index wins, a measure-zero tie. L1 rather than squared
distance because a sum of non-negative violations is never rounded to 0 while one of them is
positive, whereas the square of a violation below ~1e-23 underflows in float32: with squares,
an output a hair outside its interval would decode as inside, contradicting the study's rule.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import Tensor

from labelrobust.labels.base import ABSTAIN, LabelSpace


class RegionLabelSpace(LabelSpace):
    """Base of ``binary``/``deepbe`` and ``interval``: scores are −(L1 distance to each region)."""

    can_abstain = True

    @abstractmethod
    def region_distance(self, outputs: Tensor) -> Tensor:
        """N×K L1 distance from each output to each class's closed region (exactly 0 inside)."""

    def scores(self, outputs: Tensor) -> Tensor:
        self.check_outputs(outputs)
        return -self.region_distance(outputs)

    def decode(self, outputs: Tensor) -> Tensor:
        best, cls = self.scores(outputs).max(dim=1)
        return torch.where(best >= 0, cls, torch.full_like(cls, ABSTAIN))
