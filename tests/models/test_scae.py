import keras
import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf

from keras_unsup.builders.capsules import build_object_encoder, build_part_encoder
from keras_unsup.layers.affine_templates import (
    AffineTemplates,
    geometric_transform,
    warp_template_banks,
    warp_templates,
)
from keras_unsup.models import _capsules as caps
from keras_unsup.models.scae import OCAE, PCAE, SCAE

# tiny sizes: 10x10 images on a 12x12 canvas, 5x5 templates, 4 parts, 3 objects
IMAGE, CANVAS, TEMPLATE, M, K, F = 10, 12, 5, 4, 3, 3


def _pcae(seed=0):
    encoder = build_part_encoder((CANVAS, CANVAS, 1), M, n_features=F, filters=(8, 8),
                                 strides=(2, 1), seed=seed)
    return PCAE(encoder, AffineTemplates(M, TEMPLATE, CANVAS, seed=seed), (IMAGE, IMAGE, 1),
                seed=seed)


def _scae(seed=0):
    pcae = _pcae(seed)
    encoder = build_object_encoder(M, 7 + F + TEMPLATE * TEMPLATE, K, dim=8, num_heads=2,
                                   output_dim=8, n_features=4, hidden=8, normalize_parts=True,
                                   seed=seed)
    return SCAE(pcae, OCAE(encoder, n_classes=2))


def _images(n=8, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, IMAGE, IMAGE, 1)).astype("float32")


def _warp_by_scipy(template, pose, canvas):
    """The same warp, hand-computed: the map from canvas pixel (row, col) to template
    pixel (row, col) written out as an affine map and applied by scipy."""
    h, w = template.shape
    height, width = canvas
    a, b, tx, c, d, ty = pose
    inverse = np.linalg.inv(np.array([[a, b], [c, d]]))

    def to_template(r, col):
        xc, yc = -1 + 2 * col / (width - 1), -1 + 2 * r / (height - 1)
        xt, yt = inverse @ (np.array([xc, yc]) - np.array([tx, ty]))
        return np.array([(yt + 1) * (h - 1) / 2, (xt + 1) * (w - 1) / 2])

    origin = to_template(0, 0)
    matrix = np.stack([to_template(1, 0) - origin, to_template(0, 1) - origin], axis=1)
    return scipy.ndimage.affine_transform(template.astype(np.float64), matrix, offset=origin,
                                          output_shape=canvas, order=1, mode="grid-constant")


@pytest.mark.parametrize("pose", [[0.5, 0.2, 0.1, -0.1, 0.6, -0.2], [0.9, -0.4, -0.3, 0.3, 0.7, 0.5]])
def test_warp_matches_a_hand_computed_affine_warp(pose):
    template = np.random.default_rng(0).uniform(size=(7, 7)).astype("float32")
    pose = np.asarray(pose, "float32")
    out = np.asarray(warp_templates(template[None, ..., None], pose[None, None], (15, 17)))
    np.testing.assert_allclose(out[0, 0, ..., 0], _warp_by_scipy(template, pose, (15, 17)),
                               atol=1e-5)


def test_warp_of_a_bank_gives_each_image_and_template_its_own_pose_and_channels():
    # the templates share one lookup table: each (image, template, channel) must still
    # read its own template, and samples outside a template must be 0
    rng = np.random.default_rng(5)
    templates = rng.uniform(size=(3, 6, 5, 2)).astype("float32")
    raw = rng.normal(size=(2, 3, 6)).astype("float32")
    raw[..., 4:] *= 0.1  # translations near the centre: most of each template on the canvas
    pose = np.asarray(geometric_transform(raw))
    out = np.asarray(warp_templates(templates, pose, (11, 13)))
    assert out.shape == (2, 3, 11, 13, 2)
    assert np.all(out.max(axis=(2, 3)) > 0.1)
    for i in range(2):
        for m in range(3):
            for ch in range(2):
                expected = _warp_by_scipy(templates[m, ..., ch], pose[i, m], (11, 13))
                np.testing.assert_allclose(out[i, m, ..., ch], expected, atol=1e-5)


