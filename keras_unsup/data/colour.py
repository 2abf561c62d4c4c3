"""Colour for the colour pretext tasks: Lab in the graph, quantised ab, rebalancing, data.

Colorization (Zhang, Isola and Efros, 2016, "Colorful Image Colorization") and the
split-brain autoencoder (Zhang, Isola and Efros, 2017, "Split-Brain Autoencoders:
Unsupervised Learning by Cross-Channel Prediction") work in CIE Lab space: the
lightness `L` (0..100) is what a grey image shows, the two colour channels `ab`
(about -110..110) what it lacks. Here:

- `rgb_to_lab` / `lab_to_rgb`: sRGB (D65 white) <-> Lab with `keras.ops`, so they run
  inside a `train_step` on any backend;
- `ab_bin_centres`: the ab plane cut into `grid_size` x `grid_size` squares, keeping
  the squares sRGB colours reach (264 at Zhang's grid of 10);
- `soft_encode_ab`: Zhang's soft targets, the 5 nearest bins Gaussian-weighted;
- `ab_bin_index`, `ab_histogram`, `rebalancing_weights`: the class-rebalancing
  weights of Zhang et al. from the training data's ab distribution;
- `annealed_mean`: their decoding of a predicted distribution back into ab;
- `load_colour_patches`: colour patches with labels cut from the two colour photos
  scikit-learn ships (`load_sample_images`, offline), and `load_colour_benchmark_data`:
  CIFAR-10 when a local copy is present (through `load_dataset`), else those patches.
"""

import numpy as np

from keras_unsup.checks import check_image_array, check_int, check_number, check_positive_int

# sRGB (linear) -> CIE XYZ, and the D65 reference white (as scikit-image uses them).
_RGB_TO_XYZ = np.array([[0.412453, 0.357580, 0.180423],
                        [0.212671, 0.715160, 0.072169],
                        [0.019334, 0.119193, 0.950227]], np.float32)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ.astype(np.float64)).astype(np.float32)
_WHITE = np.array([0.95047, 1.0, 1.08883], np.float32)
_EPSILON = 0.008856  # (6/29)^3: where the cube root of Lab gives way to a line
AB_RANGE = 110.0  # |a|, |b| of sRGB colours stay below this


def rgb_to_lab(rgb):
    """CIE Lab of sRGB images, in the graph.

    Args:
        rgb: `(..., 3)` sRGB values in [0, 1] (a tensor or an array).

    Returns:
        `(..., 3)` float32: L in [0, 100], a and b roughly in [-110, 110].

    Example:

    >>> lab = rgb_to_lab(np.ones((1, 1, 3)))  # white: L = 100, a = b = 0
    """
    from keras import ops

    rgb = ops.clip(ops.cast(rgb, "float32"), 0.0, 1.0)
    linear = ops.where(rgb <= 0.04045, rgb / 12.92, ops.power((rgb + 0.055) / 1.055, 2.4))
    xyz = ops.matmul(linear, ops.convert_to_tensor(_RGB_TO_XYZ.T)) / _WHITE
    f = ops.where(xyz > _EPSILON, ops.power(ops.maximum(xyz, _EPSILON), 1.0 / 3.0),
                  7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return ops.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab):
    """sRGB in [0, 1] of CIE Lab values (the inverse of `rgb_to_lab`), in the graph.

    Colours outside the sRGB gamut are clipped to it.

    Args:
        lab: `(..., 3)` Lab values.

    Returns:
        `(..., 3)` float32 sRGB in [0, 1].
    """
    from keras import ops

    lab = ops.cast(lab, "float32")
    fy = (lab[..., 0] + 16.0) / 116.0
    f = ops.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = ops.where(f ** 3 > _EPSILON, f ** 3, (f - 16.0 / 116.0) / 7.787) * _WHITE
    linear = ops.matmul(xyz, ops.convert_to_tensor(_XYZ_TO_RGB.T))
    linear = ops.maximum(linear, 0.0)
    rgb = ops.where(linear <= 0.0031308, 12.92 * linear,
                    1.055 * ops.power(ops.maximum(linear, 1e-12), 1.0 / 2.4) - 0.055)
    return ops.clip(rgb, 0.0, 1.0)


