"""Plots of what unsupervised models learn: image grids, reconstructions, latent maps.

Every plotting function returns a `matplotlib.figure.Figure` made through pyplot
(so `plt.show()` works in scripts and notebooks display it inline); none calls
`plt.show()` and none writes a file: pass the figure to `save_figure`. Close figures
you no longer need with `plt.close(fig)` when drawing many of them.

Importing this module imports nothing of matplotlib and changes no setting: pyplot
is imported by the first drawing function, and matplotlib chooses its backend itself
(Agg on a machine without a display, the inline backend in a notebook). Projections
of codes to 2-D live in `keras_unsup.embedding.projection` (`project_embeddings`).

Example:

>>> import numpy as np
>>> from keras_unsup import viz
>>> fig = viz.image_grid(np.random.rand(8, 8, 8, 1), ncols=4)
>>> viz.save_figure(fig, "grid.png")  # doctest: +SKIP
"""

import io
import math
from pathlib import Path

import numpy as np

from keras_unsup.checks import check_bool, check_positive_int


def pyplot():
    """`matplotlib.pyplot`, imported on first use (for modules that draw through viz)."""
    import matplotlib.pyplot as plt

    return plt


def _as_images(images, name):
    images = np.asarray(images)
    if images.ndim == 3:  # (n, h, w): grayscale without a channel axis
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"`{name}` must be images of shape (n, height, width, channels) with 1 or 3 "
            f"channels. Received: {name}.shape={images.shape}"
        )
    if len(images) == 0:
        raise ValueError(
            f"`{name}` must hold at least one image. Received: {name}.shape={images.shape}"
        )
    # Values outside [0, 1] are rounding noise of a decoder; clipping keeps the
    # grayscale and RGB paths on the same scale.
    return np.clip(images.astype(np.float32), 0.0, 1.0)


