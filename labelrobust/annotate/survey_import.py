"""Load the published soft CIFAR-10 survey into an annotation store.

``labelrobust annotate import --db labels.sqlite --data-root ../shared/datasets`` makes a
campaign of all 10,000 images of CIFAR-10 ``data_batch_1`` (dataset ``cifar10``, split
``train``; true class = CIFAR-10's label) and records the survey's answers as participant
``survey`` (the published file does not say which participant rated which image). The file is
read with the same restricted unpickler and row checks as the ``softcifar10`` dataset
(``labelrobust.data.softcifar10``), and aligned with the images the same way: rows whose hard
label differs from CIFAR-10's (rows 102–198 of the published file are shifted by one image)
are not imported (``on_mismatch``, default ``drop-span``). Their images stay in the campaign
without an answer, so a lab can rate them again with ``annotate serve``. All-zero answers are
imported as they are (they are answers; the export gives them no soft label).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from sqlalchemy.engine import Engine

from labelrobust.annotate.store import Campaign, CampaignImage, CampaignSpec, add_answers, create_campaign
from labelrobust.data.catalog import resolve_data_root
from labelrobust.data.softcifar10 import aligned_rows, read_survey_with_images

CAMPAIGN_NAME = "softcifar10-survey"
PARTICIPANT = "survey"


@dataclass(frozen=True)
class ImportSummary:
    campaign: Campaign
    rows: int
    imported: int
    not_aligned: int
    all_zero: int


def import_survey(engine: Engine, data_root: str | Path | None = None, *, on_mismatch: str = "drop-span",
                  campaign_name: str = CAMPAIGN_NAME, participant: str = PARTICIPANT) -> ImportSummary:
    """Import the survey as campaign ``campaign_name``; importing it twice is refused (nothing changes)."""
    survey_path, batch_path, survey, _, labels, names = read_survey_with_images(resolve_data_root(data_root))
    keep = aligned_rows(survey, labels, on_mismatch, str(survey_path), str(batch_path))
    spec = CampaignSpec(name=campaign_name, kind="dataset", dataset="cifar10", split="train", class_names=tuple(names))
    campaign = create_campaign(engine, spec, [CampaignImage(i, "", int(y)) for i, y in enumerate(labels.tolist())])
    rows = torch.nonzero(keep).flatten().tolist()
    answers = [(i, survey.ratings[i].tolist()) for i in rows]
    add_answers(engine, campaign, participant, answers, submission_prefix="import-softcifar10")
    return ImportSummary(
        campaign=campaign, rows=len(survey), imported=len(answers), not_aligned=int((~keep).sum()),
        all_zero=int((survey.ratings[keep].sum(dim=1) == 0).sum()),
    )