def ab_bin_centres(grid_size=10):
    """Centres `(Q, 2)` of the ab bins sRGB colours fall into (Zhang et al., 2016).

    The ab plane `[-110, 110)^2` is cut into squares of side `grid_size`; a square is
    kept when some sRGB colour (of a 65^3 sampling of the RGB cube) falls into it:
    264 bins at Zhang et al.'s grid of 10 (their gamut estimate kept 313).

    Args:
        grid_size: side of a bin in ab units, an integer in [1, 110].

    Returns:
        float32 `(Q, 2)` bin centres (a, b), sorted by a then b.
    """
    grid_size = check_int(grid_size, "grid_size", 1, int(AB_RANGE))
    levels = np.linspace(0.0, 1.0, 65, dtype=np.float32)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    ab = np.asarray(rgb_to_lab(cube))[:, 1:]
    cells = _cells(ab, grid_size)
    per_side = _per_side(grid_size)
    used = np.unique(cells[:, 0] * per_side + cells[:, 1])
    rows, cols = used // per_side, used % per_side
    centres = -AB_RANGE + grid_size * (np.stack([rows, cols], axis=1) + 0.5)
    return centres.astype(np.float32)


def _per_side(grid_size):
    return int(np.ceil(2 * AB_RANGE / grid_size))


def _cells(ab, grid_size):
    cells = np.floor((np.asarray(ab, np.float64) + AB_RANGE) / grid_size).astype(np.int64)
    return np.clip(cells, 0, _per_side(grid_size) - 1)


def _squared_distances(ab, centres):
    """`(..., Q)` squared distances of ab values `(..., 2)` to the bin centres."""
    from keras import ops

    ab = ops.cast(ab, "float32")
    centres = ops.convert_to_tensor(np.asarray(centres, np.float32))
    return (ops.sum(ab ** 2, axis=-1, keepdims=True) - 2.0 * ops.matmul(ab, ops.transpose(centres))
            + ops.sum(centres ** 2, axis=-1))


def soft_encode_ab(ab, centres, neighbours=5, sigma=5.0):
    """Zhang et al.'s soft targets: each ab value spread over its nearest bins.

    The `neighbours` nearest bin centres get weights `exp(-d^2 / (2 sigma^2))`,
    normalised to sum to 1; every other bin gets 0.

    Args:
        ab: `(..., 2)` ab values.
        centres: `(Q, 2)` bin centres (`ab_bin_centres`).
        neighbours: bins sharing each value, in [1, Q].
        sigma: width of the Gaussian, in ab units, > 0.

    Returns:
        `(..., Q)` float32 distributions.
    """
    from keras import ops

    n_bins = len(centres)
    neighbours = check_int(neighbours, "neighbours", 1, n_bins)
    sigma = check_number(sigma, "sigma", 0, low_open=True)
    distances = _squared_distances(ab, centres)
    nearest, index = ops.top_k(-distances, neighbours)  # -d^2 of the nearest bins
    weights = ops.softmax(nearest / (2.0 * sigma ** 2), axis=-1)
    return ops.sum(ops.one_hot(index, n_bins) * weights[..., None], axis=-2)


def ab_bin_index(ab, centres):
    """Index of the nearest bin centre of each ab value, `(...,)` int32."""
    from keras import ops

    return ops.cast(ops.argmin(_squared_distances(ab, centres), axis=-1), "int32")


