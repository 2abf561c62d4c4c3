"""Recipes of the generative family: DCGAN, InfoGAN, WGAN-GP and BEGAN.

Each trains on the training images only (labels are never seen by the GAN), then
reports on the test images:
- `frechet_distance`: the Fréchet distance between generated and real test images
  in the feature space of a small CNN classifier trained on that dataset's labelled
  training images (see `keras_unsup.evaluation.frechet`; this is not the FID), with
  `frechet_floor`, the same distance between two real samples of the same size;
- `linear_probe_acc`: a logistic regression on the discriminator's (critic's)
  last hidden features, trained on training images, scored on the test images;
- InfoGAN only: `acc`, `nmi`, `ari` of Q's predicted category on the test images
  (InfoGAN as a clusterer), and, labels or not, `category_shares` (the share of the test
  images in each category), `min_category_share` and `categories_used` (those holding at
  least 2%);
- BEGAN only: `final_m_global` (the convergence measure of the last epoch) and
  `final_k` (the equilibrium control); its probe reads the autoencoder's embedding;
- `images_per_second` of training and `diversity_ratio` (mode-collapse check).
A run folder receives `samples.png`, per-epoch grids in `epochs/`, InfoGAN's
traversal figures, BEGAN's `interpolations.png` and `convergence.png` (M_global and
k per epoch), `losses.png`, `model.keras`, and `checkpoints/` (resume state
and the last good weights). The option `init_model` (the `model.keras` of an earlier
run of the same method) trains that model further: `keras-unsup run infogan --epochs 5
--set init_model=runs/infogan-fashion_mnist/model.keras --out runs/infogan-more` gives
it 5 more epochs, optimizer state included.
"""

import numpy as np

from keras_unsup.recipes.base import Budget, load_init_model, register
from keras_unsup.recipes.options import Option

# Evaluation sizes: images per Fréchet sample, training images of the linear probe.
N_FRECHET = 5000
N_PROBE_TRAIN = 10000
FRECHET_CLASSIFIER_EPOCHS = 3

# Default budget in generator steps, whatever the data (the epochs follow from its size).
_BUDGET = Budget(steps=5000, batch_size=64, max_epochs=300)
BUDGETS = {"dcgan": _BUDGET, "infogan": _BUDGET, "wgan-gp": _BUDGET, "began": _BUDGET}

_COMMON = [
    Option("filters", "int", 64, "base filter count of the generator and discriminator",
           minimum=1),
    Option("jit_compile", "choice", "auto", "compile the train step with XLA (auto: when "
           "Keras can)", choices=("auto", True, False)),
    Option("n_frechet", "int", N_FRECHET, "images per sample of the Fréchet distance",
           minimum=2),
    Option("n_probe_train", "int", N_PROBE_TRAIN, "training images of the discriminator-"
           "feature linear probe", minimum=2),
    Option("init_model", "keras_file", None, "the model.keras of an earlier run of this "
           "method, trained further (optimizer state included)"),
]
_LATENT = Option("latent_dim", "int", 100, "size of the generator's noise input", minimum=1)
OPTIONS = {
    "dcgan": [_LATENT] + _COMMON,
    "wgan-gp": [_LATENT] + _COMMON + [
        Option("n_critic", "int", 5, "critic steps per generator step", minimum=1),
        Option("gp_weight", "float", 10.0, "weight of the gradient penalty", minimum=0.0)],
    "began": [
        Option("latent_dim", "int", 64, "size of the generator's noise input", minimum=1),
        Option("embedding_dim", "int", 64, "size of the autoencoder discriminator's embedding h",
               minimum=1),
    ] + _COMMON + [
        Option("gamma", "float", 0.5, "diversity ratio L(G(z)) / L(x) the control aims at, "
               "in (0, 1]", minimum=0.0, maximum=1.0, low_open=True),
        Option("lambda_k", "float", 0.001, "learning rate of the equilibrium control k",
               minimum=0.0)],
    "infogan": [
        Option("noise_dim", "int", 62, "size of the incompressible noise", minimum=1),
        Option("n_categories", "int", None, "categories of the categorical code (default: the "
               "number of classes, else 10)", minimum=2),
        Option("n_continuous", "int", 2, "continuous codes", minimum=0),
        Option("lambda_info", "float", 1.0, "weight of the mutual-information term",
               minimum=0.0),
        Option("continuous_weight", "float", 1.0, "weight of the continuous codes in that "
               "term", minimum=0.0),
        Option("hidden_units", "int", 1024, "width of the dense layers", minimum=1),
    ] + _COMMON,
}

