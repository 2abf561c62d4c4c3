"""Recipe of the capsule family: the Stacked Capsule Autoencoder (`scae`).

Kosiorek, Sabour, Teh, Hinton, "Stacked Capsule Autoencoders", NeurIPS 2019. The
PCAE and OCAE train jointly on the training images, each placed at a random offset on
a larger canvas (40x40 for 28x28 images); labels are used only to score. Two readouts,
both in metrics.json:
- unsupervised classification: k-means (as many clusters as classes) on the test
  images' object-capsule presences, scored by Hungarian matching (`acc`, `nmi`, `ari`);
  the paper's readout (`posterior_acc`: the same on the posterior presences);
- `linear_probe_acc`: a linear probe on the object capsules' presences and features.
Figures: the learned templates, reconstructions with the parts' outlines, and the
mean object-capsule presence per true class.

A NaN loss stops training at once (`NaNLossError`) without overwriting the last
finished epoch's backup; the same command resumes from it.
"""

import math

import numpy as np

from keras_unsup.recipes.base import Budget, register
from keras_unsup.recipes.options import Option

# 2,400 steps: the whole pipeline on 10,000 images took 24.9 minutes on the 2-core CPU
# (2,500 steps at 8,000 training images, epochs rounded up); 3,000 steps took 24.6 and
# 30.4 minutes on the same evening, as the machine's step time varied (0.35-0.78 s).
BUDGET = Budget(steps=2400, batch_size=64, quick_steps=40, max_epochs=500)
MIN_STEPS = 1000  # the templates only take shape after about a thousand steps
# The official MNIST run's prior within-example constant, for its 32 object capsules.
PRIOR_WITHIN_CONSTANT = 4.3
OPTIONS = [
    Option("part_capsules", "int", 40, "part capsules M (templates); the official MNIST run's 40",
           minimum=1),
    Option("object_capsules", "int", 32, "object capsules K; the official MNIST run's 32",
           minimum=1),
    Option("template_size", "int", None, "side of the square templates (default: 11 for "
           "28x28 images, in proportion otherwise)", minimum=1),
    Option("canvas_size", "int", None, "side of the square canvas the images are placed on "
           "at random (default: 40 for 28x28 images, in proportion otherwise)", minimum=1),
    Option("special_features", "int", 16, "special features per part capsule", minimum=0),
    Option("object_features", "int", 32, "feature width of each object capsule", minimum=1),
    Option("filters", "ints", [32, 32, 64, 64], "filters of the part encoder's four 3x3 "
           "convolutions (the official run: 128 each, about 1.5x slower a step on a CPU)"),
    Option("padding", "choice", "auto", "padding of those convolutions (valid: the official "
           "run's; auto: valid where it leaves a feature map of at least 3x3, as on a 40x40 "
           "canvas, else same)", choices=("auto", "valid", "same")),
    Option("pixel_scale", "float", 0.25, "standard deviation of the pixels in the image "
           "likelihood (the official run: 1, under which the parts learned nothing in 470 "
           "steps here)", minimum=0.0, low_open=True),
    Option("prior_within_constant", "float", None, "what each image's object presences "
           "should sum to (default: the official run's 4.3 for 32 objects, in proportion "
           "for other counts)", minimum=0.0),
    Option("object_pooling", "choice", "mab", "how the Set Transformer pools the parts onto "
           "the object capsules: mab (Lee et al.'s PMA block) or attention (the official "
           "SCAE code's plain multihead attention; on digits at 1,408 steps the two scored "
           "alike)", choices=("mab", "attention")),
    Option("object_masking", "choice", "log", "how the part presences mask the Set "
           "Transformer's attention: log (log-presence odds) or hard (the official code's: "
           "only the most present parts)", choices=("log", "hard")),
    Option("part_normalization", "bool", False, "batch-normalise each part's features before "
           "the Set Transformer, so the object capsules see the parts' small changes from the "
           "first steps (not in the official code; on digits it raised the probe and the "
           "presences' spread, not the k-means ACC)"),
    Option("learning_rate", "float", 1e-3, "Adam's learning rate (the official run: RMSProp "
           "with momentum 0.9, 3e-5 for 300k steps at batch 128; more here, for a budget of "
           "thousands)", minimum=0.0, low_open=True),
    Option("train_images", "int", None, "train on a random subset of this many training "
           "images (default: all; the readouts use every image)", minimum=1),
    Option("plot", "bool", True, "draw the templates, parts and presence figures"),
]