def ab_histogram(images, centres, batch_size=512):
    """Share of the pixels of sRGB `images` `(n, h, w, 3)` in each ab bin, `(Q,)`."""
    images = check_image_array(images, "images", (None, None, 3))
    counts = np.zeros(len(centres), np.float64)
    for start in range(0, len(images), batch_size):
        ab = np.asarray(rgb_to_lab(images[start:start + batch_size]))[..., 1:]
        index = np.asarray(ab_bin_index(ab.reshape(-1, 2), centres))
        counts += np.bincount(index, minlength=len(centres))
    return (counts / counts.sum()).astype(np.float32)


def rebalancing_weights(distribution, centres, rebalancing=0.5, sigma=5.0):
    """Class-rebalancing weights of the ab bins (Zhang et al., 2016, eq. 3-4).

    `w ~ ((1 - lambda) p~ + lambda / Q)^-1`, normalised so that `sum_q p~_q w_q = 1`,
    where `p~` is the empirical ab distribution smoothed by a Gaussian of width
    `sigma`. Rare (saturated) colours weigh more, so the loss does not settle on the
    greyish colours that dominate natural images.

    Args:
        distribution: `(Q,)` share of the training pixels in each bin (`ab_histogram`).
        centres: `(Q, 2)` bin centres.
        rebalancing: `lambda` in [0, 1]: 1 weighs every bin as if they were equally
            frequent (full rebalancing), 0 leaves the loss unweighted. Zhang: 0.5.
        sigma: smoothing width in ab units, > 0.

    Returns:
        float32 `(Q,)` weights.
    """
    rebalancing = check_number(rebalancing, "rebalancing", 0.0, 1.0)
    sigma = check_number(sigma, "sigma", 0, low_open=True)
    p = np.asarray(distribution, np.float64).reshape(-1)
    if p.shape != (len(centres),) or not np.all(np.isfinite(p)) or p.min() < 0 or p.sum() <= 0:
        raise ValueError(f"`distribution` must hold {len(centres)} non-negative shares, one per "
                         f"bin. Received: distribution of shape {p.shape}")
    p = p / p.sum()
    c = np.asarray(centres, np.float64)
    kernel = np.exp(-((c[:, None, :] - c[None, :, :]) ** 2).sum(-1) / (2 * sigma ** 2))
    smoothed = (kernel / kernel.sum(axis=0, keepdims=True)) @ p
    weights = 1.0 / ((1.0 - rebalancing) * smoothed + rebalancing / len(p))
    return (weights / (smoothed * weights).sum()).astype(np.float32)


def annealed_mean(probabilities, centres, temperature=0.38):
    """ab of predicted bin distributions `(..., Q)`: Zhang et al.'s annealed mean.

    The distribution is sharpened, `p^(1/T)` renormalised, and its mean taken: `T = 1`
    gives the mean (desaturated), `T -> 0` the mode (patchy); 0.38 is theirs.
    """
    from keras import ops

    temperature = check_number(temperature, "temperature", 0, 1, low_open=True)
    logits = ops.log(ops.maximum(ops.cast(probabilities, "float32"), 1e-12)) / temperature
    sharpened = ops.softmax(logits, axis=-1)
    return ops.matmul(sharpened, ops.convert_to_tensor(np.asarray(centres, np.float32)))


# --- colour data -------------------------------------------------------------------


def _sample_photos():
    """The colour photos scikit-learn ships, as float32 RGB in [0, 1], with their names."""
    from pathlib import Path

    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    names = tuple(Path(f).stem for f in bunch.filenames)
    return [np.asarray(im, np.float32) / 255.0 for im in bunch.images], names


