"""Recipes of the autoencoder family: dense, sparse, convolutional denoising, VAE.

Each trains on the training images only (10% of them held out for early stopping,
as the classic tutorials do with a validation split), then reports on the test
images: reconstruction error (the VAE: negative ELBO per image), and ACC/NMI/ARI
of k-means on the codes. Labels are used only for scoring and colouring plots.

A streamed folder (`data.is_streaming`) trains the same way from `data.train_stream`:
10% of the train files are held out and early stopping watches a stream of them; the
test images are read batch by batch for the scores and encoded with `data.encode`, so
only codes and labels are held whole.
"""

import numpy as np

from keras_unsup.recipes.base import Budget, register
from keras_unsup.recipes.options import Option

# Default budgets in optimizer steps, whatever the data (the epochs follow from its size;
# early stopping on the held-out 10% may end a run sooner).
BUDGETS = {
    "dense-ae": Budget(steps=6000, batch_size=256, max_epochs=500),
    "sparse-ae": Budget(steps=4000, batch_size=256, max_epochs=500),
    "denoising-ae": Budget(steps=2000, batch_size=128, max_epochs=500),
    "vae": Budget(steps=6000, batch_size=128, max_epochs=500),
}


def _common_options(code_size, kmeans_normalize):
    # `kmeans_normalize`: how codes are scaled before k-means scores them. The linear code
    # of the dense stack has a few wide dimensions, so it is standardised; the others are
    # L2-normalised. benchmarks/autoencoder_codes_kmeans.py compares all three scalings.
    return [
        Option("code_size", "int", code_size, "size of the code (the VAE's latent dimension)",
               minimum=1),
        Option("learning_rate", "float", 1e-3, "Adam's learning rate", minimum=0.0,
               low_open=True),
        Option("patience", "int", 5, "epochs without a better validation loss before "
               "stopping (best weights kept)", minimum=1),
        Option("kmeans_normalize", "choice", kmeans_normalize, "scaling of the codes before "
               "k-means scores them", choices=("standard", "l2", "none")),
    ]


OPTIONS = {
    "dense-ae": _common_options(10, "standard"),
    "sparse-ae": _common_options(32, "l2") + [
        Option("l1", "float", 1e-5, "weight of the L1 activity penalty on the code",
               minimum=0.0)],
    "denoising-ae": _common_options(10, "l2") + [
        Option("noise", "float", 0.2, "share of pixels set to 0 or 1 by the salt-and-pepper "
               "noise", minimum=0.0, maximum=1.0)],
    "vae": _common_options(10, "l2"),
}
VALIDATION_SHARE = 0.1
MIN_STEPS = 200  # below this an autoencoder reconstructs little more than the mean image


def _split_validation(x, seed):
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, int(len(x) * VALIDATION_SHARE))
    return x[order[n_val:]], x[order[:n_val]]


def _build(method, input_shape, settings):
    from keras_unsup.builders import autoencoder as builders

    code = settings["code_size"]
    if method == "dense-ae":
        return builders.build_dense_autoencoder(input_shape=input_shape, code_size=code)
    if method == "sparse-ae":
        return builders.build_sparse_autoencoder(input_shape=input_shape, code_size=code,
                                                 l1=settings["l1"])
    if method == "denoising-ae":
        return builders.build_conv_denoising_autoencoder(input_shape=input_shape, code_size=code)
    return builders.build_vae(input_shape=input_shape, latent_dim=code)


def _loss(method):
    if method == "vae":
        from keras_unsup.losses import BernoulliNLL

        return BernoulliNLL()
    return "mse"


def _settings(config, method, n_images):
    """The options, with the batch size and epochs of the budget for `n_images`."""
    budget = BUDGETS[method]
    settings = dict(config.options)
    settings["batch_size"] = budget.batch_for(config, n_images)
    settings["epochs"] = budget.epochs(config, n_images, settings["batch_size"])
    return settings