class NaNLossError(ValueError):
    """Training met a NaN or infinite loss; the run folder keeps the last finished epoch."""


def default_sizes(image_size, template_size=None, canvas_size=None):
    """`(template, canvas)` sides for square-ish images of side `image_size`: the paper's
    11 and 40 for 28x28 images, in proportion for other sizes (at least 3 and the
    image)."""
    template = template_size or max(3, int(round(11 * image_size / 28)))
    canvas = canvas_size or max(image_size, int(round(40 * image_size / 28)))
    return int(template), int(canvas)


def check_sizes(config, image_shape):
    """The `(template, canvas)` sides of a run, or a `ValueError` naming the option."""
    h, w = image_shape[:2]
    template, canvas = default_sizes(min(h, w), config.options.get("template_size"),
                                     config.options.get("canvas_size"))
    if template > min(h, w):
        label = config.label("template_size")
        raise ValueError(f"`{label}` must be at most the images' side ({h}x{w}): a part "
                         f"cannot be larger than the image. Received: {label}={template}")
    if canvas < max(h, w):
        label = config.label("canvas_size")
        raise ValueError(f"`{label}` must be at least the images' side ({h}x{w}). Received: "
                         f"{label}={canvas}")
    return template, canvas


def stop_on_nan():
    """A `TerminateOnNaN` that raises `NaNLossError` at the first NaN loss, before the
    epoch ends: the epoch's backup is then not written, so a rerun resumes from the last
    finished epoch instead of from NaN weights."""
    import keras

    class StopOnNaN(keras.callbacks.TerminateOnNaN):
        def on_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.model.stop_training = True
                raise NaNLossError(
                    f"Training stopped: the loss became {float(loss)} at batch {batch}. The "
                    "run folder keeps the last finished epoch; rerun the same command to "
                    "resume from it, or start afresh with a lower learning_rate.")

    return StopOnNaN()