def test_banks_warped_apart_equal_one_concatenated_bank_in_values_and_gradients():
    # the values and the alpha channel share a grid but are gathered from tables of their
    # own: each must equal its channels of the concatenated warp, gradients included
    rng = np.random.default_rng(6)
    values = tf.Variable(rng.uniform(size=(4, 5, 6, 3)), dtype="float32")
    alpha = tf.Variable(rng.uniform(size=(4, 5, 6, 1)), dtype="float32")
    raw = tf.Variable(rng.normal(size=(2, 4, 6)), dtype="float32")
    weights = rng.normal(size=(2, 4, 9, 10, 4)).astype("float32")

    def loss(warped):
        return tf.reduce_sum(warped * weights)

    with tf.GradientTape(persistent=True) as tape:
        pose = geometric_transform(raw)
        together = warp_templates(tf.concat([values, alpha], axis=-1), pose, (9, 10))
        apart = warp_template_banks([values, alpha], pose, (9, 10))
        loss_together, loss_apart = loss(together), loss(tf.concat(apart, axis=-1))
    assert [tuple(a.shape) for a in apart] == [(2, 4, 9, 10, 3), (2, 4, 9, 10, 1)]
    np.testing.assert_allclose(np.asarray(apart[0]), np.asarray(together[..., :3]), atol=1e-6)
    np.testing.assert_allclose(np.asarray(apart[1]), np.asarray(together[..., 3:]), atol=1e-6)
    for a, b in zip(tape.gradient(loss_apart, [values, alpha, raw]),
                    tape.gradient(loss_together, [values, alpha, raw])):
        assert float(tf.reduce_max(tf.abs(b))) > 0
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


def test_identity_pose_on_a_canvas_of_the_template_size_returns_the_template():
    template = np.random.default_rng(1).uniform(size=(1, 9, 9, 1)).astype("float32")
    out = warp_templates(template, np.array([[[1, 0, 0, 0, 1, 0]]], "float32"), (9, 9))
    np.testing.assert_allclose(np.asarray(out)[0, 0], template[0], atol=1e-6)


def test_gradients_reach_the_pose_parameters_and_the_templates():
    templates = tf.Variable(np.random.default_rng(2).uniform(size=(2, 5, 5, 1)), dtype="float32")
    raw = tf.Variable(0.1 * np.random.default_rng(3).normal(size=(1, 2, 6)), dtype="float32")
    target = np.random.default_rng(4).uniform(size=(1, 2, 12, 12, 1)).astype("float32")
    with tf.GradientTape() as tape:
        out = warp_templates(templates, geometric_transform(raw), (12, 12))
        loss = tf.reduce_sum(tf.square(out - target))
    g_raw, g_templates = tape.gradient(loss, [raw, templates])
    assert np.all(np.abs(np.asarray(g_raw)) > 0)  # every pose parameter of every part
    assert float(tf.reduce_max(tf.abs(g_templates))) > 0
    # ... and the gradient of the scales is the true one (a central finite difference;
    # bilinear sampling has kinks at pixel boundaries, so the step is small)
    def value(r):
        out = warp_templates(templates, geometric_transform(r), (12, 12))
        return float(tf.reduce_sum(tf.square(out - target)))

    for index in (0, 1):
        step = np.zeros((1, 2, 6), "float32")
        step[0, 1, index] = 1e-3
        numeric = (value(raw + step) - value(raw - step)) / 2e-3
        assert numeric == pytest.approx(float(g_raw[0, 1, index]), rel=0.02)


def test_geometric_transform_keeps_the_determinant_positive_and_similarity_rigid():
    raw = np.random.default_rng(5).normal(size=(100, 6)).astype("float32") * 3
    a, b, _, c, d, _ = np.asarray(geometric_transform(raw)).T
    assert np.all(a * d - b * c > 0)
    a, b, _, c, d, _ = np.asarray(geometric_transform(raw, similarity=True)).T
    np.testing.assert_allclose(a, d, atol=1e-6)
    np.testing.assert_allclose(b, -c, atol=1e-6)


def test_template_mixture_likelihood_equals_a_brute_force_sum():
    rng = np.random.default_rng(6)
    images = rng.uniform(size=(2, 3, 3, 1)).astype("float32")
    means = rng.uniform(size=(2, 4, 3, 3, 1)).astype("float32")
    logits = rng.normal(size=(2, 4, 3, 3, 1)).astype("float32")
    out = np.asarray(caps.template_mixture_log_likelihood(images, means, logits, 0.3))
    weights = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    density = np.exp(-0.5 * ((images[:, None] - means) / 0.3) ** 2) / (0.3 * np.sqrt(2 * np.pi))
    expected = np.log((weights * density).sum(axis=1)).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(out, expected, rtol=1e-5)