def image_grid(images, nrows=None, ncols=None, titles=None, row_labels=None):
    """Draws images in a grid, row by row.

    Args:
        images: array of shape `(n, height, width, channels)` with 1 or 3 channels
            and values in [0, 1] (values outside are clipped); `(n, height, width)`
            is read as grayscale.
        nrows: rows of the grid; `None` derives it from `ncols`.
        ncols: columns of the grid; `None` takes `min(n, 10)` (or derives it from
            `nrows`).
        titles: optional sequence of `n` strings, one above each image.
        row_labels: optional sequence of `nrows` strings, written left of each row.

    Returns:
        The `Figure`; it holds one axes per image (cells left over are removed).

    Example:

    >>> fig = image_grid(np.random.rand(6, 8, 8, 1), ncols=3, row_labels=["a", "b"])
    >>> len(fig.axes)
    6
    """
    images = _as_images(images, "images")
    n = len(images)
    check_positive_int(nrows, "nrows", allow_none=True)
    check_positive_int(ncols, "ncols", allow_none=True)
    if nrows is None and ncols is None:
        ncols = min(n, 10)
    if nrows is None:
        nrows = math.ceil(n / ncols)
    elif ncols is None:
        ncols = math.ceil(n / nrows)
    if nrows * ncols < n:
        raise ValueError(
            f"A grid of `nrows` x `ncols` must hold all {n} images. "
            f"Received: nrows={nrows}, ncols={ncols}"
        )
    if titles is not None and len(titles) != n:
        raise ValueError(
            f"`titles` must hold one title per image. Expected: {n} titles, Received: {len(titles)}"
        )
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(
            f"`row_labels` must hold one label per row. Expected: {nrows} labels, "
            f"Received: {len(row_labels)}"
        )

    plt = pyplot()
    cell = 1.2
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(cell * ncols + (0.6 if row_labels is not None else 0.0), cell * nrows),
        squeeze=False,
    )
    for k, ax in enumerate(axes.flat):
        if k >= n:
            fig.delaxes(ax)
            continue
        image = images[k]
        if image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        else:
            ax.imshow(image, interpolation="nearest")
        # Ticks and spines are hidden rather than the whole axis, so that a row
        # label (the y label) stays visible.
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if titles is not None:
            ax.set_title(str(titles[k]), fontsize=8)
        if row_labels is not None and k % ncols == 0:
            ax.set_ylabel(str(row_labels[k // ncols]), fontsize=9)
    fig.tight_layout()
    return fig


def plot_reconstructions(originals, reconstructions, n=10, noisy=None):
    """Draws originals over their reconstructions (and the noisy inputs between).

    Args:
        originals: images of shape `(m, height, width, channels)` in [0, 1].
        reconstructions: the model's outputs for them, of the same shape (flat
            outputs of `height * width * channels` values are reshaped).
        n: how many of the first images to draw (at most `m`).
        noisy: optional corrupted inputs of a denoising autoencoder, drawn as a
            middle row.

    Returns:
        The `Figure`: rows "original", ["noisy input",] "reconstruction".

    Example:

    >>> x = np.random.rand(4, 8, 8, 1)
    >>> fig = plot_reconstructions(x, x, n=4)
    >>> len(fig.axes)
    8
    """
    check_positive_int(n, "n")
    originals = _as_images(originals, "originals")
    rows = [originals]
    labels = ["original"]
    for name, images in (("noisy", noisy), ("reconstructions", reconstructions)):
        if images is None:
            continue
        images = np.asarray(images)
        if len(images) != len(originals) or images[0].size != originals[0].size:
            raise ValueError(
                f"`{name}` must match `originals` image for image. Expected: shape "
                f"{originals.shape}, Received: {name}.shape={images.shape}"
            )
        rows.append(_as_images(images.reshape(originals.shape), name))
        labels.append("noisy input" if name == "noisy" else "reconstruction")
    n = min(n, len(originals))
    grid = np.concatenate([row[:n] for row in rows])
    return image_grid(grid, nrows=len(rows), ncols=n, row_labels=labels)


def plot_inpainting(masked, filled, truth, n=8):
    """Draws in-painting results: the masked inputs, the predictions, the truth.

    Args:
        masked: the encoder's inputs, region filled with the mean `(m, h, w, c)`.
        filled: the images with the region filled in by the model, same shape.
        truth: the original images, same shape.
        n: how many of the first images to draw.

    Returns:
        The `Figure`: rows "masked input", "prediction", "truth".

    Example:

    >>> x = np.random.rand(4, 8, 8, 1)
    >>> len(plot_inpainting(x, x, x, n=4).axes)
    12
    """
    check_positive_int(n, "n")
    rows = [_as_images(images, name) for name, images in
            (("masked", masked), ("filled", filled), ("truth", truth))]
    if any(row.shape != rows[2].shape for row in rows):
        raise ValueError("`masked`, `filled` and `truth` must have one shape. Received: "
                         + ", ".join(str(row.shape) for row in rows))
    n = min(n, len(rows[2]))
    return image_grid(np.concatenate([row[:n] for row in rows]), nrows=3, ncols=n,
                      row_labels=["masked input", "prediction", "truth"])


def tile_mosaic(tiles, grid, border=1):
    """Tiles `(n_tiles, t, t, c)` laid out as a `grid x grid` image, row by row, with
    `border` white pixels between them (so a shuffled puzzle shows its pieces)."""
    tiles = np.asarray(tiles, dtype=np.float32)
    n_tiles, t, _, c = tiles.shape
    if n_tiles != grid * grid:
        raise ValueError(f"`tiles` must hold grid * grid = {grid * grid} tiles. Received: "
                         f"tiles.shape={tiles.shape}")
    side = grid * t + (grid - 1) * border
    mosaic = np.ones((side, side, c), np.float32)
    for k in range(n_tiles):
        r, col = divmod(k, grid)
        top, left = r * (t + border), col * (t + border)
        mosaic[top:top + t, left:left + t] = tiles[k]
    return mosaic


def plot_jigsaw(shuffled, permutations, true, predicted, n=6):
    """Draws jigsaw puzzles with their true and predicted permutations.

    For each puzzle two panels: the shuffled tiles as the model saw them (titled
    with the true permutation's index) and the tiles put back in the order the
    predicted permutation says (titled with it; the image is whole again when the
    prediction is right).

    Args:
        shuffled: `(m, n_tiles, t, t, c)`: position `i` of puzzle `b` holds tile
            `permutations[true[b], i]`.
        permutations: the permutation set `(n_permutations, n_tiles)`.
        true, predicted: permutation indices `(m,)`.
        n: how many puzzles to draw.

    Returns:
        The `Figure`, two panels per puzzle.
    """
    check_positive_int(n, "n")
    shuffled = np.clip(np.asarray(shuffled, dtype=np.float32), 0.0, 1.0)
    permutations = np.asarray(permutations)
    true, predicted = np.asarray(true).reshape(-1), np.asarray(predicted).reshape(-1)
    if shuffled.ndim != 5 or shuffled.shape[1] != permutations.shape[1] \
            or len(true) != len(shuffled) or len(predicted) != len(shuffled):
        raise ValueError("`shuffled` must be (m, n_tiles, t, t, c) with one true and one "
                         "predicted permutation per puzzle. Received: shuffled.shape="
                         f"{shuffled.shape}, permutations.shape={permutations.shape}, "
                         f"{len(true)} true, {len(predicted)} predicted")
    grid = int(round(np.sqrt(shuffled.shape[1])))
    n = min(n, len(shuffled))
    images, titles = [], []
    for b in range(n):
        solved = np.empty_like(shuffled[b])
        solved[permutations[predicted[b]]] = shuffled[b]  # tile p[i] back to place p[i]
        images += [tile_mosaic(shuffled[b], grid), tile_mosaic(solved, grid)]
        mark = "right" if predicted[b] == true[b] else "wrong"
        titles += [f"shuffled: #{true[b]}", f"predicted #{predicted[b]} ({mark})"]
    return image_grid(np.stack(images), ncols=min(2 * n, 6), titles=titles)


def class_name(class_names, label):
    """The name of `label`: `class_names[label]` (a sequence or a dict), else `str(label)`."""
    if class_names is None:
        return str(label)
    if isinstance(class_names, dict):
        return str(class_names.get(label, label))
    return str(class_names[int(label)])


def plot_latent(points, labels=None, title=None, class_names=None):
    """Scatter plot of 2-D points, coloured by label.

    Integer labels with at most 20 distinct values get one colour each and a legend;
    other labels (floats, many classes) a continuous colour map and a colour bar.

    Args:
        points: array of shape `(n, 2)`, e.g. from `project_embeddings`.
        labels: optional array of shape `(n,)`; `None` draws every point alike.
        title: optional axes title.
        class_names: optional names of the integer labels, a sequence indexed by
            label or a dict `{label: name}`, used in the legend.

    Returns:
        The `Figure`, with the scatter in `fig.axes[0]`.

    Example:

    >>> fig = plot_latent(np.random.rand(50, 2), labels=np.arange(50) % 3,
    ...                   class_names=["a", "b", "c"])
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"`points` must have shape (n, 2). Received: points.shape={points.shape}")

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    size = 12 if len(points) <= 2000 else 4
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=size, color="tab:blue", alpha=0.8)
    else:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(points):
            raise ValueError(
                f"`labels` must hold one label per point. Expected: {len(points)} labels, "
                f"Received: {len(labels)}"
            )
        classes = np.unique(labels)
        if np.issubdtype(labels.dtype, np.integer) and len(classes) <= 20:
            cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
            for k, label in enumerate(classes):
                mask = labels == label
                ax.scatter(
                    points[mask, 0],
                    points[mask, 1],
                    s=size,
                    color=cmap(k),
                    alpha=0.8,
                    label=class_name(class_names, label),
                )
            ax.legend(markerscale=2, fontsize=8, loc="best", framealpha=0.8)
        else:
            scatter = ax.scatter(
                points[:, 0], points[:, 1], s=size, c=labels, cmap="viridis", alpha=0.8
            )
            fig.colorbar(scatter, ax=ax)
    if title is not None:
        ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_confusion_matrix(y_true, y_pred, class_names=None, title=None):
    """Confusion matrix of a clustering, clusters matched to classes first.

    Clusters are mapped to classes with `match_clusters` (the Hungarian matching of
    `cluster_accuracy`), so the diagonal counts the correctly matched samples and
    its sum over `n` is the cluster accuracy. Clusters left unmatched (more clusters
    than classes) get extra columns named "cluster <id>".

    Args:
        y_true: integer class labels, shape `(n,)`.
        y_pred: integer cluster labels, shape `(n,)`.
        class_names: optional names of the classes, a sequence indexed by label or a
            dict `{label: name}`.
        title: optional title; by default it reports the accuracy.

    Returns:
        The `Figure`; `fig.axes[0].images[0].get_array()` is the count matrix, rows
        true classes and columns matched clusters.

    Example:

    >>> fig = plot_confusion_matrix([0, 0, 1, 1], [1, 1, 0, 0])
    """
    from keras_unsup.evaluation.metrics import check_labels, match_clusters

    y_true, y_pred = check_labels(y_true, y_pred)
    mapping = match_clusters(y_true, y_pred)
    classes = np.unique(y_true)
    unmatched = [c for c in np.unique(y_pred) if int(c) not in mapping]
    column = {int(cls): j for j, cls in enumerate(classes)}
    column_of_cluster = {cluster: column[cls] for cluster, cls in mapping.items()}
    for j, cluster in enumerate(unmatched):
        column_of_cluster[int(cluster)] = len(classes) + j

    matrix = np.zeros((len(classes), len(classes) + len(unmatched)), dtype=np.int64)
    rows = np.searchsorted(classes, y_true)
    cols = np.array([column_of_cluster[int(c)] for c in y_pred])
    np.add.at(matrix, (rows, cols), 1)

    names = [class_name(class_names, c) for c in classes]
    column_names = names + [f"cluster {c}" for c in unmatched]
    plt = pyplot()
    size = 1.5 + 0.5 * matrix.shape[1]
    fig, ax = plt.subplots(figsize=(size, 1.0 + 0.5 * matrix.shape[0]))
    image = ax.imshow(matrix, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(matrix.shape[1]), column_names, rotation=45, ha="right")
    ax.set_yticks(range(matrix.shape[0]), names)
    ax.set_xlabel("cluster (matched class)")
    ax.set_ylabel("true class")
    threshold = matrix.max() / 2 if matrix.size else 0
    if matrix.shape[1] <= 30:
        for i, j in np.ndindex(matrix.shape):
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if matrix[i, j] > threshold else "black",
            )
    accuracy = np.trace(matrix[:, : len(classes)]) / len(y_true)
    ax.set_title(title if title is not None else f"Cluster accuracy {accuracy:.3f}")
    fig.tight_layout()
    return fig


def plot_history(history_dict, keys=None):
    """Training curves, one panel per metric with its validation curve beside it.

    Args:
        history_dict: `History.history` (a dict of per-epoch lists) or the `History`
            object that `model.fit` returns.
        keys: metrics to draw (`"loss"` also draws `"val_loss"` when present); `None`
            draws every metric that is not a `val_` one.

    Returns:
        The `Figure`, one axes per key, x axis the epoch (from 1).

    Example:

    >>> fig = plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
    """
    history = getattr(history_dict, "history", history_dict)
    if not isinstance(history, dict) or not history:
        raise ValueError(
            "`history_dict` must be a non-empty dict of per-epoch values or a History. "
            f"Received: history_dict={history_dict!r}"
        )
    if keys is None:
        keys = [k for k in history if not (k.startswith("val_") and k[4:] in history)]
    elif isinstance(keys, str):
        keys = [keys]
    missing = [k for k in keys if k not in history]
    if missing or not keys:
        raise ValueError(
            f"`keys` must name metrics of the history {sorted(history)}. Received: keys={keys!r}"
        )

    plt = pyplot()
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
    for key, ax in zip(keys, axes[0]):
        for name in (key, f"val_{key}"):
            if name not in history:
                continue
            values = np.asarray(history[name], dtype=np.float64).reshape(-1)
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def save_figure(fig, path, *, dpi=100, close=False, show=False):
    """Saves `fig` to `path` and/or shows it inline: the one way the package writes a figure.

    Callbacks, recipes (`RunDir.save_figure`), the CLI and the benchmarks all save
    through here.

    Args:
        fig: a matplotlib `Figure`.
        path: file path (the format from its suffix, parent folders made), e.g.
            `"out/latent.png"`; `None` saves nothing.
        dpi: resolution of raster formats.
        close: close the figure afterwards (frees it from pyplot's list of open
            figures, and keeps a notebook's inline backend from drawing it twice).
        show: also display it as a PNG in the notebook's output (needs IPython).

    Returns:
        The path written as a `pathlib.Path`, or `None` when `path` is `None`.

    Example:

    >>> save_figure(image_grid(np.random.rand(4, 8, 8, 1)), "out/grid.png")  # doctest: +SKIP
    """
    check_bool(close, "close")
    check_bool(show, "show")
    try:
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=dpi, bbox_inches="tight")
        if show:
            _display_inline(fig, dpi=dpi)
    finally:
        if close:
            pyplot().close(fig)
    return path


def _display_inline(fig, dpi=100):
    """Shows `fig` as a PNG in a notebook's output, whatever matplotlib's backend."""
    from IPython.display import Image, display

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    display(Image(data=buffer.getvalue(), format="png"))
