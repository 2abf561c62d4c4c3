"""`GANGuard`: stops a GAN whose losses turn NaN (keeping its last good weights) and
warns when its samples lose their diversity (mode collapse)."""

import math
import warnings
from pathlib import Path

import keras
import numpy as np


def mean_pairwise_distance(images):
    """Mean Euclidean distance between all pairs of `images` (flattened), as a float.

    Args:
        images: array `(n, ...)` with `n >= 2`.
    """
    x = np.asarray(images, np.float64).reshape(len(images), -1)
    if len(x) < 2:
        raise ValueError(f"`images` must hold at least 2 images. Received: {len(x)}")
    sq = np.sum(x * x, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    n = len(x)
    return float(np.sqrt(d2)[np.triu_indices(n, 1)].mean())


class GANGuard(keras.callbacks.Callback):
    """Guards GAN training against NaN losses and warns about mode collapse.

    NaN: after every batch the logged losses are checked; when one is NaN or
    infinite, training stops, the model is set back to the weights it had at the
    end of the last finished epoch (the last good checkpoint, also written to
    `checkpoint_path` when given) and a `RuntimeWarning` says which loss failed, at
    which epoch and batch, and what was restored. `stopped_reason` keeps that
    message (`None` while all is well).

    Collapse: at the end of every `every` epochs the model generates `n_samples`
    images from fixed noise; their mean pairwise distance divided by that of
    `n_samples` real images is logged as `diversity_ratio`. Below
    `collapse_ratio` (after `warmup_epochs`) a `UserWarning` reports a possible
    mode collapse and the epoch is added to `collapse_epochs`.

    Args:
        reference_images: real images `(m, h, w, c)` for the diversity reference
            (`None`: no collapse check).
        checkpoint_path: file for the last good weights, ending in `.weights.h5`
            (`None`: kept in memory only).
        collapse_ratio: diversity ratio below which collapse is reported.
        n_samples: images used for the diversity check.
        seed: seed of the fixed noise and of the choice of reference images.
        every: check diversity every `every` epochs.
        warmup_epochs: epochs at the start whose low diversity is logged but not
            warned about (every GAN starts out making near-identical blurs).

    Example:

    >>> guard = GANGuard(x_train[:500], checkpoint_path="run/last_good.weights.h5")
    >>> gan.fit(ds, epochs=20, callbacks=[guard])  # doctest: +SKIP
    >>> guard.stopped_reason  # None, or why training stopped
    """

    def __init__(
        self,
        reference_images=None,
        checkpoint_path=None,
        collapse_ratio=0.25,
        n_samples=256,
        seed=0,
        every=1,
        warmup_epochs=1,
    ):
        super().__init__()
        if checkpoint_path is not None and not str(checkpoint_path).endswith(".weights.h5"):
            raise ValueError(
                "`checkpoint_path` must end in '.weights.h5'. "
                f"Received: checkpoint_path={checkpoint_path!r}"
            )
        if (
            isinstance(collapse_ratio, bool)
            or not isinstance(collapse_ratio, (int, float))
            or not 0.0 <= collapse_ratio <= 1.0
        ):
            raise ValueError(
                f"`collapse_ratio` must be a number in [0, 1]. Received: collapse_ratio={collapse_ratio!r}"
            )
        for name, value, low in (
            ("n_samples", n_samples, 2),
            ("every", every, 1),
            ("warmup_epochs", warmup_epochs, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(
                    f"`{name}` must be an integer >= {low}. Received: {name}={value!r}"
                )
        self.reference_diversity = None
        if reference_images is not None:
            reference = np.asarray(reference_images, np.float32)
            if reference.ndim != 4 or len(reference) < 2:
                raise ValueError(
                    "`reference_images` must be images (m, height, width, channels) with m >= 2. "
                    f"Received: reference_images.shape={reference.shape}"
                )
            rng = np.random.default_rng(seed)
            pick = rng.choice(len(reference), min(int(n_samples), len(reference)), replace=False)
            self.reference_diversity = mean_pairwise_distance(reference[pick])
        self.checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
        self.collapse_ratio = float(collapse_ratio)
        self.n_samples = int(n_samples)
        self.seed = seed
        self.every = int(every)
        self.warmup_epochs = int(warmup_epochs)
        self.stopped_reason = None
        self.collapse_epochs = []
        self.diversity_ratios = {}
        self._good_weights = None
        self._good_epoch = None
        self._latent = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self.stopped_reason = None
        self._good_weights = None
        self._good_epoch = None
        if self.reference_diversity is not None and self._latent is None:
            self._latent = self.model.fixed_latent(self.n_samples, self.seed)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self._good_weights is None:
            # Taken here rather than at train begin: a resumed run (BackupAndRestore)
            # has restored its weights by now.
            self._good_weights = [np.array(w) for w in self.model.get_weights()]
            self._good_epoch = epoch - 1 if epoch > 0 else None

    def on_train_batch_end(self, batch, logs=None):
        if self.stopped_reason is not None or not logs:
            return
        bad = [k for k, v in logs.items() if _is_number(v) and not math.isfinite(float(v))]
        if not bad:
            return
        self.model.stop_training = True
        self.model.set_weights(self._good_weights)
        where = (
            "the weights it started with"
            if self._good_epoch is None
            else f"the weights of the end of epoch {self._good_epoch + 1}"
        )
        saved = (
            f" (saved in {self.checkpoint_path})"
            if self._good_epoch is not None and self.checkpoint_path is not None
            else ""
        )
        self.stopped_reason = (
            f"GAN training stopped: {', '.join(bad)} became NaN or infinite at epoch "
            f"{self._epoch + 1}, batch {batch + 1}. The model was set back to {where}{saved}. "
            "Lower the learning rates or check the input images for NaN values."
        )
        warnings.warn(self.stopped_reason, RuntimeWarning, stacklevel=2)

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped_reason is not None:
            return
        if logs and any(_is_number(v) and not math.isfinite(float(v)) for v in logs.values()):
            return  # an epoch-level NaN the batch check missed: keep the previous good state
        self._good_weights = [np.array(w) for w in self.model.get_weights()]
        self._good_epoch = epoch
        if self.checkpoint_path is not None:
            self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
            self.model.save_weights(self.checkpoint_path)
        if self.reference_diversity is not None and (epoch + 1) % self.every == 0:
            ratio = self.diversity_ratio()
            self.diversity_ratios[epoch] = ratio
            if logs is not None:
                logs["diversity_ratio"] = ratio
            if ratio < self.collapse_ratio and epoch >= self.warmup_epochs:
                self.collapse_epochs.append(epoch)
                warnings.warn(
                    f"Possible mode collapse at epoch {epoch + 1}: generated samples are "
                    f"{ratio:.2f} times as diverse as real images (mean pairwise distance), "
                    f"below collapse_ratio={self.collapse_ratio}.",
                    UserWarning,
                    stacklevel=2,
                )

    def diversity_ratio(self):
        """Mean pairwise distance of fixed-noise samples over the real images' one."""
        if self.reference_diversity is None:
            raise ValueError("`diversity_ratio` needs `reference_images`. Received: None")
        if self._latent is None:
            self._latent = self.model.fixed_latent(self.n_samples, self.seed)
        fake = self.model.generate(latent=self._latent)
        return mean_pairwise_distance(fake) / max(self.reference_diversity, 1e-12)


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return np.ndim(value) == 0