def build_scae(image_shape, *, part_capsules=40, object_capsules=32, template_size=11,
               canvas_size=40, special_features=16, object_features=32,
               filters=(32, 32, 64, 64), padding="valid", pixel_scale=0.25,
               prior_within_constant=None, object_pooling="mab", object_masking="log",
               part_normalization=False, n_classes=10, seed=None):
    """An SCAE for images of `image_shape` (its PCAE and OCAE built and wired).

    As the official MNIST run (Kosiorek et al., 2019): 40 parts, 32 objects, 3x3
    convolutions of strides 2, 2, 1, 1 with valid padding, a Set Transformer of three
    one-head blocks of width 16 and outputs of width 256, object MLPs of 128 units,
    and the prior's within-example constant 4.3 for 32 objects (in proportion for other
    `object_capsules` when `prior_within_constant` is None). Not as the official run:
    the convolutions have 32, 32, 64, 64 filters instead of 128 each (`filters=(128,) *
    4` is theirs; it makes a CPU step about 1.5x slower), and the pixels' standard
    deviation is 0.25, not 1: under 1, on Fashion-MNIST, the image likelihood after 470
    steps was still below that of a constant background. The Set Transformer pools onto
    the objects with Lee et al.'s PMA block (`object_pooling="mab"`); the official code
    uses plain multihead attention there (`object_pooling="attention"`), and masks the
    attention with the part presences harder (`object_masking="hard"`). As an option, each
    part's features are batch-normalised before the Set Transformer (`part_normalization`,
    not in the official code; see `build_object_encoder`'s `normalize_parts`).
    """
    from keras_unsup.builders.capsules import build_object_encoder, build_part_encoder
    from keras_unsup.layers.affine_templates import AffineTemplates
    from keras_unsup.models.scae import OCAE, PCAE, SCAE

    channels = image_shape[-1]
    part_encoder = build_part_encoder((canvas_size, canvas_size, channels), part_capsules,
                                      n_features=special_features, filters=filters,
                                      padding=padding, seed=seed)
    templates = AffineTemplates(part_capsules, template_size, canvas_size, channels, seed=seed,
                                name="templates")
    pcae = PCAE(part_encoder, templates, image_shape, pixel_scale=pixel_scale, seed=seed)
    part_dims = 7 + special_features + template_size * template_size * channels
    object_encoder = build_object_encoder(part_capsules, part_dims, object_capsules,
                                          dim=16, num_heads=1, num_blocks=3, output_dim=256,
                                          n_features=object_features, hidden=128,
                                          pooling=object_pooling, masking=object_masking,
                                          normalize_parts=part_normalization, seed=seed)
    if prior_within_constant is None:
        prior_within_constant = PRIOR_WITHIN_CONSTANT * object_capsules / 32
    ocae = OCAE(object_encoder, n_classes=n_classes, prior_within_constant=prior_within_constant)
    return SCAE(pcae, ocae)


def encoder_padding(padding, canvas_size, n_layers):
    """The part encoder's padding: `"auto"` is `"valid"` (the official run's) where the
    canvas leaves a feature map of at least 3x3 after `n_layers` convolutions of strides
    2, 2, 1, ..., else `"same"`."""
    from keras_unsup.builders.capsules import valid_output_side

    if padding != "auto":
        return padding
    strides = [2 if i < 2 else 1 for i in range(n_layers)]
    return "valid" if valid_output_side(canvas_size, strides) >= 3 else "same"


def scae_from_options(image_shape, settings, template_size, canvas_size, n_classes=10,
                      seed=None):
    """`build_scae` with a run's options (`settings`) and its checked sizes."""
    padding = encoder_padding(settings["padding"], canvas_size, len(settings["filters"]))
    return build_scae(image_shape, part_capsules=settings["part_capsules"],
                      object_capsules=settings["object_capsules"], template_size=template_size,
                      canvas_size=canvas_size, special_features=settings["special_features"],
                      object_features=settings["object_features"], filters=settings["filters"],
                      padding=padding, pixel_scale=settings["pixel_scale"],
                      prior_within_constant=settings["prior_within_constant"],
                      object_pooling=settings["object_pooling"],
                      object_masking=settings["object_masking"],
                      part_normalization=settings["part_normalization"], n_classes=n_classes,
                      seed=seed)


def encode_capsules(model, x, batch_size=256):
    """`model(x)`'s readouts as NumPy arrays, computed in batches."""
    out = model.predict(x, batch_size=batch_size, verbose=0)
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def evaluate_capsules(model, data, seed=0):
    """The two readouts: k-means on presences (ACC/NMI/ARI) and a linear probe."""
    from keras_unsup.evaluation.metrics import kmeans_scores, linear_probe_accuracy

    train = encode_capsules(model, data.x_train)
    test = encode_capsules(model, data.x_test)
    metrics, _ = kmeans_scores(test["object_presence"], data.y_test, data.n_classes, seed=seed)
    posterior, _ = kmeans_scores(test["posterior_presence"], data.y_test, data.n_classes,
                                 seed=seed)
    metrics["posterior_acc"] = posterior["acc"]

    def probe_features(codes):
        return np.concatenate([codes["object_presence"], codes["object_features"]], axis=1)

    metrics["linear_probe_acc"] = linear_probe_accuracy(probe_features(train), data.y_train,
                                                        probe_features(test), data.y_test)
    metrics["mean_object_presence"] = float(test["object_presence"].mean())
    # How much the presences follow the image: the mean over capsules of their standard
    # deviation over the test images (0: the objects ignore the parts).
    metrics["object_presence_spread"] = float(test["object_presence"].std(axis=0).mean())
    return metrics, test


