"""Stacked Capsule Autoencoders (Kosiorek, Sabour, Teh, Hinton, NeurIPS 2019).

- `PCAE`, the Part Capsule Autoencoder: a CNN finds `M` part capsules (pose, presence,
  special features) in an image; the image is scored under a mixture of the parts'
  affine-transformed learned templates over a learned background (Eq. 5-8).
- `OCAE`, the Object Capsule Autoencoder: a Set Transformer turns a set of parts into
  `K` object capsules, which vote for the parts' poses; the parts are scored under the
  votes' Gaussian mixture (Eq. 1-4), with the prior and posterior sparsity losses on
  the object presences (Sec. 2.3). Trained alone on 2-D points, it is the paper's
  constellation experiment.
- `SCAE`: both, trained jointly end to end on images placed at random on a larger canvas;
  as in the official code, the OCAE sees the parts through a stop-gradient, so each
  autoencoder follows its own likelihood. The object presences are what is clustered.
"""

import keras
from keras import ops

from keras_unsup.checks import (
    check_bool,
    check_input_shape,
    check_number,
    check_positive_int,
    check_seed,
)
from keras_unsup.models import _capsules as caps
from keras_unsup.models._serialization import SubModelConfig
from keras_unsup.models._training import descend


def _images(data):
    return data[0] if isinstance(data, (tuple, list)) else data


