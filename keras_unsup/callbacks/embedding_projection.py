"""`EmbeddingProjection`: an encoder's codes during `fit`, as 2-D maps and TensorBoard exports."""

from pathlib import Path

import keras
import numpy as np

from keras_unsup.checks import check_bool, check_choice, check_int, check_positive_int, check_seed
from keras_unsup.embedding.encoding import check_images, encode_images, expected_input_shape
from keras_unsup.embedding.plots import COLOR_BY, plot_projection
from keras_unsup.embedding.projection import PROJECTION_METHODS
from keras_unsup.embedding.projector import check_tensor_name, export_projector


class EmbeddingProjection(keras.callbacks.Callback):
    """Maps the encoder's codes of fixed images to 2-D, and/or exports them, as training goes.

    After every `every`-th epoch, and after the last one if it was not already due, the
    images are encoded once and the codes are

    - projected with `project_embeddings` (`method`: PCA, t-SNE or UMAP) and drawn,
      coloured by label, by k-means cluster or not at all, into
      `output_dir/projection_{method}_epoch_{epoch:03d}.png` (epochs from 1) and/or
      the notebook's output (`show=True`); with neither, no map is drawn;
    - exported for TensorBoard's Embedding Projector into `projector_dir`, when given
      (`export_projector`: the codes, a sprite of the images and the labels). With
      `keep_epochs=True` each export is its own tensor (`embedding_epoch_003`, ...),
      so the projector's drop-down compares epochs; otherwise one tensor is replaced.
      Open with `tensorboard --logdir PROJECTOR_DIR`, "Projector" tab.

    Labels only annotate: nothing trains on them. t-SNE and UMAP take seconds per map
    on thousands of points: keep `"pca"` (the default) or a larger `every` on long runs.

    Args:
        encoder: a Keras model (or callable on a NumPy batch) from images to codes; it
            shares its weights with the model being trained. With several outputs (a
            VAE's `[z_mean, z_log_var, z]`) `output_index` picks one (0, the mean).
        images: images `(n, *input_shape)`; at most `max_points` of them (a fixed,
            seeded subset) are used, the same ones at every epoch.
        labels: optional labels `(n,)`.
        method: `"pca"`, `"tsne"` or `"umap"`.
        color_by: `"label"`, `"cluster"` (k-means with `n_clusters` on the codes) or
            `"none"`; `None`: `"label"` when labels are given, else `"none"`.
        n_clusters: clusters for `color_by="cluster"`.
        output_dir: folder for the maps (created when missing); `None` saves none.
        every: draw and export after every `every`-th epoch.
        show: display the maps inline (needs IPython, i.e. a notebook).
        projector_dir: folder of the TensorBoard projector export; `None` exports nothing.
        keep_epochs: one projector tensor per export instead of one replaced tensor.
        tensor_name: the projector tensor's name (the stem of its files).
        seed: seed of the subset, the projection and k-means, so epochs are comparable.
        class_names: optional names of integer labels (a sequence or a dict).
        max_points: the most images encoded, drawn and exported (>= 2; the projector's
            sprite shrinks its thumbnails to stay within 8192 px).
        output_index: which encoder output is the code.

    Attributes:
        index: the sorted positions in `images` of the images used.
        paths: the maps written so far.
        last_points: the latest `(m, 2)` projection (`None` before the first).
        exported_epochs: the epochs (from 1) exported to the projector so far.
        config_path: the `projector_config.pbtxt` written last, or `None`.

    Example:

    >>> callback = EmbeddingProjection(encoder, x_test[:2000], y_test[:2000], method="pca",
    ...                                output_dir="run/maps", projector_dir="logs/ae", every=5)
    >>> autoencoder.fit(x_train, x_train, epochs=20, callbacks=[callback])  # doctest: +SKIP
    """

    def __init__(self, encoder, images, labels=None, *, method="pca", color_by=None,
                 n_clusters=10, output_dir=None, every=1, show=False, projector_dir=None,
                 keep_epochs=False, tensor_name="embedding", seed=0, class_names=None,
                 max_points=5000, output_index=0):
        super().__init__()
        if not callable(encoder):
            raise ValueError(
                f"`encoder` must be a Keras model or a callable. Received: encoder={encoder!r}")
        check_choice(method, "method", PROJECTION_METHODS)
        if color_by is None:
            color_by = "label" if labels is not None else "none"
        check_choice(color_by, "color_by", COLOR_BY)
        if color_by == "label" and labels is None:
            raise ValueError("`color_by='label'` needs `labels`. Received: labels=None")
        images = check_images(images, expected_input_shape(encoder))
        if len(images) < 2:
            raise ValueError(
                f"`images` must hold at least 2 images. Received: images.shape={images.shape}")
        if labels is not None:
            labels = np.asarray(labels).reshape(-1)
            if len(labels) != len(images):
                raise ValueError(f"`labels` must hold one label per image ({len(images)}). "
                                 f"Received: {len(labels)} labels")
        max_points = check_int(max_points, "max_points", 2)
        if color_by == "cluster":
            check_int(n_clusters, "n_clusters", 1, min(len(images), max_points))
        seed = check_seed(seed)

        # Subset once, here: encoding a large set every epoch only to drop most codes
        # in the projection would waste the time.
        self.index = np.arange(len(images))
        if len(images) > max_points:
            rng = np.random.default_rng(seed)
            self.index = np.sort(rng.choice(len(images), size=max_points, replace=False))
        self.encoder = encoder
        self.images = images[self.index]
        self.labels = None if labels is None else labels[self.index]
        self.method = method
        self.color_by = color_by
        self.n_clusters = int(n_clusters)
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.every = check_positive_int(every, "every")
        self.show = check_bool(show, "show")
        self.projector_dir = None if projector_dir is None else Path(projector_dir)
        self.keep_epochs = check_bool(keep_epochs, "keep_epochs")
        self.tensor_name = check_tensor_name(tensor_name)
        self.seed = seed
        self.class_names = class_names
        self.max_points = max_points
        self.output_index = check_int(output_index, "output_index")
        self.paths = []
        self.last_points = None
        self.exported_epochs = []
        self.config_path = None
        self._done_epochs = set()
        self._last_epoch = None

    @property
    def draws(self):
        """Whether maps are drawn (somewhere to save or show them)."""
        return self.output_dir is not None or self.show

    def codes(self):
        """The encoder's current codes of the images, `(m, d)` float32."""
        return encode_images(self.encoder, self.images, output_index=self.output_index)

    def draw(self, epoch=None, codes=None):
        """Projects and draws the codes now; returns the path written, or `None`."""
        from keras_unsup import viz

        codes = self.codes() if codes is None else codes
        suffix = "" if epoch is None else f", epoch {epoch}"
        fig, points, _ = plot_projection(
            codes, self.labels, method=self.method, color_by=self.color_by,
            n_clusters=self.n_clusters, seed=self.seed, max_points=len(codes),
            class_names=self.class_names, title=f"{self.method.upper()} of the codes{suffix}",
        )
        self.last_points = points
        path = None
        if self.output_dir is not None:
            name = f"projection_{self.method}" + ("" if epoch is None else f"_epoch_{epoch:03d}")
            path = self.output_dir / f"{name}.png"
        path = viz.save_figure(fig, path, close=True, show=self.show)
        if path is not None:
            self.paths.append(path)
        return path

    def export(self, epoch=None, codes=None):
        """Writes the projector export now; returns the path of its config."""
        if self.projector_dir is None:
            raise ValueError("`export` needs `projector_dir`. Received: projector_dir=None")
        codes = self.codes() if codes is None else codes
        name = self.tensor_name
        if self.keep_epochs and epoch is not None:
            name = f"{self.tensor_name}_epoch_{epoch:03d}"
        self.config_path = export_projector(
            codes, self.projector_dir, images=self.images, labels=self.labels,
            class_names=self.class_names, tensor_name=name,
        )
        if epoch is not None:
            self.exported_epochs.append(epoch)
        return self.config_path

    def _at(self, epoch):
        if epoch in self._done_epochs or not (self.draws or self.projector_dir is not None):
            return
        self._done_epochs.add(epoch)
        codes = self.codes()  # encoded once for the map and the export
        if self.draws:
            self.draw(epoch, codes)
        if self.projector_dir is not None:
            self.export(epoch, codes)

    def on_train_begin(self, logs=None):
        self._done_epochs = set()  # a second `fit` counts its epochs afresh
        self._last_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        self._last_epoch = epoch + 1
        if (epoch + 1) % self.every == 0:
            self._at(epoch + 1)

    def on_train_end(self, logs=None):
        if self._last_epoch is not None:
            self._at(self._last_epoch)
