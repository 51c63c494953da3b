"""A new campaign from what the user names: a dataset split or a folder of images.

``prepare_campaign`` is what ``labelrobust annotate serve`` calls with its flags, so the
Python API and the command line check a campaign the same way.
"""

from __future__ import annotations

from pathlib import Path

from labelrobust.annotate.sources import dataset_campaign_images, folder_campaign_images
from labelrobust.annotate.store import CampaignImage, CampaignSpec
from labelrobust.data import Dataset, load_dataset
from labelrobust.data.soft_label_file import FOLDER_SPLIT
from labelrobust.errors import ConfigError

DEFAULTS = {"repeats": 1, "min_nonzero": 3, "max_rating": 4, "blur": 0.0, "display_size": 256}


def default_campaign_name(dataset: str | None, split: str, folder: str | Path | None) -> str:
    """``cifar10-train`` for a dataset split; the folder's name for a folder."""
    return f"{dataset}-{split}" if dataset is not None else Path(folder).resolve().name or "folder"


def prepare_campaign(
    name: str | None = None,
    *,
    dataset: str | None = None,
    split: str = "train",
    indices: str | None = None,
    folder: str | Path | None = None,
    classes: str | list[str] | None = None,
    data_root: str | Path | None = None,
    loaded: Dataset | None = None,
    **settings,
) -> tuple[CampaignSpec, list[CampaignImage]]:
    """The spec and images of a campaign over ``dataset``'s ``split`` (``indices``: ranges such
    as ``0:10000``; default all) or over the images of ``folder`` (``classes``: the class names,
    a comma-separated string, a list or a text file of one name per line; for a folder of
    class subfolders they default to the subfolders' names). ``settings``: ``repeats``,
    ``min_nonzero``, ``max_rating``, ``blur``, ``display_size`` (defaults in ``DEFAULTS``;
    ``min_nonzero`` is at most the number of classes). ``loaded``: ``dataset`` already loaded, so
    a caller that goes on to show its images (``annotate serve``) reads it once."""
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown campaign setting {', '.join(unknown)}; the settings are {', '.join(DEFAULTS)}")
    values = {**DEFAULTS, **{k: v for k, v in settings.items() if v is not None}}
    if (dataset is None) == (folder is None):
        raise ConfigError("a new campaign needs either --dataset NAME (with --split, --indices) or --folder DIR (with --classes), exactly one")
    name = name or default_campaign_name(dataset, split, folder)
    if dataset is not None:
        if classes is not None:
            raise ConfigError("--classes is for --folder campaigns; a dataset campaign uses the dataset's class names")
        if loaded is not None and loaded.name != dataset:
            raise ConfigError(f"prepare_campaign: the loaded dataset is {loaded.name!r}, not {dataset!r}")
        data = loaded if loaded is not None else load_dataset(dataset, root=data_root)
        images = dataset_campaign_images(data, split, indices)
        values = _fit_min_nonzero(values, settings, len(data.class_names))
        spec = CampaignSpec(name=name, kind="dataset", dataset=dataset, split=split, class_names=tuple(data.class_names), **values)
        return spec, images
    if indices is not None:
        raise ConfigError("--indices is for --dataset campaigns; a folder campaign shows every image of the folder")
    from labelrobust.data.image_folder import folder_class_names

    root = Path(folder).expanduser().resolve()
    names = folder_class_names(root, classes)
    values = _fit_min_nonzero(values, settings, len(names))
    spec = CampaignSpec(name=name, kind="folder", folder=str(root), split=FOLDER_SPLIT, class_names=tuple(names), **values)
    return spec, folder_campaign_images(root, spec.class_names)


def _fit_min_nonzero(values: dict, given: dict, num_classes: int) -> dict:
    # the default of 3 would be unreachable with two classes; a value the user gave is checked as given
    if given.get("min_nonzero") is None:
        return {**values, "min_nonzero": min(values["min_nonzero"], num_classes)}
    return values