# Updates of both optimizers below which a GAN's samples and codes mean nothing yet
# (a few hundred generator steps).
MIN_STEPS = 1000

# Trained Fréchet classifiers, one per dataset (the benchmark runs several GANs on one).
_FRECHET_CACHE = {}


def _settings(config, method, data):
    """The options, with the batch size and epochs of the budget for the data's size."""
    budget = BUDGETS[method]
    settings = dict(config.options)
    settings["batch_size"] = budget.batch_for(config, data.n_train)
    settings["epochs"] = budget.epochs(config, data.n_train, settings["batch_size"])
    if method == "infogan" and settings["n_categories"] is None:
        settings["n_categories"] = data.n_classes or 10
    return settings


def _model_class(method):
    """The model class a method trains."""
    if method == "dcgan":
        from keras_unsup.models.gan import GAN

        return GAN
    if method == "wgan-gp":
        from keras_unsup.models.wgan_gp import WGANGP

        return WGANGP
    if method == "began":
        from keras_unsup.models.began import BEGAN

        return BEGAN
    from keras_unsup.models.infogan import InfoGAN

    return InfoGAN


def _build(method, image_shape, settings, seed):
    from keras_unsup.builders import gan as builders

    cls = _model_class(method)
    if method == "dcgan":
        return cls(
            builders.build_dcgan_generator(
                settings["latent_dim"], image_shape, filters=settings["filters"]
            ),
            builders.build_dcgan_discriminator(image_shape, filters=settings["filters"]),
            seed=seed,
        )
    if method == "wgan-gp":
        return cls(
            builders.build_dcgan_generator(
                settings["latent_dim"], image_shape, filters=settings["filters"]
            ),
            builders.build_dcgan_discriminator(
                image_shape, filters=settings["filters"], batch_norm=False
            ),
            gp_weight=settings["gp_weight"],
            n_critic=settings["n_critic"],
            seed=seed,
        )
    if method == "began":
        return cls(
            builders.build_began_generator(
                settings["latent_dim"], image_shape, filters=settings["filters"]
            ),
            builders.build_began_discriminator(
                image_shape, filters=settings["filters"], embedding_dim=settings["embedding_dim"]
            ),
            gamma=settings["gamma"],
            lambda_k=settings["lambda_k"],
            seed=seed,
        )
    codes = {k: settings[k] for k in ("noise_dim", "n_categories", "n_continuous")}
    widths = {k: settings[k] for k in ("hidden_units", "filters")}
    return cls(
        builders.build_infogan_generator(image_shape, **codes, **widths),
        builders.build_infogan_discriminator(
            image_shape,
            n_categories=codes["n_categories"],
            n_continuous=codes["n_continuous"],
            **widths,
        ),
        **codes,
        lambda_info=settings["lambda_info"],
        continuous_weight=settings["continuous_weight"],
        seed=seed,
    )


def frechet_scorer(data, seed=0, epochs=FRECHET_CLASSIFIER_EPOCHS, verbose=0):
    """The `ClassifierFrechetDistance` of a dataset, trained once per process."""
    from keras_unsup.evaluation.frechet import ClassifierFrechetDistance

    key = (data.name, len(data.x_train), tuple(data.image_shape), seed, epochs)
    if key not in _FRECHET_CACHE:
        _FRECHET_CACHE[key] = ClassifierFrechetDistance(epochs=epochs, seed=seed).fit(
            data.x_train, data.y_train, (data.x_test, data.y_test), verbose=verbose
        )
    return _FRECHET_CACHE[key]


