"""Functional builders of the Stacked Capsule Autoencoder's networks (Kosiorek et al., 2019).

- `build_part_encoder`: the PCAE's CNN encoder, a canvas image to part capsules
  (pose, presence, special features, template intensity);
- `build_object_encoder`: the OCAE's encoder, a set of parts to object capsules and
  their votes (a Set Transformer, then `ObjectCapsuleVotes`).

The training logic (likelihoods, sparsity losses) is in `keras_unsup.models.scae`.
"""

import keras

from keras_unsup.checks import (
    check_choice,
    check_input_shape,
    check_int,
    check_positive_int,
    check_units,
)
from keras_unsup.layers.affine_templates import POSE_DIMS
from keras_unsup.layers.object_capsule_votes import ObjectCapsuleVotes
from keras_unsup.layers.part_capsule_head import PartCapsuleHead
from keras_unsup.layers.set_transformer import SetTransformer


def valid_output_side(side, strides):
    """The side of the feature map left by 3x3 convolutions of `strides` with valid
    padding on a canvas of `side` (< 1: nothing left)."""
    for stride in strides:
        side = (side - 3) // stride + 1
    return side


def build_part_encoder(input_shape, n_parts, *, n_features=16, filters=(32, 32, 64, 64),
                       strides=None, padding="same", noise_scale=4.0, seed=None,
                       name="part_encoder"):
    """The PCAE's encoder: a ConvNet and a `PartCapsuleHead` (Kosiorek et al., 2019, Eq. 5).

    The official code uses four 3x3 convolutions of 128 filters, strides 2, 2, 1, 1,
    `"valid"` padding; the default here is narrower, for CPUs.

    Args:
        input_shape: `(height, width, channels)` of the canvas.
        n_parts: part capsules `M`, >= 1.
        n_features: special features per part.
        filters: filters of the 3x3 convolutions (ReLU).
        strides: their strides (as many as `filters`; default 2 for the first two, 1 after).
        padding: `"same"` (any canvas size works) or `"valid"` (the official code's; the
            canvas must leave at least one position after the last convolution).
        noise_scale: uniform noise on presence logits while training.
        seed: seed of the noise.
        name: the model's name.

    Returns:
        A Functional model from images to `(pose (b, M, 6), presence (b, M),
        special_features (b, M, n_features), intensity (b, M, channels))`.
    """
    input_shape = check_input_shape(input_shape)
    n_parts = check_positive_int(n_parts, "n_parts")
    filters = check_units(filters, "filters", allow_empty=False)
    if strides is None:
        strides = [2 if i < 2 else 1 for i in range(len(filters))]
    strides = check_units(strides, "strides", allow_empty=False)
    if len(strides) != len(filters):
        raise ValueError(f"`strides` must have one entry per filter count ({len(filters)}). "
                         f"Received: strides={list(strides)}")
    check_choice(padding, "padding", ("same", "valid"))
    if padding == "valid":
        side = valid_output_side(min(input_shape[:2]), strides)
        if side < 1:
            raise ValueError(f"With padding='valid' the canvas {tuple(input_shape[:2])} is too "
                             f"small for {len(filters)} 3x3 convolutions of strides "
                             f"{list(strides)}. Received: input_shape={tuple(input_shape)}")
    inputs = keras.Input(input_shape, name="canvas")
    x = inputs
    for i, (f, s) in enumerate(zip(filters, strides)):
        x = keras.layers.Conv2D(f, 3, strides=s, padding=padding, activation="relu",
                                name=f"conv_{i + 1}")(x)
    outputs = PartCapsuleHead(n_parts, n_features=n_features, channels=input_shape[-1],
                              noise_scale=noise_scale, seed=seed, name="part_capsules")(x)
    return keras.Model(inputs, outputs, name=name)


def build_object_encoder(n_parts, part_dims, n_objects, *, n_votes=None, vote_dims=POSE_DIMS,
                         dim=64, num_heads=4, num_blocks=2, output_dim=128, n_features=32,
                         hidden=128, similarity=False, noise_scale=4.0, pooling="mab",
                         masking="log", normalize_parts=False, seed=None,
                         name="object_encoder"):
    """The OCAE's encoder: a Set Transformer over the parts, then object capsules
    (Kosiorek et al., 2019, Eq. 1-2).

    Args:
        n_parts: parts per set (the part capsules `M`, or the points of a constellation).
        part_dims: features describing each part (e.g. pose, presence, special features
            and flattened template).
        n_objects: object capsules `K`, >= 1.
        n_votes: votes per object (default `n_parts`: one per part, in order).
        vote_dims: `6` (affine poses) or `2` (points).
        dim, num_heads, num_blocks: the Set Transformer's width, heads and blocks.
        output_dim: width of each object's encoding.
        n_features, hidden: the object capsules' feature width and MLP width.
        similarity: similarity transforms for OV and OP.
        pooling: the Set Transformer's pooling onto the object capsules (`"mab"` or
            `"attention"`, see `SetTransformer`).
        masking: how the parts' presences mask its attention (`"log"` or `"hard"`, the
            official code's; see `MultiheadAttentionBlock`).
        noise_scale: uniform noise on presence logits while training.
        normalize_parts: batch-normalise each feature of each part (over the batch; each
            part has its own statistics, scale and offset) before the Set Transformer.
            For parts with an identity (the image model's part `m` is template `m`),
            not for interchangeable points. Not in the official code: it makes the
            small image-to-image changes of the part poses visible to the encoder from
            the first steps (on cached digit parts, 2,000 steps: k-means ACC on the
            presences 0.458 against 0.314, `benchmarks/scae_cached_ocae.py`).
        seed: seed of the noise.
        name: the model's name.

    Returns:
        A Functional model from `[parts (b, n_parts, part_dims), presence (b, n_parts)]`
        to `ObjectCapsuleVotes`' six outputs.
    """
    n_parts = check_positive_int(n_parts, "n_parts")
    part_dims = check_positive_int(part_dims, "part_dims")
    n_objects = check_positive_int(n_objects, "n_objects")
    n_votes = check_positive_int(n_parts if n_votes is None else n_votes, "n_votes")
    check_choice(vote_dims, "vote_dims", (2, POSE_DIMS))
    check_int(num_blocks, "num_blocks", 0)
    parts = keras.Input((n_parts, part_dims), name="parts")
    presence = keras.Input((n_parts,), name="presence")
    x = parts
    if normalize_parts:
        # One statistic per (part, feature): keras' BatchNormalization takes one axis.
        x = keras.layers.Flatten(name="flat_parts")(x)
        x = keras.layers.BatchNormalization(name="part_normalization")(x)
        x = keras.layers.Reshape((n_parts, part_dims), name="normalized_parts")(x)
    h = SetTransformer(n_objects, dim=dim, output_dim=output_dim, num_heads=num_heads,
                       num_blocks=num_blocks, pooling=pooling, masking=masking,
                       name="set_transformer")(x, presence)
    outputs = ObjectCapsuleVotes(n_votes, n_features=n_features, hidden=hidden,
                                 vote_dims=vote_dims, similarity=similarity,
                                 noise_scale=noise_scale, seed=seed, name="object_capsules")(h)
    return keras.Model([parts, presence], outputs, name=name)


__all__ = ["build_object_encoder", "build_part_encoder", "valid_output_side"]