@pytest.mark.parametrize("normalize", [True, False])
def test_part_pose_likelihood_equals_a_brute_force_mixture(normalize):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3, 2)).astype("float32")
    presence = rng.uniform(size=(2, 3)).astype("float32")
    votes = rng.normal(size=(2, 4, 3, 2)).astype("float32")
    scales = rng.uniform(0.5, 1.5, size=(2, 4, 3)).astype("float32")
    vote_presence = rng.uniform(size=(2, 4, 3)).astype("float32")
    ll, posterior = caps.part_pose_log_likelihood(x, presence, votes, scales, vote_presence,
                                                  normalize=normalize)
    dummy = 0.01
    w = np.concatenate([vote_presence, np.full((2, 1, 3), dummy)], axis=1)
    if normalize:  # else the official image model's unnormalised weights
        w = w / w.sum(axis=1, keepdims=True)
    density = np.prod(np.exp(-0.5 * ((x[:, None] - votes) / scales[..., None]) ** 2)
                      / (scales[..., None] * np.sqrt(2 * np.pi)), axis=-1)
    density = np.concatenate([density, np.full((2, 1, 3), dummy)], axis=1)
    joint = w * density
    expected = (np.log(joint.sum(axis=1)) * presence).sum(axis=1)
    np.testing.assert_allclose(np.asarray(ll), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(posterior), (joint / joint.sum(1, keepdims=True))[:, :-1],
                               rtol=1e-5, atol=1e-7)


def test_sparsity_losses_have_their_analytic_values():
    presence = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    within, between = caps.prior_sparsity_losses(presence, n_classes=2)
    # within: each row sums to 1 = K / C; between: each column sums to 1 = b / C
    assert float(within) == pytest.approx(0.0) and float(between) == pytest.approx(0.0)
    within, between = caps.prior_sparsity_losses(np.ones((2, 2), "float32"), n_classes=2)
    assert float(within) == pytest.approx(1.0) and float(between) == pytest.approx(1.0)
    within, between = caps.posterior_sparsity_losses(presence)
    assert float(within) == pytest.approx(0.0, abs=1e-5)
    assert float(between) == pytest.approx(np.log(2), rel=1e-5)


def test_place_on_canvas_pads_each_image_at_its_own_offset():
    images = _images(3)
    offsets = np.array([[0, 0], [2, 1], [1, 2]], "int32")
    out = np.asarray(caps.place_on_canvas(images, (CANVAS, CANVAS), offsets))
    for image, (r, c), canvas in zip(images, offsets, out):
        expected = np.pad(image, ((r, CANVAS - IMAGE - r), (c, CANVAS - IMAGE - c), (0, 0)))
        np.testing.assert_array_equal(canvas, expected)


def test_pcae_gradients_reach_encoder_and_templates():
    keras.utils.set_random_seed(0)
    pcae = _pcae()
    x = np.zeros((16, IMAGE, IMAGE, 1), "float32")
    x[:, 3:7, 3:7] = 1.0  # a square blob: the templates can explain it
    with tf.GradientTape() as tape:
        loss = pcae._loss(x, True)[0]
    grads = tape.gradient(loss, pcae.trainable_weights)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
    named = {w.path.split("/")[-1] for w in pcae.trainable_weights}
    assert {"template_logits", "alpha_logits", "kernel"} <= named


@pytest.mark.slow
def test_pcae_loss_falls_on_a_blob_it_can_explain():
    keras.utils.set_random_seed(0)
    pcae = _pcae()
    x = np.zeros((16, IMAGE, IMAGE, 1), "float32")
    x[:, 3:7, 3:7] = 1.0
    pcae.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = float(pcae.evaluate(x, verbose=0, return_dict=True)["loss"])
    pcae.fit(x, batch_size=8, epochs=15, verbose=0)
    after = float(pcae.evaluate(x, verbose=0, return_dict=True)["loss"])
    assert after < before - 1.0


@pytest.mark.slow
def test_models_save_and_load_in_safe_mode_with_identical_outputs(tmp_path):
    scae = _scae()
    x = _images(4)
    scae.compile(optimizer="adam")
    scae.fit(x, batch_size=4, epochs=1, verbose=0)  # the optimizer state is saved too
    for name, model, inputs in (("scae", scae, x), ("pcae", scae.pcae, x)):
        before = model(inputs)
        model.save(tmp_path / f"{name}.keras")
        loaded = keras.saving.load_model(tmp_path / f"{name}.keras")
        after = loaded(inputs)
        for key in (before if isinstance(before, dict) else [None]):
            b = before if key is None else before[key]
            a = after if key is None else after[key]
            np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
    ocae = scae.ocae
    parts = np.random.default_rng(8).normal(size=(4, M, 7 + F + TEMPLATE ** 2)).astype("float32")
    presence = np.ones((4, M), "float32")
    ocae.save(tmp_path / "ocae.keras")
    loaded = keras.saving.load_model(tmp_path / "ocae.keras")
    np.testing.assert_array_equal(np.asarray(ocae([parts, presence])),
                                  np.asarray(loaded([parts, presence])))


