"""Learned part templates, warped onto a canvas by affine poses (the PCAE's decoder).

Coordinates: the canvas and each template span `[-1, 1]` on both axes, pixel centres
evenly spaced from edge to edge (`x` across the columns, `y` down the rows). A pose is
the affine map from template to canvas coordinates, six numbers `(a, b, tx, c, d, ty)`:
`x_canvas = a x + b y + tx`, `y_canvas = c x + d y + ty`.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_unsup.checks import check_image_size, check_positive_int, check_seed

POSE_DIMS = 6


def geometric_transform(params, similarity=False):
    """Six unconstrained numbers per capsule to an affine pose `(a, b, tx, c, d, ty)`.

    As in Kosiorek et al. (2019, the official code's parametrisation): scales
    `sigmoid(.) + 0.01` (so the determinant `sx * sy` never vanishes), rotation
    `2 pi theta`, shear and translations `tanh(5 .)`; with `similarity=True` one scale
    and no shear.

    Args:
        params: `(..., 6)` tensor: `scale_x, scale_y, theta, shear, trans_x, trans_y`.
        similarity: a similarity transform instead of a general affine one.

    Returns:
        `(..., 6)` pose tensor.
    """
    sx, sy, theta, shear, tx, ty = [params[..., i:i + 1] for i in range(POSE_DIMS)]
    sx = ops.sigmoid(sx) + 1e-2
    sy = ops.sigmoid(sy) + 1e-2
    tx, ty, shear = ops.tanh(5.0 * tx), ops.tanh(5.0 * ty), ops.tanh(5.0 * shear)
    theta = theta * (2.0 * math.pi)
    c, s = ops.cos(theta), ops.sin(theta)
    if similarity:
        pose = [sx * c, -sx * s, tx, sx * s, sx * c, ty]
    else:
        pose = [sx * c + shear * sy * s, -sx * s + shear * sy * c, tx, sy * s, sy * c, ty]
    return ops.concatenate(pose, axis=-1)


def pose_matrix(pose):
    """`(..., 6)` poses as `(..., 3, 3)` homogeneous matrices (last row `0 0 1`)."""
    rows = ops.reshape(pose, (*ops.shape(pose)[:-1], 2, 3))
    last = ops.concatenate([ops.zeros_like(rows[..., :1, :2]), ops.ones_like(rows[..., :1, :1])],
                           axis=-1)
    return ops.concatenate([rows, last], axis=-2)


def warp_templates(templates, pose, canvas_size):
    """Bilinear warp of a bank of templates onto a canvas, one pose per template.

    Each canvas pixel is mapped back into its template by the inverse pose and sampled
    bilinearly; outside the template the value is 0. Differentiable in the templates
    and in the poses (TransformImage of Kosiorek et al., 2019, Eq. 6).

    Args:
        templates: `(n_templates, h, w, channels)`.
        pose: `(batch, n_templates, 6)` affine poses (see the module docstring).
        canvas_size: `(height, width)` of the canvas.

    Returns:
        `(batch, n_templates, height, width, channels)`.
    """
    return warp_template_banks([templates], pose, canvas_size)[0]


def warp_template_banks(banks, pose, canvas_size):
    """`warp_templates` of several banks of the same `(n_templates, h, w)` under the same
    poses (e.g. the templates' values and their alpha channel), the sampling grid
    computed once.

    Each bank is warped on its own rather than as one concatenated bank: slicing the
    channels apart afterwards costs a copy of the warped canvas each way (about 15% of
    an SCAE training step on a CPU; the values are the same).

    Args:
        banks: a list of `(n_templates, h, w, channels_i)` tensors.
        pose: `(batch, n_templates, 6)` affine poses.
        canvas_size: `(height, width)` of the canvas.

    Returns:
        A list of `(batch, n_templates, height, width, channels_i)` tensors.
    """
    height, width = canvas_size
    n, h, w = banks[0].shape[:3]
    ys, xs = np.meshgrid(np.linspace(-1.0, 1.0, height), np.linspace(-1.0, 1.0, width),
                         indexing="ij")
    xs = ops.convert_to_tensor(xs.reshape(-1).astype("float32"))
    ys = ops.convert_to_tensor(ys.reshape(-1).astype("float32"))
    a, b, tx, c, d, ty = [pose[..., i:i + 1] for i in range(POSE_DIMS)]  # (batch, n, 1)
    det = a * d - b * c
    dx, dy = xs - tx, ys - ty  # (batch, n, hw)
    xt = (d * dx - b * dy) / det
    yt = (a * dy - c * dx) / det
    col = (xt + 1.0) * (0.5 * (w - 1))
    row = (yt + 1.0) * (0.5 * (h - 1))
    col0, row0 = ops.floor(col), ops.floor(row)
    fc, fr = col - col0, row - row0
    batch = ops.shape(pose)[0]
    # One gather per corner from a single table of every template's pixels, with a zero
    # row for samples outside their template: no per-image copy of the templates, and
    # the gradient is one scatter into the table (about 2x faster a training step than
    # `take_along_axis` on templates broadcast to the batch; the same values).
    tables = [ops.concatenate([ops.reshape(t, (n * h * w, t.shape[-1])),
                               ops.zeros((1, t.shape[-1]), t.dtype)], axis=0) for t in banks]
    first = ops.reshape(ops.arange(n, dtype="int32") * (h * w), (1, n, 1))
    outs = [0.0] * len(banks)
    for dr, dc in ((0, 0), (0, 1), (1, 0), (1, 1)):
        r, cc = row0 + dr, col0 + dc
        inside = (r >= 0) & (r <= h - 1) & (cc >= 0) & (cc <= w - 1)
        weight = ((fr if dr else 1.0 - fr) * (fc if dc else 1.0 - fc))[..., None]
        index = ops.cast(ops.clip(r, 0, h - 1) * w + ops.clip(cc, 0, w - 1), "int32") + first
        index = ops.where(inside, index, n * h * w)
        outs = [out + ops.take(table, index, axis=0) * weight
                for out, table in zip(outs, tables)]
    return [ops.reshape(out, (batch, n, height, width, t.shape[-1]))
            for out, t in zip(outs, banks)]


@keras.saving.register_keras_serializable(package="keras_unsup")
class AffineTemplates(keras.layers.Layer):
    """The part decoder of the Part Capsule Autoencoder (Kosiorek et al., NeurIPS 2019).

    Holds `n_templates` learned templates `T_m` (values in [0, 1] and an alpha channel
    `T^a_m` in [0, 1]) and a learned background (a grey value and its mixing logit).
    Given each part's pose `x_m`, presence `d_m` and intensity `c_m`, it returns the
    components of the image mixture: the means `c_m * T^c_m` of the transformed templates
    (Eq. 6) and their mixing logits `log d_m + log T^a_m` (Eq. 7: `p_m ∝ d_m T^a_m`), the
    background as a last component. `template_mixture_log_likelihood`
    (`keras_unsup.models.scae`) scores an image under them (Eq. 8).

    Args:
        n_templates: templates (one per part capsule), >= 1.
        template_size: `(h, w)` or an int (square).
        canvas_size: `(height, width)` or an int (square) of the images decoded.
        channels: image channels.
        seed: seed of the templates' initialisation.

    Call arguments:
        pose: `(batch, n_templates, 6)` affine poses.
        presence: `(batch, n_templates)` presence probabilities `d_m`.
        intensity: `(batch, n_templates, channels)` intensities `c_m` (default 1).

    Returns:
        `(means, mixing_logits)`: `(batch, n_templates + 1, height, width, channels)` and
        `(batch, n_templates + 1, height, width, 1)`.
    """

    def __init__(self, n_templates, template_size=11, canvas_size=40, channels=1, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.n_templates = check_positive_int(n_templates, "n_templates")
        if isinstance(template_size, int):
            template_size = (template_size, template_size)
        if isinstance(canvas_size, int):
            canvas_size = (canvas_size, canvas_size)
        self.template_size = check_image_size(template_size, "template_size", allow_none=False)
        self.canvas_size = check_image_size(canvas_size, "canvas_size", allow_none=False)
        if any(t > c for t, c in zip(self.template_size, self.canvas_size)):
            raise ValueError(f"`template_size` must fit the canvas ({self.canvas_size}). "
                             f"Received: template_size={self.template_size}")
        self.channels = check_positive_int(channels, "channels")
        self.seed = check_seed(seed)

    def build(self, pose_shape, presence_shape=None, intensity_shape=None):
        h, w = self.template_size
        n_elems = h * w * self.channels
        # Templates orthogonal to each other at the start (as the official code does),
        # stored as logits of a sigmoid in [-1, 1] (values 0.27 to 0.73): logits near the
        # sigmoid's flat ends would take an optimizer thousands of steps to move.
        rng = np.random.default_rng(self.seed)
        size = max(self.n_templates, n_elems)
        q = np.linalg.qr(rng.uniform(size=(size, size)))[0][:self.n_templates, :n_elems]
        logits = 2.0 * (q - q.min()) / (q.max() - q.min()) - 1.0
        init = logits.reshape(self.n_templates, h, w, self.channels).astype("float32")
        self.template_logits = self.add_weight(
            name="template_logits", shape=init.shape,
            initializer=keras.initializers.Constant(init))
        self.alpha_logits = self.add_weight(name="alpha_logits",
                                            shape=(self.n_templates, h, w, 1),
                                            initializer="zeros")
        self.background_logit = self.add_weight(name="background_logit", shape=(self.channels,),
                                                initializer="zeros")
        self.background_mixing_logit = self.add_weight(name="background_mixing_logit",
                                                       shape=(1,), initializer="zeros")
        self.built = True

    def templates(self):
        """The templates `(n_templates, h, w, channels)` and their alpha `(..., 1)`."""
        return ops.sigmoid(self.template_logits), ops.sigmoid(self.alpha_logits)

    def call(self, pose, presence, intensity=None):
        values, alpha = self.templates()
        values, alpha = warp_template_banks([values, alpha], pose, self.canvas_size)
        if intensity is not None:
            values = values * intensity[:, :, None, None, :]
        batch = ops.shape(pose)[0]
        height, width = self.canvas_size
        background = ops.broadcast_to(ops.sigmoid(self.background_logit),
                                      (batch, 1, height, width, self.channels))
        means = ops.concatenate([values, background], axis=1)
        logits = ops.log(ops.maximum(alpha, 1e-5)) \
            + ops.log(ops.maximum(presence, 1e-5))[:, :, None, None, None]
        bg_logit = ops.broadcast_to(self.background_mixing_logit, (batch, 1, height, width, 1))
        return means, ops.concatenate([logits, bg_logit], axis=1)

    def compute_output_shape(self, pose_shape, presence_shape=None, intensity_shape=None):
        batch = pose_shape[0]
        shape = (batch, self.n_templates + 1, *self.canvas_size)
        return (*shape, self.channels), (*shape, 1)

    def get_config(self):
        config = super().get_config()
        config.update(n_templates=self.n_templates, template_size=list(self.template_size),
                      canvas_size=list(self.canvas_size), channels=self.channels,
                      seed=self.seed)
        return config


__all__ = ["AffineTemplates", "POSE_DIMS", "geometric_transform", "pose_matrix", "warp_template_banks",
           "warp_templates"]
