"""project_embeddings (UMAP, t-SNE, PCA), k-means colouring and the projection figure."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from keras_unsup.embedding import project_embeddings
from keras_unsup.embedding.projection import cluster_labels


def blobs(n_per=40, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:3] * 12
    codes = np.concatenate([c + rng.normal(size=(n_per, dim)) for c in centres])
    return codes, np.repeat(np.arange(3), n_per)


def nearest_neighbour_purity(points, labels):
    d = ((points[:, None] - points[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float(np.mean(labels[d.argmin(1)] == labels))


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_tsne_and_pca_keep_clusters_apart_and_subset(method):
    codes, labels = blobs()
    points, index = project_embeddings(codes, method, max_points=90, seed=1)
    assert points.shape == (90, 2) and len(np.unique(index)) == 90
    assert nearest_neighbour_purity(points, labels[index]) > 0.95


@pytest.mark.slow  # umap-learn's first call compiles with numba (tens of seconds)
def test_umap_keeps_clusters_apart_and_is_seeded():
    codes, labels = blobs()
    points, index = project_embeddings(codes, "umap", seed=0)
    assert points.shape == (120, 2) and np.array_equal(index, np.arange(120))
    assert nearest_neighbour_purity(points, labels) > 0.95
    again, _ = project_embeddings(codes, "umap", seed=0)
    np.testing.assert_allclose(points, again, atol=1e-4)


def test_umap_on_two_dimensional_codes_needs_no_reduction():
    codes = np.random.default_rng(0).normal(size=(10, 2))
    points, _ = project_embeddings(codes, "umap")
    np.testing.assert_allclose(points, codes, atol=1e-5)


def test_cluster_labels_recover_blobs_and_errors():
    from keras_unsup.evaluation.metrics import cluster_accuracy

    codes, labels = blobs()
    assert cluster_accuracy(labels, cluster_labels(codes, 3)) == 1.0
    with pytest.raises(ValueError, match="n_clusters"):
        cluster_labels(codes[:2], 3)


def test_projection_figure_coloured_by_cluster_or_label():
    from keras_unsup.embedding.plots import plot_projection

    codes, labels = blobs()
    fig, points, colours = plot_projection(codes, method="pca", color_by="cluster", n_clusters=3)
    assert points.shape == (120, 2) and set(colours) == {0, 1, 2}
    assert len(fig.axes[0].collections) == 3  # one scatter per cluster
    fig, _, colours = plot_projection(codes, labels, method="pca", class_names=["a", "b", "c"])
    np.testing.assert_array_equal(colours, labels)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b", "c"]
    fig, _, colours = plot_projection(codes, method="pca", color_by="none")
    assert colours is None and len(fig.axes[0].collections) == 1 and fig.axes[0].get_legend() is None
    with pytest.raises(ValueError, match="needs `labels`"):
        plot_projection(codes, method="pca")


# --- geometry of the PCA and t-SNE maps -------------------------------------------


def plane_in_10d(n, seed=0):
    rng = np.random.default_rng(seed)
    coords = rng.normal(size=(n, 2)) * [3.0, 1.0]
    basis, _ = np.linalg.qr(rng.normal(size=(10, 2)))  # orthonormal columns
    return coords @ basis.T + rng.normal(size=10), coords


def test_pca_of_points_on_a_plane_preserves_distances_and_variance():
    codes, _ = plane_in_10d(200)
    points, index = project_embeddings(codes, method="pca")
    assert points.shape == (200, 2)
    np.testing.assert_array_equal(index, np.arange(200))
    # Projection onto the plane the data spans is an isometry.
    np.testing.assert_allclose(pdist(points), pdist(codes), atol=1e-8)
    np.testing.assert_allclose(points.var(axis=0).sum(), codes.var(axis=0).sum())
    # The first component carries the wider direction.
    assert points[:, 0].var() > points[:, 1].var()


def test_tsne_projection_shape_and_determinism():
    codes = np.random.default_rng(3).normal(size=(40, 6))
    points, index = project_embeddings(codes, method="tsne", seed=1)
    again, _ = project_embeddings(codes, method="tsne", seed=1)
    assert points.shape == (40, 2) and index.shape == (40,)
    assert np.all(np.isfinite(points))
    np.testing.assert_allclose(points, again)


def test_tsne_keeps_well_separated_clusters_apart():
    rng = np.random.default_rng(4)
    codes = np.concatenate([rng.normal(0, 0.1, (20, 5)), rng.normal(10, 0.1, (20, 5))])
    points, _ = project_embeddings(codes, method="tsne", seed=0)
    centroid_a, centroid_b = points[:20].mean(0), points[20:].mean(0)
    spread = max(points[:20].std(0).max(), points[20:].std(0).max())
    assert np.linalg.norm(centroid_a - centroid_b) > 3 * spread


def test_two_dimensional_codes_are_returned_as_they_are_and_subsampled_by_seed():
    codes = np.random.default_rng(5).normal(size=(50, 2))
    points, index = project_embeddings(codes, method="tsne", max_points=10, seed=7)
    assert len(index) == 10 and len(np.unique(index)) == 10
    assert np.all(np.diff(index) > 0)
    np.testing.assert_array_equal(points, codes[index])
    _, same = project_embeddings(codes, max_points=10, seed=7)
    _, other = project_embeddings(codes, max_points=10, seed=8)
    np.testing.assert_array_equal(index, same)
    assert not np.array_equal(index, other)


def test_one_dimensional_codes_get_a_zero_second_coordinate():
    codes = np.arange(5.0)[:, None]
    points, _ = project_embeddings(codes, method="pca")
    np.testing.assert_array_equal(points, np.stack([np.arange(5.0), np.zeros(5)], axis=1))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "isomap"}, r"`method` must be one of \['umap', 'tsne', 'pca'\]"),
        ({"n_neighbors": 1}, "n_neighbors"),
        ({"seed": -1}, "seed"),
        ({"max_points": 1}, "max_points"),
        ({"codes": np.zeros((1, 4))}, "codes"),
        ({"codes": np.full((3, 4), np.nan)}, "codes"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    kwargs = {"codes": np.zeros((10, 4)), **kwargs}
    with pytest.raises(ValueError, match=match):
        project_embeddings(**kwargs)
