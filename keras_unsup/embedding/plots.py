"""Figures of the embedding tools: projection maps, retrieval grids, rate-distortion curves.

Drawn through `keras_unsup.viz`; like the rest of `viz`, every function returns a
`Figure` and writes nothing (save it with `viz.save_figure`).
"""

import numpy as np

from keras_unsup import viz
from keras_unsup.checks import check_choice, check_indices
from keras_unsup.embedding.projection import PROJECTION_METHODS, cluster_labels, project_embeddings

COLOR_BY = ("label", "cluster", "none")


def plot_neighbours(query_images, images, indices, similarities=None, *, query_labels=None,
                    labels=None, class_names=None):
    """Each query image beside its nearest neighbours, one row per query.

    Args:
        query_images: `(m, h, w, c)` query images.
        images: the indexed images `(n, h, w, c)` that `indices` point into.
        indices: int array `(m, k)`, as `EmbeddingIndex.query` returns it.
        similarities: optional `(m, k)` cosine similarities, written above each neighbour.
        query_labels: optional labels of the queries `(m,)`.
        labels: optional labels of the indexed images `(n,)`; a neighbour whose label
            differs from its query's is marked with an "x".
        class_names: optional names of integer labels.

    Returns:
        The `Figure`: `m` rows of `1 + k` images, the query first.
    """
    query_images = np.asarray(query_images)
    images = np.asarray(images)
    indices = np.asarray(indices)
    if indices.ndim != 2 or len(indices) != len(query_images):
        raise ValueError(
            f"`indices` must have shape (len(query_images)={len(query_images)}, k). "
            f"Received: indices.shape={indices.shape}"
        )
    check_indices(indices, "indices", len(images), "images")
    if query_images.shape[1:] != images.shape[1:]:
        raise ValueError(
            "`query_images` and `images` must share an image shape. "
            f"Received: {query_images.shape[1:]} and {images.shape[1:]}"
        )
    m, k = indices.shape

    def name(label):
        return viz.class_name(class_names, label)

    grid, titles = [], []
    for i in range(m):
        grid.append(query_images[i])
        titles.append("query" + (f"\n{name(query_labels[i])}" if query_labels is not None else ""))
        for j in range(k):
            grid.append(images[indices[i, j]])
            parts = []
            if similarities is not None:
                parts.append(f"{float(similarities[i, j]):.2f}")
            if labels is not None:
                label = labels[indices[i, j]]
                mark = "" if query_labels is None or label == query_labels[i] else " x"
                parts.append(name(label) + mark)
            titles.append("\n".join(parts))
    return viz.image_grid(np.stack(grid), nrows=m, ncols=k + 1, titles=titles)


def plot_rate_distortion(curves, title="Rate-distortion of code compression"):
    """PSNR against bytes per image, one line per encoder, with the raw and PNG sizes.

    Args:
        curves: a list of rows from `rate_distortion`, or a dict `{name: rows}`.
        title: axes title.

    Returns:
        The `Figure` (x axis logarithmic, bytes per image; y axis PSNR in dB).
    """
    if isinstance(curves, list):
        curves = {"code": curves}
    if not isinstance(curves, dict) or not curves or not all(curves.values()):
        raise ValueError(
            "`curves` must be a non-empty list of `rate_distortion` rows or a dict of them. "
            f"Received: {type(curves).__name__}"
        )
    plt = viz.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    first = next(iter(curves.values()))[0]
    for k, (label, rows) in enumerate(curves.items()):
        color = plt.get_cmap("tab10")(k)
        x = [r["bytes_per_image"] for r in rows]
        y = [r["psnr_db"] for r in rows]
        ax.plot(x, y, marker="o", markersize=3, color=color, label=label)
        for r in rows:
            if r["bits"] in (1, 2, 4, 8, 16):
                ax.annotate(f"{r['bits']}b", (r["bytes_per_image"], r["psnr_db"]),
                            textcoords="offset points", xytext=(2, -9), fontsize=7, color=color)
        ax.axhline(rows[0]["float_psnr_db"], color=color, linestyle=":", linewidth=1)
    ax.axvline(first["raw_bytes_per_image"], color="gray", linestyle="--", linewidth=1)
    ax.axvline(first["png_bytes_per_image"], color="black", linestyle="--", linewidth=1)
    ax.text(first["raw_bytes_per_image"], ax.get_ylim()[0], " raw", fontsize=8, color="gray",
            va="bottom")
    ax.text(first["png_bytes_per_image"], ax.get_ylim()[0], " PNG", fontsize=8, va="bottom")
    ax.set_xscale("log")
    ax.set_xlabel("bytes per image")
    ax.set_ylabel("PSNR of decoded images (dB)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def plot_projection(codes, labels=None, *, method="umap", color_by="label", n_clusters=10,
                    seed=0, max_points=5000, class_names=None, title=None):
    """Projects codes to 2-D (`project_embeddings`) and draws them, coloured by label,
    by k-means cluster or not at all.

    Args:
        codes: `(n, d)` codes.
        labels: labels `(n,)`, needed when `color_by="label"`.
        method: `"umap"`, `"tsne"` or `"pca"`.
        color_by: `"label"`, `"cluster"` (k-means with `n_clusters` on the codes) or
            `"none"` (every point alike).
        n_clusters: clusters for `color_by="cluster"`.
        seed: seed of the subset, the projection and k-means.
        max_points: the most points drawn.
        class_names: names of integer labels, for the legend.
        title: axes title (default: method and colouring).

    Returns:
        `(figure, points, colours)`: the `Figure`, the `(m, 2)` points and the labels
        or clusters they were coloured by (`None` for `color_by="none"`).
    """
    check_choice(method, "method", PROJECTION_METHODS)
    check_choice(color_by, "color_by", COLOR_BY)
    codes = np.asarray(codes)
    if color_by == "label" and labels is None:
        raise ValueError("`color_by='label'` needs `labels`. Received: labels=None")
    if labels is not None and len(np.asarray(labels).reshape(-1)) != len(codes):
        raise ValueError(
            f"`labels` must hold one label per code ({len(codes)}). Received: {len(np.asarray(labels).reshape(-1))}"
        )
    points, index = project_embeddings(codes, method, seed=seed, max_points=max_points)
    names = None
    if color_by == "none":
        colours = None
    elif color_by == "cluster":
        colours = cluster_labels(codes.reshape(len(codes), -1)[index], n_clusters, seed=seed)
    else:
        colours = np.asarray(labels).reshape(-1)[index]
        names = class_names
    fig = viz.plot_latent(points, labels=colours, class_names=names,
                          title=title or f"{method.upper()} of the codes"
                          + ("" if color_by == "none" else f", coloured by {color_by}"))
    return fig, points, colours
