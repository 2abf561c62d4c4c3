"""Projections: UMAP through umap-learn, t-SNE/PCA through viz, k-means colouring."""

import numpy as np
import pytest

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
    with pytest.raises(ValueError, match=r"`method` must be one of \('umap', 'tsne', 'pca'\)"):
        project_embeddings(codes, "isomap")
    with pytest.raises(ValueError, match="max_points"):
        project_embeddings(codes, "umap", max_points=1)


def test_projection_figure_coloured_by_cluster_or_label():
    from keras_unsup.embedding.plots import plot_projection

    codes, labels = blobs()
    fig, points, colours = plot_projection(codes, method="pca", color_by="cluster", n_clusters=3)
    assert points.shape == (120, 2) and set(colours) == {0, 1, 2}
    assert len(fig.axes[0].collections) == 3  # one scatter per cluster
    fig, _, colours = plot_projection(codes, labels, method="pca", class_names=["a", "b", "c"])
    np.testing.assert_array_equal(colours, labels)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="needs `labels`"):
        plot_projection(codes, method="pca")
