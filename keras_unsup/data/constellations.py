"""The toy data of the Stacked Capsule Autoencoder: 2-D point sets made of constellations.

Kosiorek et al. (NeurIPS 2019, Sec. 3.1) test the Object Capsule Autoencoder alone on
sets of 2-D points: each set is the corners of a few shapes (here a square and a
triangle by default), each shape under its own random similarity transform (rotation,
scale, translation), the points shuffled. Without labels, the OCAE must explain the
points by one object per shape; `assignment_accuracy` scores which points it gives to
which object against the shape they came from.
"""

import dataclasses

import numpy as np

from keras_unsup.checks import (
    check_choice,
    check_interval,
    check_number,
    check_positive_int,
    check_seed,
)

# Corners of each shape around the origin, side about 1.
PATTERNS = {
    "square": np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]),
    "triangle": np.array([[0.0, -0.5], [0.5, 0.5], [-0.5, 0.5]]),
    "pentagon": np.array([[np.cos(a), np.sin(a)] for a in
                          np.pi / 2 + 2 * np.pi * np.arange(5) / 5]) * 0.55,
    "l_shape": np.array([[-0.5, -0.5], [-0.5, 0.0], [-0.5, 0.5], [0.0, 0.5], [0.5, 0.5]]),
}


@dataclasses.dataclass
class Constellations:
    """Point sets, their presence and the shape each point belongs to.

    Attributes:
        points: float32 `(n, P, 2)`, roughly within [-1, 1].
        presence: float32 `(n, P)`, 1 for a point that exists.
        labels: int64 `(n, P)`, the index of the shape of each point (in `patterns`).
        patterns: the shapes' names.
    """

    points: np.ndarray
    presence: np.ndarray
    labels: np.ndarray
    patterns: tuple

    def __len__(self):
        return len(self.points)


def make_constellations(n, patterns=("square", "triangle"), *, seed=0, rotate=True,
                        scale=(0.3, 0.6), translation=1.0, noise=0.0, shuffle=True):
    """Random constellations: each shape under its own random similarity transform.

    Args:
        n: number of point sets, >= 1.
        patterns: names of the shapes in each set (`PATTERNS`).
        seed: seed of the transforms and the shuffles.
        rotate: rotate each shape by a uniform angle in [0, 2 pi).
        scale: `(min, max)` of each shape's uniform scale (the patterns' side is about 1).
        translation: each shape's centre is uniform in `[-translation, translation]^2`;
            the defaults keep the points within about [-1.4, 1.4] and the shapes mostly
            apart (overlapping shapes cannot be told apart from the points alone).
        noise: standard deviation of Gaussian noise on the points.
        shuffle: shuffle the points of each set (the OCAE must not rely on order).

    Returns:
        A `Constellations`.

    Example:

    >>> data = make_constellations(4)
    >>> data.points.shape, data.labels[0].tolist().count(0)
    ((4, 7, 2), 4)
    """
    n = check_positive_int(n, "n")
    if isinstance(patterns, str) or not patterns:
        raise ValueError(f"`patterns` must be a non-empty sequence of names of {sorted(PATTERNS)}. "
                         f"Received: patterns={patterns!r}")
    for name in patterns:
        check_choice(name, "patterns", tuple(PATTERNS))
    low, high = check_interval(scale, "scale", 0.0, 10.0)
    translation = check_number(translation, "translation", 0.0)
    noise = check_number(noise, "noise", 0.0)
    rng = np.random.default_rng(check_seed(seed))
    points, labels = [], []
    for index, name in enumerate(patterns):
        corners = PATTERNS[name]
        angle = rng.uniform(0, 2 * np.pi, n) if rotate else np.zeros(n)
        size = rng.uniform(low, high, n)
        cos, sin = np.cos(angle) * size, np.sin(angle) * size
        rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
        centre = rng.uniform(-translation, translation, (n, 1, 2))
        points.append(np.einsum("nij,pj->npi", rotation, corners) + centre)
        labels.append(np.full((n, len(corners)), index))
    points = np.concatenate(points, axis=1)
    labels = np.concatenate(labels, axis=1)
    if noise:
        points = points + rng.normal(0, noise, points.shape)
    if shuffle:
        order = np.argsort(rng.random(labels.shape), axis=1)
        points = np.take_along_axis(points, order[..., None], axis=1)
        labels = np.take_along_axis(labels, order, axis=1)
    presence = np.ones(labels.shape, np.float32)
    return Constellations(points.astype(np.float32), presence, labels.astype(np.int64),
                          tuple(patterns))


def assignment_accuracy(labels, assigned, presence=None):
    """Share of points given to the object matched to their shape (Kosiorek et al., 2019).

    In each set, objects are matched one-to-one to shapes by the Hungarian algorithm
    (`cluster_accuracy`), and the points of each shape given to its object count as
    correct; absent points do not count.

    Args:
        labels: int `(n, P)` true shape of each point.
        assigned: int `(n, P)` object each point is given to.
        presence: `(n, P)` presence of each point (default: all present).

    Returns:
        The accuracy over all present points, a float in [0, 1].
    """
    from keras_unsup.evaluation.metrics import cluster_accuracy

    labels, assigned = np.asarray(labels), np.asarray(assigned)
    if labels.shape != assigned.shape or labels.ndim != 2:
        raise ValueError(f"`labels` and `assigned` must be arrays of one shape (n, P). "
                         f"Received: shapes {labels.shape} and {assigned.shape}")
    present = np.ones(labels.shape, bool) if presence is None else np.asarray(presence) > 0.5
    correct = total = 0
    for y, a, p in zip(labels, assigned, present):
        if p.any():
            correct += cluster_accuracy(y[p], a[p]) * p.sum()
            total += p.sum()
    return float(correct / max(total, 1))


__all__ = ["Constellations", "PATTERNS", "assignment_accuracy", "make_constellations"]
