"""`EmbeddingProjection`: a UMAP, t-SNE or PCA map of the codes, coloured by label or cluster."""

from pathlib import Path

import keras
import numpy as np

from keras_unsup.callbacks._figures import check_every as _check_every
from keras_unsup.callbacks._figures import check_show as _check_show
from keras_unsup.callbacks._figures import emit_figure as _emit
from keras_unsup.embedding.encoding import check_images, encode_images, expected_input_shape
from keras_unsup.embedding.plots import COLOR_BY, plot_projection
from keras_unsup.embedding.projection import check_projection_method


class EmbeddingProjection(keras.callbacks.Callback):
    """Draws a UMAP (or t-SNE, PCA) map of the encoder's codes every `every` epochs.

    Like `LatentProjection`, with UMAP and colouring by k-means cluster (for data
    without labels). Figures go to `output_dir/projection_{method}_epoch_{epoch:03d}.png`
    and/or the notebook's output.

    Args:
        encoder: a Keras model from images to codes (`output_index` picks an output).
        images: images `(n, *input_shape)`; at most `max_points` (a fixed subset) are used.
        labels: optional labels `(n,)`, for `color_by="label"`.
        method: `"umap"`, `"tsne"` or `"pca"`.
        color_by: `"label"` (default when labels are given) or `"cluster"`.
        n_clusters: k-means clusters for `color_by="cluster"`.
        output_dir: folder for the PNG files; `None` saves nothing.
        every: draw after every `every`-th epoch.
        show: display inline (needs IPython).
        seed: seed of the subset, the projection and k-means.
        class_names: names of integer labels.
        max_points: the most images encoded and drawn.
        output_index: which encoder output is the code.

    Attributes:
        paths: files written so far.
        last_points: the latest `(m, 2)` projection.
    """

    def __init__(self, encoder, images, labels=None, method="umap", color_by=None, n_clusters=10,
                 output_dir=None, every=1, show=False, seed=0, class_names=None, max_points=2000,
                 output_index=0):
        super().__init__()
        check_projection_method(method)
        if color_by is None:
            color_by = "label" if labels is not None else "cluster"
        if color_by not in COLOR_BY:
            raise ValueError(f"`color_by` must be one of {COLOR_BY}. Received: color_by={color_by!r}")
        if color_by == "label" and labels is None:
            raise ValueError("`color_by='label'` needs `labels`. Received: labels=None")
        images = check_images(images, expected_input_shape(encoder))
        if len(images) < 2:
            raise ValueError(f"`images` must hold at least 2 images. Received: images.shape={images.shape}")
        if labels is not None:
            labels = np.asarray(labels).reshape(-1)
            if len(labels) != len(images):
                raise ValueError(
                    f"`labels` must hold one label per image ({len(images)}). Received: {len(labels)} labels"
                )
        _check_every(every)
        _check_show(show)
        if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) or max_points < 2:
            raise ValueError(f"`max_points` must be an integer >= 2. Received: max_points={max_points!r}")
        if color_by == "cluster" and (isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer))
                                      or not 1 <= n_clusters <= min(len(images), max_points)):
            raise ValueError(
                f"`n_clusters` must be an integer in [1, {min(len(images), max_points)}]. "
                f"Received: n_clusters={n_clusters!r}"
            )
        keep = np.arange(len(images))
        if len(images) > max_points:
            keep = np.sort(np.random.default_rng(seed).choice(len(images), max_points, replace=False))
        self.encoder = encoder
        self.images = images[keep]
        self.labels = None if labels is None else labels[keep]
        self.method = method
        self.color_by = color_by
        self.n_clusters = n_clusters
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.every = int(every)
        self.show = bool(show)
        self.seed = seed
        self.class_names = class_names
        self.output_index = int(output_index)
        self.paths = []
        self.last_points = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every != 0 or (self.output_dir is None and not self.show):
            return
        codes = encode_images(self.encoder, self.images, output_index=self.output_index)
        fig, points, _ = plot_projection(
            codes, self.labels, method=self.method, color_by=self.color_by,
            n_clusters=self.n_clusters, seed=self.seed, max_points=len(codes),
            class_names=self.class_names,
            title=f"{self.method.upper()} of the codes, epoch {epoch + 1}",
        )
        self.last_points = points
        path = _emit(fig, self.output_dir, f"projection_{self.method}_epoch_{epoch + 1:03d}.png",
                     self.show)
        if path is not None:
            self.paths.append(path)