def save_figures(model, data, run, test_codes):
    """templates.png, parts.png and presence.png."""
    from keras_unsup import viz_capsules

    x = data.x_test[:8]
    canvas, recon, parts = model.pcae.reconstruct(x)
    presence = np.asarray(model.pcae.parts(model.pcae.place(data.x_test[:512]))["presence"])
    values, _ = model.pcae.templates.templates()
    run.save_figure(viz_capsules.plot_templates(np.asarray(values), presence.mean(axis=0)),
                    "templates.png")
    run.save_figure(viz_capsules.plot_part_reconstructions(
        np.asarray(canvas), np.asarray(recon), np.asarray(parts["pose"]),
        np.asarray(parts["presence"]), model.pcae.templates.template_size), "parts.png")
    if data.y_test is not None:
        run.save_figure(viz_capsules.plot_presence_by_class(
            test_codes["object_presence"], data.y_test, data.class_names), "presence.png")


@register("scae", family="capsules", clusters=True, options=OPTIONS, min_steps=MIN_STEPS,
          summary="Stacked Capsule Autoencoder: part and object capsules, k-means on presences")
def run_scae(config, data, run):
    import keras

    from keras_unsup.checks import check_image_array
    from keras_unsup.data.pipeline import image_dataset
    from keras_unsup.recipes import training
    from keras_unsup.recipes.common import require_in_memory

    require_in_memory(data, "scae", "its readouts encode the train and test images as arrays",
                      flag=config.option_flag)
    # Every check before any work: the images, then the sizes they allow.
    check_image_array(data.x_train, "x_train")
    check_image_array(data.x_test, "x_test")
    template, canvas = check_sizes(config, data.image_shape)
    settings = config.options
    if encoder_padding(settings["padding"], canvas, len(settings["filters"])) == "valid":
        from keras_unsup.builders.capsules import valid_output_side

        n = len(settings["filters"])
        if valid_output_side(canvas, [2 if i < 2 else 1 for i in range(n)]) < 1:
            label = config.label("padding")
            raise ValueError(f"`{label}` 'valid' leaves no feature map on a {canvas}x{canvas} "
                             f"canvas after {n} convolutions; use 'same' or 'auto'. Received: "
                             f"{label}='valid'")
    x = data.x_train
    n_sub = settings["train_images"]
    if n_sub is not None and n_sub < len(x):
        rng = np.random.default_rng(config.seed)
        x = x[np.sort(rng.choice(len(x), n_sub, replace=False))]
    batch_size = BUDGET.batch_for(config, len(x))
    epochs = BUDGET.epochs(config, len(x), batch_size)
    model = scae_from_options(data.image_shape, settings, template, canvas,
                              n_classes=data.n_classes or 10, seed=config.seed)
    # No jit_compile: runs enable op determinism (same seed, same metrics), which XLA lacks.
    model.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"], clipnorm=5.0))
    train_ds = image_dataset(x, batch_size, seed=config.seed, drop_remainder=True)
    history, throughput = training.fit(model, train_ds, epochs=epochs, run=run,
                                       n_images=(len(x) // batch_size) * batch_size,
                                       callbacks=[stop_on_nan()], verbose=config.verbose)
    metrics = {"epochs": epochs, "batch_size": batch_size, "train_images": len(x),
               "images_per_second": throughput.images_per_second, "template_size": template,
               "canvas_size": canvas}
    for key, values in history.history.items():
        if values:
            metrics[f"final_{key}"] = float(values[-1])
    if data.y_train is not None and data.y_test is not None:
        run.phase("evaluating")
        scores, test_codes = evaluate_capsules(model, data, seed=config.seed)
        metrics.update(scores)
        if settings["plot"] and run:
            run.phase("plotting")
            save_figures(model, data, run, test_codes)
    run.phase("saving")
    run.save_model(model)
    return metrics


def fit_constellation_ocae(n_train=20000, n_test=1000, *, epochs=30, steps_per_epoch=100,
                           batch_size=64, n_objects=2, n_votes=4, learning_rate=1e-3,
                           dynamic_l2_weight=1000.0, posterior_between_weight=10.0, seed=0,
                           verbose=0, **data_options):
    """The paper's constellation experiment (Kosiorek et al., 2019, Sec. 3.1): an OCAE
    alone, trained on 2-D point sets, scored by `assignment_accuracy`.

    Each object capsule votes for `n_votes` points under a similarity transform; the
    object-part relations are kept nearly rigid (`dynamic_l2_weight`), which is what
    lets one object explain one shape. No labels are used in training.

    Args:
        n_train, n_test: point sets to train on and to score (different seeds).
        epochs, steps_per_epoch, batch_size: the training length (optimizer steps:
            `epochs * steps_per_epoch`).
        n_objects, n_votes: object capsules and the votes of each.
        learning_rate: Adam's, decayed along a cosine to a tenth of it.
        dynamic_l2_weight: the weight of the penalty on input-dependent object-part
            relations.
        posterior_between_weight: the posterior sparsity between examples (every object
            explains its share of the batch's points): without it, one object may come
            to explain every point. Every set holds every shape, so the other sparsity
            losses (few objects per example, each in one class's share) are off.
        seed: seed of the data, the weights and the order.
        verbose: Keras' progress bar setting.
        **data_options: passed to `make_constellations` (e.g. `patterns`, `rotate`).

    Returns:
        A dict: `model` (the `OCAE`), `accuracy` (on the test sets), `history`, `test`
        (the test `Constellations`) and `assigned` (the object of each test point).
    """
    import keras
    import tensorflow as tf

    from keras_unsup.builders.capsules import build_object_encoder
    from keras_unsup.data.constellations import assignment_accuracy, make_constellations
    from keras_unsup.models.scae import OCAE
    from keras_unsup.recipes import training
    from keras_unsup.recipes.base import RunDir

    train = make_constellations(n_train, seed=seed, **data_options)
    test = make_constellations(n_test, seed=seed + 1, **data_options)
    keras.utils.set_random_seed(seed)
    n_points = train.points.shape[1]
    encoder = build_object_encoder(n_points, 2, n_objects, n_votes=n_votes, vote_dims=2,
                                   similarity=True, dim=64, num_heads=4, num_blocks=2,
                                   output_dim=64, n_features=32, hidden=64, seed=seed)
    model = OCAE(encoder, n_classes=len(train.patterns), order_invariant=True,
                 prior_within_weight=0.0, prior_between_weight=0.0,
                 posterior_within_weight=0.0, posterior_between_weight=posterior_between_weight,
                 dynamic_l2_weight=dynamic_l2_weight)
    # A cosine decay to a tenth: the assignments settle in the last steps.
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, epochs * steps_per_epoch,
                                                      alpha=0.1)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    ds = tf.data.Dataset.from_tensor_slices((train.points, train.presence))
    ds = ds.shuffle(len(train), seed=seed).repeat().batch(batch_size, drop_remainder=True)
    history, _ = training.fit(model, ds, epochs=epochs, run=RunDir(None),
                              n_images=steps_per_epoch * batch_size, verbose=verbose,
                              steps_per_epoch=steps_per_epoch, callbacks=[stop_on_nan()])
    assigned = np.asarray(model.assign(test.points, test.presence))
    return {"model": model, "history": history.history, "test": test, "assigned": assigned,
            "accuracy": assignment_accuracy(test.labels, assigned, test.presence)}