def evaluate_gan(
    model,
    data,
    *,
    seed=0,
    n_frechet=N_FRECHET,
    n_probe_train=N_PROBE_TRAIN,
    frechet_epochs=FRECHET_CLASSIFIER_EPOCHS,
):
    """Scores a trained GAN on `data`: Fréchet distance and floor, linear probe, clusters.

    Returns:
        A dict of metrics (see the module docstring); keys needing labels are left
        out when the dataset has none.
    """
    from keras_unsup.evaluation.metrics import clustering_scores, linear_probe_accuracy

    metrics = {}
    rng = np.random.default_rng(seed)
    n = min(int(n_frechet), len(data.x_test), len(data.x_train))
    generated = model.generate(n, seed=seed + 1)
    metrics["generated_mean_pixel"] = float(generated.mean())
    categories = None
    if hasattr(model, "predict_categories"):
        # How Q spreads the test images over its categories (no labels needed): a category
        # holding almost none is unused, one holding most is a collapse.
        categories = model.predict_categories(data.x_test)
        shares = np.bincount(categories, minlength=model.n_categories) / len(categories)
        metrics["category_shares"] = [round(float(v), 4) for v in shares]
        metrics["min_category_share"] = float(shares.min())
        metrics["categories_used"] = int(np.sum(shares >= 0.02))
    if data.y_train is None or data.y_test is None:
        return metrics
    scorer = frechet_scorer(data, epochs=frechet_epochs)
    real_a = data.x_test[rng.choice(len(data.x_test), n, replace=False)]
    real_b = data.x_train[rng.choice(len(data.x_train), n, replace=False)]
    metrics.update(
        {
            "frechet_distance": scorer.distance(real_a, generated),
            "frechet_floor": scorer.real_floor(real_a, real_b),
            "frechet_n_images": n,
            "frechet_classifier_acc": scorer.test_accuracy_,
        }
    )
    probe = rng.choice(len(data.x_train), min(int(n_probe_train), len(data.x_train)), replace=False)
    metrics["linear_probe_acc"] = linear_probe_accuracy(
        model.discriminator_features(data.x_train[probe]),
        data.y_train[probe],
        model.discriminator_features(data.x_test),
        data.y_test,
        max_iter=300,
    )
    metrics["linear_probe_n_train"] = len(probe)
    if categories is not None:
        metrics.update(clustering_scores(data.y_test, categories))
    return metrics


