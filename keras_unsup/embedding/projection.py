"""2-D maps of codes: UMAP (umap-learn), t-SNE and PCA (through `viz.project_2d`).

`project_embeddings` follows `viz.project_2d`'s convention, `(points, index)`, and
adds UMAP, which keeps more of the global layout than t-SNE and scales to tens of
thousands of points. `cluster_labels` gives k-means labels to colour a map by
cluster when there are no labels.
"""

import numpy as np

PROJECTION_METHODS = ("umap", "tsne", "pca")


def check_projection_method(method):
    if method not in PROJECTION_METHODS:
        raise ValueError(
            f"`method` must be one of {PROJECTION_METHODS}. Received: method={method!r}"
        )


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")
    return int(value)


def project_embeddings(codes, method="umap", *, seed=0, max_points=5000, n_neighbors=15,
                       min_dist=0.1):
    """Projects codes to 2-D with UMAP, t-SNE or PCA.

    Above `max_points` codes a random subset (fixed by `seed`) is projected; the
    indices of the rows used come back with the points (`labels[index]` subsets
    labels alike).

    Args:
        codes: array `(n, d)` (other shapes are flattened per row), n >= 2.
        method: `"umap"`, `"tsne"` or `"pca"`.
        seed: seed of the subset and of the projection (UMAP seeded runs single-threaded).
        max_points: the most rows projected.
        n_neighbors: UMAP's neighbourhood size (clipped below the number of points).
        min_dist: UMAP's minimum distance between embedded points.

    Returns:
        `(points, index)`: float array `(m, 2)` and the sorted row indices `(m,)`.

    Example:

    >>> points, index = project_embeddings(codes, method="umap")
    >>> fig = viz.plot_latent(points, labels[index])
    """
    check_projection_method(method)
    max_points = _check_int(max_points, "max_points", 2)
    n_neighbors = _check_int(n_neighbors, "n_neighbors", 2)
    from keras_unsup import viz

    if method != "umap":
        return viz.project_2d(codes, method=method, seed=seed, max_points=max_points)
    codes, index = viz.subsample_codes(codes, max_points, seed, np.float32)
    if codes.shape[1] <= 2 or len(codes) < 4:
        # Nothing to reduce (or too few points for a neighbour graph): PCA/padding path.
        points, _ = viz.project_2d(codes, method="pca", seed=seed, max_points=len(codes))
        return np.asarray(points, dtype=np.float32), index
    import warnings

    import umap

    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(codes) - 1),
                        min_dist=min_dist, random_state=seed,
                        # The spectral start needs a connected graph; random is safe on tiny sets.
                        init="spectral" if len(codes) > 50 else "random")
    with warnings.catch_warnings():
        # "n_jobs overridden to 1 by setting random_state": expected, we want reproducibility.
        warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
        points = reducer.fit_transform(codes)
    return np.asarray(points, dtype=np.float32), index


def cluster_labels(codes, n_clusters, seed=0):
    """k-means labels of the codes (for colouring a map by cluster)."""
    from sklearn.cluster import KMeans

    n_clusters = _check_int(n_clusters, "n_clusters", 1)
    codes = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    if n_clusters > len(codes):
        raise ValueError(
            f"`n_clusters` must be at most the number of codes {len(codes)}. Received: n_clusters={n_clusters}"
        )
    return KMeans(n_clusters, n_init=4, random_state=seed).fit_predict(codes).astype(np.int64)
