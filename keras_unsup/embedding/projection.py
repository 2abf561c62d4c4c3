"""2-D maps of codes: the package's one projection function, and k-means colours for it.

`project_embeddings` projects codes with UMAP (umap-learn), t-SNE or PCA (scikit-learn)
on a seeded subset and returns `(points, index)`, so labels are subset alike
(`labels[index]`). The `EmbeddingProjection` callback, the recipes' figures, the
notebooks and the benchmarks all project through it. `cluster_labels` gives k-means
labels to colour a map by cluster when there are no labels.

scikit-learn and umap-learn are imported by the functions that need them, not here.
"""

import numpy as np

from keras_unsup.checks import check_choice, check_int, check_number, check_seed

PROJECTION_METHODS = ("umap", "tsne", "pca")


def subsample_codes(codes, max_points, seed=0, dtype=np.float32):
    """Checked, flattened `codes` (at most `max_points` rows, a seeded subset) and their
    row numbers: `(codes[index], index)`, the shared first step of every projection."""
    codes = np.asarray(codes)
    if codes.ndim == 0 or len(codes) < 2:
        raise ValueError(f"`codes` must hold at least 2 rows. Received: codes.shape={codes.shape}")
    codes = codes.reshape(len(codes), -1).astype(dtype)
    if not np.all(np.isfinite(codes)):
        raise ValueError("`codes` must hold only finite values; it holds NaN or infinity.")
    index = np.arange(len(codes))
    if len(codes) > max_points:
        rng = np.random.default_rng(seed)
        index = np.sort(rng.choice(len(codes), size=max_points, replace=False))
    return codes[index], index


def project_embeddings(codes, method="umap", *, seed=0, max_points=5000, n_neighbors=15,
                       min_dist=0.1):
    """Projects codes to 2-D with UMAP, t-SNE or PCA, for plotting.

    Above `max_points` codes a random subset (fixed by `seed`) is projected; the
    sorted indices of the rows used come back with the points (`labels[index]`
    subsets labels alike). Codes of dimension 2 are returned as they are and codes of
    dimension 1 get a zero second coordinate, whatever the method.

    Args:
        codes: array `(n, d)` (other shapes are flattened per row), n >= 2.
        method: `"umap"` (umap-learn; keeps more of the global layout than t-SNE and
            scales to tens of thousands of points), `"tsne"` (scikit-learn's t-SNE,
            PCA-initialised) or `"pca"`.
        seed: seed of the subset and of the projection (seeded UMAP runs on one thread).
        max_points: the most rows projected, >= 2.
        n_neighbors: UMAP's neighbourhood size (clipped below the number of points).
        min_dist: UMAP's minimum distance between embedded points.

    Returns:
        `(points, index)`: float64 array `(m, 2)` and the sorted row indices `(m,)`
        into `codes`, with `m = min(n, max_points)`.

    Example:

    >>> points, index = project_embeddings(np.random.rand(100, 16), method="pca")
    >>> points.shape, index.shape
    ((100, 2), (100,))
    """
    check_choice(method, "method", PROJECTION_METHODS)
    max_points = check_int(max_points, "max_points", 2)
    n_neighbors = check_int(n_neighbors, "n_neighbors", 2)
    min_dist = check_number(min_dist, "min_dist", 0.0)
    seed = check_seed(seed)
    codes, index = subsample_codes(codes, max_points, seed,
                                   np.float32 if method == "umap" else np.float64)
    if codes.shape[1] == 1:
        return np.concatenate([codes, np.zeros_like(codes)], axis=1).astype(np.float64), index
    if codes.shape[1] == 2:
        return codes.astype(np.float64), index
    if method == "umap" and len(codes) >= 4:
        return _umap(codes, seed, n_neighbors, min_dist), index
    if method == "tsne":
        from sklearn.manifold import TSNE

        # scikit-learn requires perplexity < n; 30 is its default for larger sets.
        perplexity = float(min(30.0, max(1.0, (len(codes) - 1) / 3)))
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                    random_state=seed)
        return tsne.fit_transform(codes).astype(np.float64), index
    # PCA, and UMAP on fewer than 4 points (too few for a neighbour graph).
    from sklearn.decomposition import PCA

    points = PCA(n_components=2, random_state=seed).fit_transform(codes.astype(np.float64))
    return points, index


def _umap(codes, seed, n_neighbors, min_dist):
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
    return np.asarray(points, dtype=np.float64)


def cluster_labels(codes, n_clusters, seed=0):
    """k-means labels of the codes (for colouring a map by cluster)."""
    from sklearn.cluster import KMeans

    n_clusters = check_int(n_clusters, "n_clusters", 1)
    codes = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    if n_clusters > len(codes):
        raise ValueError(
            f"`n_clusters` must be at most the number of codes {len(codes)}. Received: n_clusters={n_clusters}"
        )
    return KMeans(n_clusters, n_init=4, random_state=seed).fit_predict(codes).astype(np.int64)