def train_gan(method, config, data, run):
    """Builds, trains and evaluates one GAN; returns `(metrics, model)`."""
    from keras_unsup.callbacks.gan_guard import GANGuard
    from keras_unsup.callbacks.generated_images import GeneratedImages
    from keras_unsup.data.pipeline import image_dataset
    from keras_unsup.recipes import training
    from keras_unsup.recipes.common import in_memory_sample

    settings = _settings(config, method, data)
    epochs = settings["epochs"]
    # A streamed folder trains from its stream; the evaluation (Fréchet distance, probe,
    # the guard's reference images) reads a seeded sample of the sizes the options give.
    evaluation = in_memory_sample(data, settings["n_probe_train"], settings["n_frechet"],
                                  seed=config.seed)
    if settings.get("init_model"):
        # Go on training a saved model: weights and both optimizers' state carry over.
        model = load_init_model(settings["init_model"], _model_class(method), method,
                                data.image_shape, lambda m: m.generator.output_shape[1:],
                                label=config.label("init_model"))
    else:
        model = _build(method, data.image_shape, settings, config.seed)
        # "auto": XLA when Keras can use it (not while TensorFlow's op determinism is on,
        # which `run_recipe`'s seeding turns on).
        model.compile(jit_compile=settings["jit_compile"])
    # Whole batches only: a last, small batch would give BatchNorm noisy statistics.
    batch_size = settings["batch_size"]  # the budget's, at most the training set
    if data.is_streaming:
        train_ds = data.train_stream(batch_size, seed=config.seed, drop_remainder=True)
    else:
        train_ds = image_dataset(data.x_train, batch_size, seed=config.seed,
                                 drop_remainder=True)

    guard = GANGuard(
        evaluation.x_test,
        seed=config.seed,
        checkpoint_path=(run.checkpoint_dir / "last_good.weights.h5") if run else None,
    )
    callbacks = [guard]
    if run:
        callbacks.append(
            GeneratedImages(
                64 if method != "infogan" else 8 * settings["n_categories"],
                seed=config.seed,
                output_dir=run.file("epochs"),
                every=max(1, epochs // 5),
            )
        )
    history, throughput = training.fit(
        model,
        train_ds,
        epochs=epochs,
        run=run,
        n_images=(data.n_train // batch_size) * batch_size,
        callbacks=callbacks,
        verbose=config.verbose,
    )

    metrics = {
        "epochs_trained": (history.epoch[-1] + 1) if history.epoch else 0,
        **({"init_model": settings["init_model"]} if settings.get("init_model") else {}),
        "images_per_second": throughput.images_per_second,
        "batch_size": batch_size,
    }
    for key, values in history.history.items():
        if values:
            metrics[f"final_{key}"] = values[-1]
    if guard.stopped_reason is not None:
        metrics["stopped_reason"] = guard.stopped_reason
    if guard.collapse_epochs:
        metrics["collapse_warning_epochs"] = [e + 1 for e in guard.collapse_epochs]
    run.phase("evaluating")
    n_frechet = settings["n_frechet"]
    n_probe = settings["n_probe_train"]
    metrics.update(
        evaluate_gan(
            model,
            evaluation,
            seed=config.seed,
            n_frechet=n_frechet,
            n_probe_train=n_probe,
            frechet_epochs=1 if config.quick else FRECHET_CLASSIFIER_EPOCHS,
        )
    )
    metrics["diversity_ratio"] = guard.diversity_ratio()
    if run:
        run.phase("plotting")
        _write_figures(run, model, evaluation, history, config.seed)
        if method == "began":
            _write_began_figures(run, model, history, config.seed)
        run.phase("saving")
        run.save_model(model, "model.keras")
    return metrics, model


def _write_figures(run, model, data, history, seed):
    from keras_unsup import viz
    from keras_unsup.callbacks.generated_images import generated_grid

    ncols = getattr(model, "n_categories", None) or 8
    run.save_figure(
        generated_grid(model, model.fixed_latent(8 * ncols, seed), ncols=ncols), "samples.png"
    )
    if history.history:
        run.save_figure(viz.plot_history(history.history), "losses.png")
    if hasattr(model, "traversal_latent"):
        from keras_unsup.callbacks.latent_traversal import latent_traversal_figure

        for code in range(model.n_continuous):
            run.save_figure(
                latent_traversal_figure(model, code=code, seed=seed), f"traversal_code{code}.png"
            )
        if data.y_test is not None:
            fig = viz.plot_confusion_matrix(
                data.y_test, model.predict_categories(data.x_test), class_names=data.class_names
            )
            run.save_figure(fig, "clusters.png")


def _write_began_figures(run, model, history, seed):
    """BEGAN's latent interpolations and its convergence curves (M_global and k)."""
    from keras_unsup import viz

    n_pairs, n_steps = 6, 10
    latent = model.interpolation_latent(n_pairs, n_steps, seed=seed)
    # one pair of noise vectors per row, from z_a (t = 0) to z_b (t = 1)
    titles = [f"t={t:.2f}" for t in np.linspace(0, 1, n_steps)] + [""] * (n_steps * (n_pairs - 1))
    fig = viz.image_grid(model.generate(latent=latent), nrows=n_pairs, ncols=n_steps,
                         titles=titles, row_labels=[f"pair {i + 1}" for i in range(n_pairs)])
    run.save_figure(fig, "interpolations.png")
    keys = [k for k in ("m_global", "k") if history.history.get(k)]
    if keys:
        run.save_figure(viz.plot_history(history.history, keys=keys), "convergence.png")


@register("dcgan", family="generative", options=OPTIONS["dcgan"], min_steps=MIN_STEPS, summary="DCGAN (non-saturating loss)", clusters=False)
def run_dcgan(config, data, run):
    return train_gan("dcgan", config, data, run)[0]


@register(
    "infogan",
    family="generative",
    options=OPTIONS["infogan"],
    min_steps=MIN_STEPS,
    summary="InfoGAN (categorical + continuous codes; Q's category as clusters)",
    clusters=True,
)
def run_infogan(config, data, run):
    return train_gan("infogan", config, data, run)[0]


@register("wgan-gp", family="generative", options=OPTIONS["wgan-gp"], min_steps=MIN_STEPS, summary="WGAN with gradient penalty", clusters=False)
def run_wgan_gp(config, data, run):
    return train_gan("wgan-gp", config, data, run)[0]


@register("began", family="generative", options=OPTIONS["began"], min_steps=MIN_STEPS,
          summary="BEGAN (autoencoder discriminator, equilibrium control k, M_global)",
          clusters=False)
def run_began(config, data, run):
    from keras_unsup.checks import check_image_array

    # NaN images would make every reconstruction loss (and k) NaN: refuse them first
    # (a stream's files are decoded images, in [0, 1] by construction).
    for name in () if data.is_streaming else ("x_train", "x_test"):
        x = getattr(data, name, None)
        if isinstance(x, np.ndarray):
            check_image_array(x, name, dtype=None)
    return train_gan("began", config, data, run)[0]