def train_autoencoder(method, config, data, run):
    """Builds, trains and evaluates one autoencoder; returns `(metrics, models)`."""
    import keras

    from keras_unsup.checks import check_images
    from keras_unsup.data.augment import SaltAndPepper
    from keras_unsup.data.pipeline import autoencoder_dataset
    from keras_unsup.recipes import training
    from keras_unsup.recipes.common import encode

    if data.is_streaming:
        return _train_autoencoder_streamed(method, config, data, run)
    settings = _settings(config, method, len(data.x_train))
    epochs = settings["epochs"]
    autoencoder, encoder, decoder = _build(method, data.image_shape, settings)
    check_images(data.x_train, autoencoder, name="x_train")
    check_images(data.x_test, autoencoder, name="x_test")
    if data.y_test is not None and len(data.y_test) != len(data.x_test):
        raise ValueError(
            f"`y_test` must have one label per test image. "
            f"Received: {len(data.y_test)} labels for {len(data.x_test)} images"
        )

    # No jit_compile: runs enable op determinism (same seed, same metrics), which XLA lacks.
    autoencoder.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]),
                        loss=_loss(method))
    x_fit, x_val = _split_validation(data.x_train, config.seed)
    noise = None
    if method == "denoising-ae":
        noise = SaltAndPepper(settings["noise"], seed=config.seed, always=True)
    train_ds = autoencoder_dataset(x_fit, settings["batch_size"], noise=noise, seed=config.seed)
    val_ds = autoencoder_dataset(x_val, 1024, noise=noise, shuffle=False)

    callbacks = []
    if run:
        from keras_unsup.callbacks.reconstruction_grid import ReconstructionGrid

        callbacks.append(ReconstructionGrid(data.x_test[:10], output_dir=run.file("epochs"),
                                            every=max(1, epochs // 5), noise=noise))
    history, throughput = training.fit(
        autoencoder, train_ds, epochs=epochs, run=run, n_images=len(x_fit),
        validation_data=val_ds, patience=settings["patience"], callbacks=callbacks,
        verbose=config.verbose,
    )

    run.phase("evaluating")
    _reset_noise(autoencoder, config.seed)
    test_inputs = data.x_test
    if noise is not None:
        test_inputs = keras.ops.convert_to_numpy(
            SaltAndPepper(settings["noise"], seed=config.seed + 1, always=True)(data.x_test))
    recon = autoencoder.predict(test_inputs, batch_size=1024, verbose=0)
    metrics = {
        "recon_mse": float(np.mean((recon - data.x_test) ** 2)),
        # after a resume, History holds only the epochs run this time: count from its index
        "epochs_trained": (history.epoch[-1] + 1) if history.epoch else 0,
        "images_per_second": throughput.images_per_second,
        "code_size": settings["code_size"],
    }
    if method == "vae":
        # The compiled loss is the Bernoulli NLL summed over pixels plus the KL term:
        # evaluated on test images it is the negative ELBO per image, in nats.
        metrics["neg_elbo"] = float(autoencoder.evaluate(
            data.x_test, data.x_test, batch_size=1024, verbose=0))
    codes = encode(encoder, data.x_test)
    metrics.update(_code_scores(codes, data, settings, config.seed))
    _write_run(run, method, data, (autoencoder, encoder, decoder), settings, config.seed,
               test_inputs, recon, codes, noisy=noise is not None)
    return metrics, (autoencoder, encoder, decoder)


def _write_figures(run, data, inputs, recon, codes, seed, noisy, originals=None):
    from keras_unsup import viz

    originals = data.x_test[:10] if originals is None else originals
    fig = viz.plot_reconstructions(originals[:10], recon[:10], n=10,
                                   noisy=inputs[:10] if noisy else None)
    run.save_figure(fig, "reconstructions.png")
    from keras_unsup.embedding.projection import project_embeddings

    points, index = project_embeddings(codes, method="tsne" if codes.shape[1] > 2 else "pca",
                                       seed=seed, max_points=3000)
    labels = None if data.y_test is None else data.y_test[index]
    fig = viz.plot_latent(points, labels, title="codes of the test images",
                          class_names=data.class_names)
    run.save_figure(fig, "latent.png")


def _train_autoencoder_streamed(method, config, data, run):
    """`train_autoencoder` for a streamed dataset: no image array is ever held whole.

    Training reads `data.train_stream` (10% of the train files held out, as in memory,
    for early stopping on a stream of them); the test split is read batch by batch for
    the reconstruction error (and the VAE's negative ELBO), and encoded with
    `data.encode`, so only the codes and labels are held. The figures show the first
    10 test images, taken from the stream.
    """
    import keras

    from keras_unsup.data.augment import SaltAndPepper
    from keras_unsup.recipes import training
    from keras_unsup.recipes.common import hold_out, stream_sample

    settings = _settings(config, method, data.n_train)
    epochs = settings["epochs"]
    autoencoder, encoder, decoder = _build(method, data.image_shape, settings)
    # No jit_compile: runs enable op determinism (same seed, same metrics), which XLA lacks.
    autoencoder.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]),
                        loss=_loss(method))
    fit_data, val_data = hold_out(data, VALIDATION_SHARE, config.seed)
    noise = None
    if method == "denoising-ae":
        noise = SaltAndPepper(settings["noise"], seed=config.seed, always=True)

    def to_pair(batch):
        return (batch if noise is None else noise(batch, training=True)), batch

    train_ds = fit_data.train_stream(settings["batch_size"], seed=config.seed, map_fn=to_pair)
    val_ds = val_data.stream("train", 1024, map_fn=to_pair)

    shown = stream_sample(data, "test", 10)
    callbacks = []
    if run:
        from keras_unsup.callbacks.reconstruction_grid import ReconstructionGrid

        callbacks.append(ReconstructionGrid(shown, output_dir=run.file("epochs"),
                                            every=max(1, epochs // 5), noise=noise))
    history, throughput = training.fit(
        autoencoder, train_ds, epochs=epochs, run=run, n_images=fit_data.n_train,
        validation_data=val_ds, patience=settings["patience"], callbacks=callbacks,
        verbose=config.verbose,
    )

    run.phase("evaluating")
    _reset_noise(autoencoder, config.seed)
    test_noise = None
    if noise is not None:
        test_noise = SaltAndPepper(settings["noise"], seed=config.seed + 1, always=True)
    squared, count, shown_inputs, shown_recon = 0.0, 0, None, None
    for batch in data.test_stream(1024).as_numpy_iterator():
        inputs = batch
        if test_noise is not None:
            inputs = keras.ops.convert_to_numpy(test_noise(batch))
        recon = np.asarray(autoencoder.predict_on_batch(inputs))
        squared += float(np.sum((recon.astype(np.float64) - batch) ** 2))
        count += batch.size
        if shown_recon is None:
            shown_inputs, shown_recon = inputs[:len(shown)], recon[:len(shown)]
    metrics = {
        "recon_mse": squared / max(count, 1),
        "epochs_trained": (history.epoch[-1] + 1) if history.epoch else 0,
        "images_per_second": throughput.images_per_second,
        "code_size": settings["code_size"],
    }
    if method == "vae":
        # Keras averages the loss over the test images (each batch weighted by its size):
        # the negative ELBO per image, in nats, as in memory.
        metrics["neg_elbo"] = float(autoencoder.evaluate(
            data.test_stream(1024, map_fn=lambda x: (x, x)), verbose=0))
    codes = data.encode(encoder, "test", batch_size=1024)
    metrics.update(_code_scores(codes, data, settings, seed=config.seed))
    _write_run(run, method, data, (autoencoder, encoder, decoder), settings, config.seed,
               shown_inputs, shown_recon, codes, noisy=noise is not None, originals=shown)
    return metrics, (autoencoder, encoder, decoder)


def _write_run(run, method, data, models, settings, seed, inputs, recon, codes, *, noisy,
               originals=None):
    """The figures (VAE: prior samples too) and the saved models of a run."""
    if not run:
        return
    autoencoder, encoder, decoder = models
    run.phase("plotting")
    _write_figures(run, data, inputs, recon, codes, seed, noisy=noisy, originals=originals)
    if method == "vae":
        _write_prior_samples(run, decoder, settings["code_size"], seed)
    run.phase("saving")
    run.save_model(autoencoder, "model.keras")
    run.save_model(encoder, "encoder.keras")
    if decoder is not None:
        run.save_model(decoder, "decoder.keras")


def _code_scores(codes, data, settings, seed):
    """ACC/NMI/ARI of k-means on the test codes, scaled as the option says ({} unlabelled)."""
    from keras_unsup.evaluation.metrics import kmeans_scores

    if data.y_test is None:
        return {}
    scaling = settings["kmeans_normalize"]
    scores, _ = kmeans_scores(codes, data.y_test, data.n_classes or 10, seed=seed,
                              normalize=None if scaling == "none" else scaling)
    return scores


def _reset_noise(model, seed):
    """Puts every seed generator in `model` (the VAE's `Sampling`) in one state, so the
    evaluation draws the same noise however the weights were obtained (trained now, or
    loaded by a resumed run)."""
    import keras

    for layer in model._flatten_layers(include_self=False):
        for value in vars(layer).values():
            if isinstance(value, keras.random.SeedGenerator):
                state = value.state
                value.state.assign(keras.ops.cast([int(seed), 0], state.dtype))


def prior_samples(decoder, latent_dim, n=64, seed=0):
    """Images decoded from `n` codes drawn from the VAE's prior N(0, I)."""
    z = np.random.default_rng(seed).standard_normal((n, int(latent_dim))).astype(np.float32)
    return np.asarray(decoder.predict(z, batch_size=n, verbose=0))


def _write_prior_samples(run, decoder, latent_dim, seed):
    from keras_unsup import viz

    fig = viz.image_grid(prior_samples(decoder, latent_dim, seed=seed), ncols=8)
    fig.suptitle("samples from the prior N(0, I)")
    run.save_figure(fig, "samples.png")


def _make(method, summary):
    @register(method, family="autoencoders", summary=summary, options=OPTIONS[method],
              min_steps=MIN_STEPS)
    def run_method(config, data, run):
        metrics, _ = train_autoencoder(method, config, data, run)
        return metrics

    run_method.__name__ = f"run_{method.replace('-', '_')}"
    return run_method


run_dense_ae = _make("dense-ae", "dense autoencoder (784-500-500-2000-10 and mirror)")
run_sparse_ae = _make("sparse-ae", "sparse autoencoder (L1 activity on the code)")
run_denoising_ae = _make("denoising-ae", "convolutional denoising autoencoder (salt and pepper)")
run_vae = _make("vae", "variational autoencoder (Bernoulli likelihood, KL layer)")