def load_colour_patches(patch_size=32, n_train=4000, n_test=1000, *, regions=2, seed=0):
    """Labelled colour patches cut from scikit-learn's sample photos (offline).

    `sklearn.datasets.load_sample_images()` holds two 427 x 640 colour photos (a
    temple in China, a flower). Each photo is cut into `regions` x `regions` regions;
    a patch's label is its photo and region (`2 * regions^2` classes: sky, roof,
    petals, leaves, ... look different). Train patches come from the upper three
    quarters of each region, test patches from its lower quarter, so no test pixel
    was seen in training.

    Args:
        patch_size: side of the square patches, in pixels (at least 8; it must fit
            the lower quarter of a region).
        n_train: train patches, drawn evenly over the classes.
        n_test: test patches, drawn evenly over the classes.
        regions: regions per side of each photo (>= 1).
        seed: seed of the patch positions.

    Returns:
        A `Dataset` named `"sample_images"`: float32 `(n, patch_size, patch_size, 3)`
        images in [0, 1], int64 labels, class names such as `"china/0,1"`.

    Example:

    >>> data = load_colour_patches(32, 400, 100)
    >>> data.image_shape, data.n_classes
    ((32, 32, 3), 8)
    """
    from keras_unsup.data.datasets import Dataset

    patch_size = check_int(patch_size, "patch_size", 8)
    n_train = check_positive_int(n_train, "n_train")
    n_test = check_positive_int(n_test, "n_test")
    regions = check_positive_int(regions, "regions")
    photos, names = _sample_photos()
    boxes, class_names = [], []
    for photo, name in zip(photos, names):
        height, width = photo.shape[0] // regions, photo.shape[1] // regions
        test_rows = height // 4
        if min(test_rows, width) < patch_size:
            raise ValueError(
                f"`patch_size` must fit the lower quarter of a region ({test_rows} x {width} "
                f"pixels with regions={regions}). Received: patch_size={patch_size}")
        for r in range(regions):
            for c in range(regions):
                boxes.append((photo, r * height, c * width, height, width, test_rows))
                class_names.append(f"{name}/{r},{c}")
    rng = np.random.default_rng(seed)

    def cut(n, test):
        per_class = np.full(len(boxes), n // len(boxes))
        per_class[: n % len(boxes)] += 1
        images, labels = [], []
        for label, ((photo, top, left, height, width, test_rows), k) in enumerate(
                zip(boxes, per_class)):
            low, high = (top + height - test_rows, top + height) if test else \
                (top, top + height - test_rows)
            ys = rng.integers(low, high - patch_size + 1, size=k)
            xs = rng.integers(left, left + width - patch_size + 1, size=k)
            images += [photo[y:y + patch_size, x:x + patch_size] for y, x in zip(ys, xs)]
            labels += [label] * int(k)
        order = rng.permutation(len(images))
        return np.stack(images)[order], np.asarray(labels, np.int64)[order]

    x_train, y_train = cut(n_train, test=False)
    x_test, y_test = cut(n_test, test=True)
    return Dataset("sample_images", x_train, y_train, x_test, y_test, tuple(class_names))


def load_colour_benchmark_data(n_train=None, n_test=None, *, patch_size=32, seed=0):
    """The labelled colour data the colour methods are benchmarked on, offline.

    CIFAR-10 when a local copy is found (`load_dataset("cifar10", download=False)`),
    otherwise `load_colour_patches`. Nothing is downloaded.

    Args:
        n_train, n_test: images kept (a seeded subset of CIFAR-10; the patches' counts,
            default 4000 and 1000).
        patch_size: side of the patches when they are used.
        seed: seed of the subset or of the patches.

    Returns:
        A `Dataset` of colour images with labels (`name` says which it is).
    """
    from keras_unsup.data.datasets import DatasetNotFoundError, load_dataset

    try:
        data = load_dataset("cifar10", download=False)
    except DatasetNotFoundError:
        return load_colour_patches(patch_size, n_train or 4000, n_test or 1000, seed=seed)
    return data.subset(n_train, n_test, seed=seed)


__all__ = ["AB_RANGE", "ab_bin_centres", "ab_bin_index", "ab_histogram", "annealed_mean",
           "lab_to_rgb", "load_colour_benchmark_data", "load_colour_patches",
           "rebalancing_weights", "rgb_to_lab", "soft_encode_ab"]
