"""The likelihoods and sparsity losses of the Stacked Capsule Autoencoder, as keras.ops
functions (Kosiorek, Sabour, Teh, Hinton, "Stacked Capsule Autoencoders", NeurIPS 2019).

Shapes: `b` images (or sets), `M` parts (`P` points), `K` objects, `V` votes.
"""

import math

import keras
from keras import ops

LOG_2PI = math.log(2.0 * math.pi)
# The official code's catch-all component: density and mixing weight 0.01, so that a
# part no object explains costs a bounded amount.
DUMMY_LOG = -2.0 * math.log(10.0)


def gaussian_log_prob(x, mean, scale):
    """Elementwise log density of `N(mean, scale^2)` at `x`."""
    z = (x - mean) / scale
    return -0.5 * ops.square(z) - ops.log(scale) - 0.5 * LOG_2PI


def template_mixture_log_likelihood(images, means, mixing_logits, pixel_scale):
    """Log-likelihood of each image under the PCAE's mixture (Eq. 8 of the paper).

    `p(y) = prod_ij sum_m p_mij N(y_ij | mu_mij, sigma^2)`, with `p_mij` the softmax of
    the mixing logits over the components (the templates and the background).

    Args:
        images: `(b, H, W, C)`.
        means: `(b, M + 1, H, W, C)` (see `AffineTemplates`).
        mixing_logits: `(b, M + 1, H, W, 1)`.
        pixel_scale: `sigma`, the pixels' standard deviation.

    Returns:
        `(b,)`: the sum over pixels of the log mixture density.
    """
    log_mix = mixing_logits - ops.logsumexp(mixing_logits, axis=1, keepdims=True)
    log_prob = ops.sum(gaussian_log_prob(images[:, None], means, pixel_scale), axis=-1)
    per_pixel = ops.logsumexp(log_mix[..., 0] + log_prob, axis=1)
    return ops.sum(per_pixel, axis=(1, 2))


def mixture_mean(means, mixing_logits):
    """The mean image of the mixture `(b, H, W, C)` (its reconstruction)."""
    return ops.sum(ops.softmax(mixing_logits, axis=1) * means, axis=1)


def part_pose_log_likelihood(x, presence, votes, scales, vote_presence, normalize=True):
    """Log-likelihood of part poses under the objects' votes (Eq. 3-4 of the paper).

    `p(x_m) = sum_v w_vm N(x_m | mu_vm, lambda_vm^2 I)` with mixing weights `w_vm`: the
    vote presences `a_k a_kn` and a catch-all component (density and weight 0.01, as the
    official code), normalised over the votes for each part (`normalize=True`, Eq. 3 and
    the official constellation model) or not (`normalize=False`: the official image
    model's `CapsuleLikelihood`, whose score then also rewards present votes). A part's
    term is weighted by its presence. The posterior is the same either way.

    Votes are either ordered (`(b, K, M, D)`: object `k`'s vote `m` is for part `m`,
    the image model) or shared by all parts (`(b, V, 1, D)`: every part may come from
    every vote, the constellation model); scales and presences have the same layout
    without `D`.

    Args:
        x: part poses `(b, M, D)`.
        presence: part presences `(b, M)`.
        votes: `(b, V, M or 1, D)`.
        scales: `(b, V, M or 1)`.
        vote_presence: `(b, V, M or 1)`.
        normalize: normalise the mixing weights over the votes.

    Returns:
        `(log_likelihood (b,), posterior (b, V, M))`: the posterior is each vote's
        responsibility for each part (the catch-all left out).
    """
    log_prob = ops.sum(gaussian_log_prob(x[:, None], votes, scales[..., None]), axis=-1)
    log_prob = log_prob + ops.zeros_like(x[:, None, :, 0])  # broadcast to (b, V, M)
    logits = ops.log(ops.maximum(vote_presence, 1e-16)) + ops.zeros_like(log_prob)
    dummy = ops.zeros_like(log_prob[:, :1]) + DUMMY_LOG
    logits = ops.concatenate([logits, dummy], axis=1)
    if normalize:
        logits = logits - ops.logsumexp(logits, axis=1, keepdims=True)
    joint = logits + ops.concatenate([log_prob, dummy], axis=1)
    per_part = ops.logsumexp(joint, axis=1)
    posterior = ops.softmax(joint, axis=1)[:, :-1]
    return ops.sum(per_part * presence, axis=1), posterior


