"""A folder of the user's own images as a `Dataset`."""

from pathlib import Path

import numpy as np

from keras_unsup.data.datasets import IMAGE_EXTENSIONS, Dataset


def _image_files(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def load_image_folder(folder, *, test_fraction=0.2, image_size=None, color_mode=None, seed=0):
    """Reads every image under `folder` into a `Dataset`.

    Images in sub-folders are labelled by sub-folder (sorted names map to 0, 1, ...);
    when any image sits directly in `folder`, the dataset is unlabelled.

    Raises:
        ValueError: the folder holds no images, or one of them cannot be read.
    """
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    files = _image_files(folder)
    if not files:
        raise ValueError(
            f"`name` must be a folder containing images with one of the extensions "
            f"{IMAGE_EXTENSIONS}. Received: name='{folder}', which holds none."
        )
    if color_mode not in (None, "grayscale", "rgb"):
        raise ValueError(f"`color_mode` must be None, 'grayscale' or 'rgb'. Received: color_mode={color_mode!r}")

    images = []
    for path in files:
        try:
            with Image.open(path) as img:
                img.load()
                if color_mode is None:
                    color_mode = "grayscale" if img.mode in ("L", "1", "I", "I;16", "F") else "rgb"
                img = img.convert("L" if color_mode == "grayscale" else "RGB")
                if image_size is None:
                    image_size = (img.height, img.width)
                if (img.height, img.width) != tuple(image_size):
                    img = img.resize((image_size[1], image_size[0]), Image.BILINEAR)
                images.append(np.asarray(img, dtype=np.uint8))
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(
                f"Every file in `name` must be a readable image. Received: '{path}', "
                f"which could not be read ({type(e).__name__}: {e})."
            ) from None
    x = np.stack(images).astype(np.float32) / 255.0
    if x.ndim == 3:
        x = x[..., None]

    class_dirs = sorted({p.parent.relative_to(folder).parts[0] for p in files if p.parent != folder})
    labelled = all(p.parent != folder for p in files)
    y = None
    class_names = None
    if labelled:
        index = {name: i for i, name in enumerate(class_dirs)}
        y = np.array([index[p.relative_to(folder).parts[0]] for p in files], dtype=np.int64)
        class_names = tuple(class_dirs)

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_test = int(round(len(x) * test_fraction)) if len(x) > 1 else 0
    n_test = min(max(n_test, 1 if len(x) > 1 else 0), len(x) - 1)
    test_idx, train_idx = np.sort(order[:n_test]), np.sort(order[n_test:])
    return Dataset(
        str(folder), x[train_idx], None if y is None else y[train_idx],
        x[test_idx], None if y is None else y[test_idx], class_names,
    )
