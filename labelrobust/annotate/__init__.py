"""Collect human soft labels: a small local web app backed by SQLite (or PostgreSQL).

A participant sees one image at a time and rates, for every class, how much of it is in the
image on a 0..4 scale (the survey of Tyrväinen et al., docs/methods.md §1). ``store`` keeps
campaigns, participants and answers; ``app`` serves the page; ``export`` writes the ratings
as a soft-label file that ``labelrobust train --data-option soft_labels=FILE`` reads;
``survey_import`` loads the published soft CIFAR-10 survey; ``stats`` computes the rating
matrix and the agreement between participants. See docs/annotate.md.
"""

from labelrobust.annotate.store import (
    AnnotationRefused,
    assigned_image,
    image_keys,
    Campaign,
    CampaignImage,
    CampaignSpec,
    Participant,
    Progress,
    Task,
    create_campaign,
    find_campaign,
    join,
    list_campaigns,
    next_task,
    open_store,
    previous_task,
    progress,
    skip,
    submit,
)

__all__ = [
    "AnnotationRefused", "Campaign", "CampaignImage", "CampaignSpec", "Participant", "Progress", "Task", "assigned_image", "image_keys",
    "create_campaign", "find_campaign", "join", "list_campaigns", "next_task", "open_store", "previous_task",
    "progress", "skip", "submit",
]