def prior_sparsity_losses(object_presence, n_classes, within_constant=None):
    """The prior sparsity losses on object presences `u_bk` (Sec. 2.3 of the paper; the
    official code's `l2` form).

    Within an example, the presences should sum to `within_constant` (default
    `K / n_classes`: one class's share of the capsules); across a batch each capsule's
    presences should sum to `b / n_classes` (each capsule used by one class's share of
    the examples).

    Returns:
        `(within, between)`: both penalties (to add to the loss).
    """
    k = object_presence.shape[-1]
    b = ops.cast(ops.shape(object_presence)[0], object_presence.dtype)
    within_constant = k / n_classes if within_constant is None else within_constant
    within = ops.mean(ops.square(ops.sum(object_presence, axis=1) - within_constant))
    between = ops.mean(ops.square(ops.sum(object_presence, axis=0) - b / n_classes))
    return within, between


def _entropy(p, axis):
    p = p / (ops.sum(p, axis=axis, keepdims=True) + 1e-8)
    return -ops.sum(p * ops.log(ops.maximum(p, 1e-16)), axis=axis)


def posterior_sparsity_losses(mass):
    """The posterior sparsity losses (Sec. 2.3 of the paper; the official `entropy` form).

    `mass (b, K)`: the share of each example's parts each object explains. The entropy
    within an example should be low (few objects explain it); the entropy of the
    batch's total per object high (every object explains some examples).

    Returns:
        `(within, between)`: add `within`, subtract `between`.
    """
    within = ops.mean(_entropy(mass, axis=1))
    between = _entropy(ops.sum(mass, axis=0), axis=0)
    return within, between


def place_on_canvas(images, canvas_size, offsets):
    """Pads images onto a larger canvas at the given offsets (row, column) per image.

    The paper trains on 28x28 MNIST placed at random in a 40x40 canvas. Done as two
    one-hot matrix products, so each image of a batch gets its own shift in the graph.

    Args:
        images: `(b, h, w, c)`.
        canvas_size: `(H, W)`, at least the image size.
        offsets: int `(b, 2)`, in `[0, H - h] x [0, W - w]`.

    Returns:
        `(b, H, W, c)`.
    """
    h, w = images.shape[1], images.shape[2]
    height, width = canvas_size
    rows = ops.arange(height)[None, :, None] - ops.cast(offsets[:, :1, None], "int32")
    cols = ops.arange(width)[None, :, None] - ops.cast(offsets[:, 1:, None], "int32")
    place_rows = ops.cast(rows == ops.arange(h)[None, None, :], images.dtype)  # (b, H, h)
    place_cols = ops.cast(cols == ops.arange(w)[None, None, :], images.dtype)  # (b, W, w)
    return ops.einsum("bih,bhwc,bjw->bijc", place_rows, images, place_cols)


def random_offsets(batch, max_offset, seed_generator):
    """Uniform integer offsets `(batch, 2)` in `[0, max_offset]` (rows, columns)."""
    rows = keras.random.randint((batch, 1), 0, max_offset[0] + 1, seed=seed_generator)
    cols = keras.random.randint((batch, 1), 0, max_offset[1] + 1, seed=seed_generator)
    return ops.concatenate([rows, cols], axis=1)


def centre_offsets(batch, max_offset):
    """The offsets `(batch, 2)` that centre images on the canvas."""
    centre = ops.convert_to_tensor([[max_offset[0] // 2, max_offset[1] // 2]], "int32")
    return ops.broadcast_to(centre, (batch, 2))