def ablate_scae(parts, objects, dataset="digits", *, epochs=None, seed=0, out_dir="runs/ablation",
                quick=False, train_images=None, test_images=None, progress=True, verbose=0,
                data=None, **options):
    """The SCAE's capsule ablation: one run per `(parts[i], objects[i])` pair.

    Each pair is an ordinary run folder (an interrupted ablation resumes); the rows,
    with the linear probe (`linear_probe_acc`) and the k-means / Hungarian matching
    accuracy on presences (`acc`), are written as `ablation.json` and `ablation.md` in
    the seed table's layout.

    Args:
        parts, objects: sequences of equal length: part and object capsules of each row.
        dataset: dataset name or image folder (or pass `data`).
        epochs, seed, quick, verbose: as for `run_recipe`.
        out_dir: folder of the tables and of one run folder per row.
        train_images, test_images: random subsets of the splits.
        progress: a progress bar over the rows.
        data: an already loaded dataset.
        **options: further `scae` options, the same for every row.

    Returns:
        The rows (dicts).
    """
    from pathlib import Path

    from keras_unsup.checks import check_positive_int
    from keras_unsup.recipes import load_run_data, run_recipe
    from keras_unsup.recipes.base import RunConfig, write_json

    parts = [check_positive_int(p, "parts") for p in parts]
    objects = [check_positive_int(k, "objects") for k in objects]
    if not parts or len(parts) != len(objects):
        raise ValueError("`parts` and `objects` must hold one value per row, as many of one as of "
                         f"the other. Received: parts={parts}, objects={objects}")
    train_images = check_positive_int(train_images, "train_images", allow_none=True)
    test_images = check_positive_int(test_images, "test_images", allow_none=True)
    if data is None:
        data = load_run_data(RunConfig("scae", dataset, quick=quick, seed=seed))
    if train_images is not None or test_images is not None:
        data = data.subset(train_images, test_images, seed=seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(parts), desc="ablate scae", unit="run")
    rows = []
    for m, k in zip(parts, objects):
        metrics = run_recipe("scae", dataset, epochs=epochs, seed=seed, quick=quick,
                             out_dir=out / f"parts_{m}-objects_{k}", verbose=verbose, data=data,
                             part_capsules=m, object_capsules=k, **options)
        rows.append({"part_capsules": m, "object_capsules": k,
                     **{key: metrics.get(key) for key in (
                         "linear_probe_acc", "acc", "nmi", "ari", "posterior_acc",
                         "images_per_second", "optimizer_steps", "wall_time_s", "epochs")}})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    summary = {"method": "scae", "dataset": data.name, "seed": seed, "quick": quick,
               "n_train": int(data.n_train), "n_test": int(data.n_test), "rows": rows}
    write_json(out / "ablation.json", summary)
    (out / "ablation.md").write_text(ablation_markdown(summary))
    return rows


def ablation_markdown(summary):
    """The ablation as the seed's table: `part / object capsules | linear classification |
    bipartite matching`, accuracies in percent."""

    def percent(value):
        return "–" if value is None else f"{100 * value:.2f}%"

    lines = [f"scae on {summary['dataset']} ({summary['n_train']} training, {summary['n_test']} "
             f"test images), seed {summary['seed']}.", "",
             "| part / object capsules | linear classification | bipartite matching |",
             "| --- | --- | --- |"]
    for row in summary["rows"]:
        lines.append(f"| {row['part_capsules']} / {row['object_capsules']} | "
                     f"{percent(row['linear_probe_acc'])} | {percent(row['acc'])} |")
    return "\n".join(lines) + "\n"


__all__ = ["BUDGET", "NaNLossError", "OPTIONS", "ablate_scae", "ablation_markdown", "build_scae",
           "check_sizes", "default_sizes", "encoder_padding", "evaluate_capsules",
           "fit_constellation_ocae", "scae_from_options", "stop_on_nan"]