class _Trackers:
    """Loss trackers named in `tracked`, listed by `metrics`, and the train and test steps
    on `self._loss(inputs, training) -> (loss, values)`."""

    tracked = ("loss",)

    def _make_trackers(self):
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.tracked}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _update(self, values):
        for name, tracker in self.trackers.items():
            tracker.update_state(values[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def _inputs(self, data):
        return _images(data)

    def train_step(self, data):
        _, values = descend(self.optimizer, self.trainable_weights,
                            lambda: self._loss(self._inputs(data), True))
        return self._update(values)

    def test_step(self, data):
        return self._update(self._loss(self._inputs(data), False)[1])


@keras.saving.register_keras_serializable(package="keras_unsup")
class PCAE(_Trackers, SubModelConfig, keras.Model):
    """Part Capsule Autoencoder (Kosiorek et al., NeurIPS 2019, Sec. 2.2, Eq. 5-8).

    Images of `image_shape` are placed on the canvas of the templates (at a random
    offset while training, centred otherwise); the part encoder finds part capsules in
    the canvas, and the loss is the negative log-likelihood of the canvas under the
    template mixture (`template_mixture_log_likelihood`).

    Args:
        part_encoder: from `build_part_encoder(canvas_shape, M)`.
        templates: an `AffineTemplates` layer with `M` templates on the same canvas.
        image_shape: `(height, width, channels)` of the images (at most the canvas, at
            least the template size).
        pixel_scale: the pixels' standard deviation `sigma` in the likelihood.
        seed: seed of the random placements.

    Call arguments:
        images: `(batch, height, width, channels)`, centred on the canvas.

    Returns:
        The part capsules, `(batch, M * (7 + n_features))`: pose, presence and
        special features of each part, flattened.
    """

    sub_models = ("part_encoder", "templates")
    config_fields = ("image_shape", "pixel_scale", "seed")
    tracked = ("loss", "image_ll")

    def __init__(self, part_encoder, templates, image_shape, pixel_scale=0.25, seed=None,
                 **kwargs):
        image_shape = check_input_shape(image_shape, "image_shape")
        pixel_scale = check_number(pixel_scale, "pixel_scale", 0.0, low_open=True)
        seed = check_seed(seed)
        canvas = tuple(templates.canvas_size)
        if any(i > c for i, c in zip(image_shape[:2], canvas)):
            raise ValueError(f"The canvas {canvas} must be at least as large as the images. "
                             f"Received: image_shape={image_shape}")
        if any(i < t for i, t in zip(image_shape[:2], templates.template_size)):
            raise ValueError(f"The images must be at least as large as the templates "
                             f"({tuple(templates.template_size)}). Received: "
                             f"image_shape={image_shape}")
        wanted = (*canvas, image_shape[-1])
        if tuple(part_encoder.input_shape[1:]) != wanted:
            raise ValueError(f"`part_encoder` must take canvases of shape {wanted}. Received: "
                             f"input shape {tuple(part_encoder.input_shape[1:])}")
        n_parts = part_encoder.output_shape[0][1]
        if n_parts != templates.n_templates:
            raise ValueError(f"`templates` must hold one template per part ({n_parts}). "
                             f"Received: n_templates={templates.n_templates}")
        kwargs.setdefault("name", "pcae")
        super().__init__(**kwargs)
        self.part_encoder = part_encoder
        self.templates = templates
        self.image_shape = list(image_shape)
        self.pixel_scale = pixel_scale
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.canvas_size = canvas
        self.max_offset = (canvas[0] - image_shape[0], canvas[1] - image_shape[1])
        self.n_parts = n_parts
        if not templates.built:
            templates.build((None, n_parts, 6))
        self._make_trackers()
        self.built = True

    def place(self, images, training=False):
        """Images on the canvas: at random offsets (`training`) or centred."""
        batch = ops.shape(images)[0]
        if training:
            offsets = caps.random_offsets(batch, self.max_offset, self.seed_generator)
        else:
            offsets = caps.centre_offsets(batch, self.max_offset)
        return caps.place_on_canvas(images, self.canvas_size, offsets)

    def parts(self, canvas, training=False):
        """The part capsules of canvases: a dict of `pose (b, M, 6)`, `presence (b, M)`,
        `features (b, M, F)` and `intensity (b, M, C)`."""
        pose, presence, features, intensity = self.part_encoder(canvas, training=training)
        return {"pose": pose, "presence": presence, "features": features,
                "intensity": intensity}

    def decode(self, parts):
        """The mixture's components: `(means, mixing_logits)` (see `AffineTemplates`)."""
        return self.templates(parts["pose"], parts["presence"], parts["intensity"])

    def image_log_likelihood(self, canvas, parts):
        """`log p(y)` of each canvas under its parts' template mixture, `(b,)`."""
        means, logits = self.decode(parts)
        return caps.template_mixture_log_likelihood(canvas, means, logits, self.pixel_scale)

    def reconstruct(self, images):
        """`(canvas, reconstruction, parts)` of images centred on the canvas."""
        canvas = self.place(images)
        parts = self.parts(canvas)
        return canvas, caps.mixture_mean(*self.decode(parts)), parts

    def call(self, images, training=False):
        parts = self.parts(self.place(images, training), training=training)
        flat = ops.concatenate([parts["pose"], parts["presence"][..., None],
                                parts["features"]], axis=-1)
        return ops.reshape(flat, (ops.shape(flat)[0], -1))

    def _loss(self, images, training):
        canvas = self.place(images, training)
        image_ll = ops.mean(self.image_log_likelihood(canvas, self.parts(canvas, training)))
        return -image_ll, {"loss": -image_ll, "image_ll": image_ll}


@keras.saving.register_keras_serializable(package="keras_unsup")
class OCAE(_Trackers, SubModelConfig, keras.Model):
    """Object Capsule Autoencoder (Kosiorek et al., NeurIPS 2019, Sec. 2.1, Eq. 1-4).

    The object encoder (`build_object_encoder`: a Set Transformer and
    `ObjectCapsuleVotes`) turns a set of parts into object capsules whose votes explain
    the parts' poses (`part_pose_log_likelihood`; with votes in order, as for images,
    the mixing weights are the vote presences unnormalised, as the official image
    model; order-invariant votes are normalised). The loss is the negative
    log-likelihood of the parts, the penalty on dynamic object-part relations, and the
    prior and posterior sparsity losses (Sec. 2.3; weights as the official MNIST run).

    Trained alone on points (`order_invariant=True`, votes of `vote_dims=2`), it is the
    constellation experiment: every point may come from any vote, and `assign` gives
    the object that explains each point best.

    Args:
        object_encoder: from `build_object_encoder`.
        n_classes: the number of classes the sparsity losses expect (their constants).
        order_invariant: votes are shared by all parts (points) instead of one per part.
        prior_within_weight, prior_between_weight, prior_within_constant: the prior
            sparsity loss (`prior_sparsity_losses`).
        posterior_within_weight, posterior_between_weight: the posterior sparsity loss.
        dynamic_l2_weight: weight of the penalty on dynamic object-part relations.

    Call arguments:
        inputs: `[parts (b, P, part_dims), presence (b, P)]`; the parts' poses (the
            likelihood's targets) are their first `vote_dims` features.

    Returns:
        Object presences `(b, K)`.
    """

    sub_models = ("object_encoder",)
    config_fields = ("n_classes", "order_invariant", "prior_within_weight",
                     "prior_between_weight", "prior_within_constant", "posterior_within_weight",
                     "posterior_between_weight", "dynamic_l2_weight")
    tracked = ("loss", "part_ll")

    def __init__(self, object_encoder, n_classes=10, order_invariant=False,
                 prior_within_weight=2.0, prior_between_weight=0.35, prior_within_constant=None,
                 posterior_within_weight=0.7, posterior_between_weight=0.2,
                 dynamic_l2_weight=10.0, **kwargs):
        kwargs.setdefault("name", "ocae")
        super().__init__(**kwargs)
        self.object_encoder = object_encoder
        self.n_classes = check_positive_int(n_classes, "n_classes")
        self.order_invariant = check_bool(order_invariant, "order_invariant")
        for key, value in (("prior_within_weight", prior_within_weight),
                           ("prior_between_weight", prior_between_weight),
                           ("posterior_within_weight", posterior_within_weight),
                           ("posterior_between_weight", posterior_between_weight),
                           ("dynamic_l2_weight", dynamic_l2_weight)):
            setattr(self, key, check_number(value, key, 0.0))
        self.prior_within_constant = check_number(prior_within_constant, "prior_within_constant",
                                                  0.0, allow_none=True)
        self.vote_dims = object_encoder.output_shape[0][-1]
        self.n_objects = object_encoder.output_shape[3][-1]
        self._make_trackers()
        self.built = True

    def objects(self, parts, presence, training=False):
        """The object capsules of a set of parts, a dict (see `ObjectCapsuleVotes`)."""
        names = ("votes", "scales", "vote_presence", "object_presence", "object_features",
                 "dynamic_l2")
        return dict(zip(names, self.object_encoder([parts, presence], training=training)))

    def part_log_likelihood(self, target, presence, objects):
        """`(log p(x) (b,), posterior (b, K, P))` of the parts' poses `target`."""
        votes, scales, vote_presence = (objects["votes"], objects["scales"],
                                        objects["vote_presence"])
        if not self.order_invariant:
            # The official image model leaves the mixing weights unnormalised.
            return caps.part_pose_log_likelihood(target, presence, votes, scales, vote_presence,
                                                 normalize=False)
        b, k, n = ops.shape(votes)[0], self.n_objects, votes.shape[2]
        ll, posterior = caps.part_pose_log_likelihood(
            target, presence, ops.reshape(votes, (b, k * n, 1, self.vote_dims)),
            ops.reshape(scales, (b, k * n, 1)), ops.reshape(vote_presence, (b, k * n, 1)))
        return ll, ops.sum(ops.reshape(posterior, (b, k, n, -1)), axis=2)

    def object_losses(self, parts, presence, target, training=False):
        """`(loss, values, objects, posterior)`: the OCAE's loss on a batch of part sets."""
        objects = self.objects(parts, presence, training=training)
        ll, posterior = self.part_log_likelihood(target, presence, objects)
        part_ll = ops.mean(ll)
        n_parts = ops.cast(ops.shape(target)[1], part_ll.dtype)
        post_within, post_between = caps.posterior_sparsity_losses(
            ops.sum(posterior, axis=2) / n_parts)
        prior_within, prior_between = caps.prior_sparsity_losses(
            objects["object_presence"], self.n_classes, self.prior_within_constant)
        loss = (-part_ll + self.dynamic_l2_weight * ops.mean(objects["dynamic_l2"])
                + self.posterior_within_weight * post_within
                - self.posterior_between_weight * post_between
                + self.prior_within_weight * prior_within
                + self.prior_between_weight * prior_between)
        return loss, {"loss": loss, "part_ll": part_ll}, objects, posterior

    def assign(self, parts, presence):
        """The object that explains each part best, int `(b, P)`."""
        target = parts[..., :self.vote_dims]
        objects = self.objects(parts, presence)
        _, posterior = self.part_log_likelihood(target, presence, objects)
        return ops.argmax(posterior, axis=1)

    def call(self, inputs, training=False):
        parts, presence = inputs
        return self.objects(parts, presence, training=training)["object_presence"]

    def _loss(self, data, training):
        parts, presence = data[0], data[1]
        return self.object_losses(parts, presence, parts[..., :self.vote_dims], training)[:2]

    def _inputs(self, data):
        return data


@keras.saving.register_keras_serializable(package="keras_unsup")
class SCAE(_Trackers, SubModelConfig, keras.Model):
    """Stacked Capsule Autoencoder (Kosiorek et al., NeurIPS 2019, Sec. 2.3, Eq. 9).

    One optimizer step maximises `log p(y) + part_likelihood_weight * log p(x_1:M)`
    minus the OCAE's penalties. The OCAE sees each part's pose, `1 - presence`, special
    features and flattened template, and explains the poses; both through a
    stop-gradient (the official code's `stop_grad_caps_inpt/target`), so the PCAE
    learns from the image likelihood alone.

    Args:
        pcae: a `PCAE`.
        ocae: an `OCAE` whose object encoder takes the PCAE's `M` parts with
            `7 + n_features + template pixels` features and votes once per part.
        part_likelihood_weight: weight of the part likelihood.

    Call arguments:
        images: `(batch, height, width, channels)`, centred on the canvas.

    Returns:
        A dict: `object_presence (b, K)` (the prior presences the paper clusters),
        `posterior_presence (b, K)` (each object's share of the parts) and
        `object_features (b, K * features)`.
    """

    sub_models = ("pcae", "ocae")
    config_fields = ("part_likelihood_weight",)
    tracked = ("loss", "image_ll", "part_ll")

    def __init__(self, pcae, ocae, part_likelihood_weight=1.0, **kwargs):
        kwargs.setdefault("name", "scae")
        super().__init__(**kwargs)
        self.pcae = pcae
        self.ocae = ocae
        self.part_likelihood_weight = check_number(part_likelihood_weight,
                                                   "part_likelihood_weight", 0.0)
        t = pcae.templates
        wanted = 7 + pcae.part_encoder.output_shape[2][-1] \
            + t.template_size[0] * t.template_size[1] * t.channels
        got = tuple(ocae.object_encoder.input_shape[0][1:])
        if got != (pcae.n_parts, wanted) or ocae.vote_dims != 6 or ocae.order_invariant:
            raise ValueError(f"`ocae` must take {pcae.n_parts} parts of {wanted} features and "
                             f"vote for affine poses in order. Received: parts of shape {got}, "
                             f"vote_dims={ocae.vote_dims}, order_invariant={ocae.order_invariant}")
        self._make_trackers()
        self.built = True

    def ocae_inputs(self, parts):
        """What the OCAE sees of each part (through a stop-gradient), `(b, M, d)`."""
        values, _ = self.pcae.templates.templates()
        batch = ops.shape(parts["pose"])[0]
        flat = ops.reshape(values, (1, self.pcae.n_parts, -1))
        flat = ops.broadcast_to(flat, (batch, *flat.shape[1:]))
        x = ops.concatenate([parts["pose"], 1.0 - parts["presence"][..., None],
                             parts["features"], flat], axis=-1)
        return ops.stop_gradient(x)

    def capsules(self, images, training=False):
        """Everything of one pass: `(canvas, parts, objects, posterior, losses)`."""
        canvas = self.pcae.place(images, training)
        parts = self.pcae.parts(canvas, training=training)
        image_ll = ops.mean(self.pcae.image_log_likelihood(canvas, parts))
        presence = ops.stop_gradient(parts["presence"])
        ocae_loss, values, objects, posterior = self.ocae.object_losses(
            self.ocae_inputs(parts), presence, ops.stop_gradient(parts["pose"]), training)
        # The OCAE's loss holds -log p(x) with weight 1; the penalties keep theirs.
        loss = -image_ll + ocae_loss + (1.0 - self.part_likelihood_weight) * values["part_ll"]
        losses = {"loss": loss, "image_ll": image_ll, "part_ll": values["part_ll"]}
        return canvas, parts, objects, posterior, losses

    def call(self, images, training=False):
        _, parts, objects, posterior, _ = self.capsules(images, training)
        n_parts = ops.cast(ops.shape(posterior)[2], posterior.dtype)
        features = objects["object_features"]
        return {"object_presence": objects["object_presence"],
                "posterior_presence": ops.sum(posterior, axis=2) / n_parts,
                "object_features": ops.reshape(features, (ops.shape(features)[0], -1))}

    def _loss(self, images, training):
        losses = self.capsules(images, training)[-1]
        return losses["loss"], losses


__all__ = ["OCAE", "PCAE", "SCAE"]
