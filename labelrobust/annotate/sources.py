"""Where a campaign's images come from, and how they are shown.

A campaign shows the images of one split of a registry dataset (``--dataset cifar10 --split
train --indices 0:10000``) or of a folder of the user's own images with a list of class
names (``--folder DIR --classes a,b,c``). ``campaign_images`` lists them for a new campaign;
``CampaignImages`` renders one for the page: enlarged so its longest side is the campaign's
``display_size`` (bicubic), then blurred with a Gaussian of radius ``blur`` display pixels,
as the soft-label survey showed its 32×32 CIFAR-10 images enlarged and blurred.
"""

from __future__ import annotations

import io
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from labelrobust.annotate.store import Campaign, CampaignImage
from labelrobust.data import load_dataset
from labelrobust.data.base import Dataset, ImageSet
from labelrobust.errors import ConfigError, DataError

SPLITS = ("train", "test", "val")
RENDER_CACHE = 256  # rendered PNGs kept in memory (a back-and-forth costs no re-render)


def parse_index_ranges(text: str, n: int, what: str = "--indices") -> list[int]:
    """``"0:100,250,300:310"`` → positions (``a:b`` is a..b−1, as in Python), each in 0..n−1, no repeats."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{what} must be ranges like 0:100,250 (positions 0..{n - 1}), got {text!r}")
    out: list[int] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?::\s*(\d+)\s*)?", part)
        if match is None:
            raise ConfigError(f"{what}: {part.strip()!r} is not an index or a range START:END (e.g. 0:100)")
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo + 1
        if hi <= lo or hi > n:
            raise ConfigError(f"{what}: {part.strip()!r} is outside 0..{n} or empty (the split has {n} images)")
        out.extend(range(lo, hi))
    if len(set(out)) != len(out):
        raise ConfigError(f"{what}: {text!r} names some images more than once")
    return out


def dataset_split(dataset: Dataset, split: str) -> ImageSet:
    if split not in SPLITS or getattr(dataset, split) is None:
        have = [s for s in SPLITS if getattr(dataset, s) is not None]
        raise ConfigError(f"dataset {dataset.name} has no split {split!r}; choose one of {', '.join(have)}")
    images = getattr(dataset, split)
    if images.images.ndim != 4 or images.images.shape[1] not in (1, 3):
        raise ConfigError(f"dataset {dataset.name} holds no pictures (inputs of shape {tuple(images.images.shape[1:])}); it cannot be shown")
    return images


def dataset_campaign_images(dataset: Dataset, split: str, indices: str | None) -> list[CampaignImage]:
    """The images of ``split`` at ``indices`` (positions in the split; None: all), with their labels."""
    images = dataset_split(dataset, split)
    positions = range(len(images)) if indices is None else parse_index_ranges(indices, len(images))
    return [CampaignImage(int(images.source_index[i]), "", int(images.labels[i])) for i in positions]


def folder_campaign_images(folder: Path, class_names: tuple[str, ...]) -> list[CampaignImage]:
    """Every image of ``folder`` (``list_folder_images`` order), with the true class the
    ``image-folder`` dataset gives it (``folder_labels``: its class subfolder; unknown in a flat folder)."""
    from labelrobust.data.image_folder import folder_labels, list_folder_images

    files = list_folder_images(folder)
    labels = folder_labels(folder, files, list(class_names))
    return [CampaignImage(i, rel, None if y < 0 else int(y)) for i, (rel, y) in enumerate(zip(files, labels.tolist()))]


def to_pil(array: np.ndarray) -> Image.Image:
    """C×H×W uint8 (C = 1 or 3) or float in [0, 1] → an RGB PIL image."""
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    hwc = np.ascontiguousarray(np.transpose(array, (1, 2, 0)))
    if hwc.shape[2] == 1:
        hwc = np.repeat(hwc, 3, axis=2)
    return Image.fromarray(hwc, mode="RGB")


def render_png(picture: Image.Image, display_size: int, blur: float) -> bytes:
    """Enlarge (or shrink) so the longest side is ``display_size``, blur, encode as PNG."""
    w, h = picture.size
    scale = display_size / max(w, h)
    picture = picture.convert("RGB").resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)
    if blur > 0:
        picture = picture.filter(ImageFilter.GaussianBlur(radius=blur))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class CampaignImages:
    """The pictures of one campaign, rendered on demand (``png``) and cached."""

    campaign: Campaign
    dataset_images: ImageSet | None = None
    folder: Path | None = None
    keys: dict[int, str] | None = None

    def __post_init__(self) -> None:
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()  # the web app renders from several threads
        self._rows: dict[int, int] = {}
        if self.dataset_images is not None:
            self._rows = {int(s): i for i, s in enumerate(self.dataset_images.source_index.tolist())}

    @classmethod
    def open(cls, campaign: Campaign, data_root: str | Path | None = None, keys: dict[int, str] | None = None,
             loaded: Dataset | None = None) -> CampaignImages:
        """Load the campaign's source: its dataset split (``loaded``: that dataset, when the
        caller has it already), or its folder (``keys``: source index → relative path)."""
        if campaign.kind == "folder":
            folder = Path(campaign.folder)
            if not folder.is_dir():
                raise DataError(f"campaign {campaign.name!r} shows the images of {folder}, which is not a folder any more")
            return cls(campaign, folder=folder, keys=keys or {})
        same = loaded is not None and loaded.name == campaign.dataset
        dataset = loaded if same else load_dataset(campaign.dataset, root=data_root)
        if tuple(dataset.class_names) != tuple(campaign.class_names):
            raise DataError(f"dataset {campaign.dataset} now has classes {list(dataset.class_names)}, but campaign {campaign.name!r} was made with {list(campaign.class_names)}")
        return cls(campaign, dataset_images=dataset_split(dataset, campaign.split))

    def png(self, source_index: int) -> bytes:
        with self._lock:
            if source_index in self._cache:
                self._cache.move_to_end(source_index)
                return self._cache[source_index]
            data = render_png(self._picture(source_index), self.campaign.display_size, self.campaign.blur)
            self._cache[source_index] = data
            if len(self._cache) > RENDER_CACHE:
                self._cache.popitem(last=False)
            return data

    def _picture(self, source_index: int) -> Image.Image:
        if self.dataset_images is not None:
            row = self._rows.get(source_index)
            if row is None:
                raise DataError(f"image {source_index} is not in split {self.campaign.split} of {self.campaign.dataset}")
            return to_pil(self.dataset_images.images[row].numpy())
        rel = (self.keys or {}).get(source_index)
        if rel is None:
            raise DataError(f"campaign {self.campaign.name!r} has no image {source_index}")
        path = self.folder / rel
        try:
            with Image.open(path) as picture:
                return picture.convert("RGB")
        except (OSError, Image.DecompressionBombError) as err:
            raise DataError(f"cannot read image {path}: {err}") from None
