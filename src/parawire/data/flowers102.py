"""``flowers102``: Oxford Flowers-102 (Nilsback & Zisserman 2008) from torchvision's local layout.

``root`` is the folder torchvision's ``Flowers102`` uses (it holds ``flowers-102/``), or that
``flowers-102`` folder itself: ``jpg/image_00001.jpg ...``, ``imagelabels.mat`` and
``setid.mat``. Training uses the official train and validation sets (2 x 1,020 images), testing
the official test set (6,149). Images are resized (shorter side) and centre-cropped to
``image_size`` (224 by default, the EDGE'23 setting), decoded once and cached. No downloads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from parawire.data._base import ImageDataset, ImageSplits
from parawire.data._cache import cached_arrays, short_key
from parawire.data._images import decode_all
from parawire.data._registry import register_dataset
from parawire.errors import DataError


@register_dataset("flowers102")
class Flowers102(ImageDataset):
    """Flower-102 as 3 x image_size x image_size uint8 images, 102 classes."""

    layouts = (
        "torchvision's Flowers102 root: ROOT/flowers-102/ (or that folder itself) holding "
        "jpg/image_NNNNN.jpg, imagelabels.mat and setid.mat"
    )

    def __init__(self, *, root=None, cache=None, image_size: int = 224) -> None:
        super().__init__(root=root, cache=cache)
        self.image_size = image_size  # side of the cached (resized, centre-cropped) images

    def base_folder(self) -> Path:
        """The ``flowers-102`` folder, or a ``DataError`` naming the accepted layout."""
        if self.root is None:
            raise self.missing("no data path given (use --data PATH)")
        for base in (self.root / "flowers-102", self.root):
            if (base / "jpg").is_dir() and (base / "setid.mat").is_file():
                if not (base / "imagelabels.mat").is_file():
                    raise self.missing(f"{base} has no imagelabels.mat")
                return base
        raise self.missing(f"{self.root} matches none of them")

    def load(self) -> ImageSplits:
        base = self.base_folder()
        key = short_key(base.resolve(), self.image_size, len(list((base / "jpg").iterdir())))
        arrays = cached_arrays(self.cache / f"flowers102-{key}", lambda: self._decode(base))
        t = {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}
        classes = tuple(f"flower{i:03d}" for i in range(102))
        splits = ImageSplits(
            self.name, t["train_x"], t["train_y"], t["test_x"], t["test_y"], classes
        )
        return splits.check()

    def _decode(self, base: Path) -> dict[str, np.ndarray]:
        from scipy.io import loadmat

        try:
            labels = loadmat(base / "imagelabels.mat", squeeze_me=True)["labels"]
            ids = loadmat(base / "setid.mat", squeeze_me=True)
            train_ids = np.concatenate([np.atleast_1d(ids["trnid"]), np.atleast_1d(ids["valid"])])
            test_ids = np.atleast_1d(ids["tstid"])
        except (OSError, KeyError, ValueError) as exc:
            raise self.missing(f"{base}: cannot read the .mat files ({exc})") from exc
        out: dict[str, np.ndarray] = {}
        for split, image_ids in (("train", train_ids), ("test", test_ids)):
            files = [base / "jpg" / f"image_{int(i):05d}.jpg" for i in image_ids]
            missing = [f for f in files if not f.is_file()]
            if missing:
                raise DataError(f"flowers102: {len(missing)} images missing, e.g. {missing[0]}")
            out[f"{split}_x"] = decode_all([f.read_bytes() for f in files], self.image_size)
            out[f"{split}_y"] = np.asarray(labels, dtype=np.int64)[image_ids.astype(int) - 1] - 1
        return out