def test_bad_sizes_are_refused_before_any_work():
    encoder = build_part_encoder((CANVAS, CANVAS, 1), M, filters=(4,), strides=(1,))
    with pytest.raises(ValueError, match="at least as large as the templates.*image_shape=\\(4, 4, 1\\)"):
        PCAE(encoder, AffineTemplates(M, TEMPLATE, CANVAS), (4, 4, 1))
    with pytest.raises(ValueError, match="canvas \\(12, 12\\) must be at least.*image_shape=\\(14, 14, 1\\)"):
        PCAE(encoder, AffineTemplates(M, TEMPLATE, CANVAS), (14, 14, 1))
    with pytest.raises(ValueError, match="n_parts.*Received: n_parts=0"):
        build_part_encoder((CANVAS, CANVAS, 1), 0)
    with pytest.raises(ValueError, match="n_objects.*Received: n_objects=0"):
        build_object_encoder(M, 10, 0)
    with pytest.raises(ValueError, match="template_size.*fit the canvas"):
        AffineTemplates(M, 20, CANVAS)
    with pytest.raises(ValueError, match="padding='valid' the canvas \\(12, 12\\) is too small"):
        build_part_encoder((CANVAS, CANVAS, 1), M, padding="valid")
    with pytest.raises(ValueError, match="`padding` must be one of"):
        build_part_encoder((CANVAS, CANVAS, 1), M, padding="full")


def test_order_invariant_ocae_gives_each_point_a_posterior_over_objects():
    keras.utils.set_random_seed(0)
    encoder = build_object_encoder(7, 2, 2, n_votes=4, vote_dims=2, similarity=True, dim=8,
                                   num_heads=2, output_dim=8, n_features=4, hidden=8)
    ocae = OCAE(encoder, n_classes=2, order_invariant=True)
    points = np.random.default_rng(9).normal(size=(5, 7, 2)).astype("float32")
    presence = np.ones((5, 7), "float32")
    objects = ocae.objects(points, presence)
    ll, posterior = ocae.part_log_likelihood(points, presence, objects)
    assert tuple(posterior.shape) == (5, 2, 7) and tuple(ll.shape) == (5,)
    total = np.asarray(posterior).sum(axis=1)  # the catch-all takes the rest
    assert np.all(total <= 1 + 1e-5) and np.all(total > 0)
    assigned = np.asarray(ocae.assign(points, presence))
    np.testing.assert_array_equal(assigned, np.asarray(posterior).argmax(axis=1))


@pytest.mark.slow
def test_ocae_assigns_constellation_points_to_their_shape():
    """The paper's constellation check at a small size: >= 90% of the points go to the
    object matched to their shape (chance, one object for all: 4/7)."""
    from keras_unsup.recipes.capsules import fit_constellation_ocae

    result = fit_constellation_ocae(n_train=20000, n_test=500, epochs=40, steps_per_epoch=100)
    assert result["accuracy"] >= 0.90


def test_normalized_parts_have_each_part_and_feature_standardised_over_the_batch():
    encoder = build_object_encoder(M, 6, K, dim=8, num_heads=2, output_dim=8, n_features=4,
                                   hidden=8, normalize_parts=True, seed=0)
    rng = np.random.default_rng(0)
    # part m's features vary around their own mean, on their own scale
    parts = (rng.normal(size=(64, M, 6)) * np.arange(1, M + 1)[None, :, None] * 0.1
             + np.arange(M)[None, :, None]).astype("float32")
    inner = keras.Model(encoder.inputs, encoder.get_layer("normalized_parts").output)
    z = np.asarray(inner([parts, np.ones((64, M), "float32")], training=True))
    expected = (parts - parts.mean(axis=0)) / np.sqrt(parts.var(axis=0) + 1e-3)  # eps 1e-3
    np.testing.assert_allclose(z, expected, atol=1e-4)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-4)
    norm = encoder.get_layer("part_normalization")
    before = np.asarray(norm.moving_mean).copy()
    encoder([parts, np.ones((64, M), "float32")], training=True)
    moved = np.asarray(norm.moving_mean) - before
    # the moving statistics follow the batch, one per part and feature
    expected = 0.01 * (parts.mean(axis=0).ravel() - before)
    np.testing.assert_allclose(moved, expected, rtol=1e-3, atol=1e-6)
    # without it the Set Transformer sees the raw parts
    plain = build_object_encoder(M, 6, K, dim=8, num_heads=2, output_dim=8, seed=0)
    assert "part_normalization" not in [layer.name for layer in plain.layers]
