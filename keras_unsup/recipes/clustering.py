"""Recipes of the clustering family: pixel baselines, autoencoder codes, UMAP, DEC, IDEC.

Every method clusters all images of the dataset (`x_all`, train and test together,
as DEC and N2D do on MNIST) into `n_clusters` groups (by default the number of
classes), and scores the clusters against the true labels, which are used only for
scoring and for colouring the plots. A run folder gets `metrics.json`,
`confusion_matrix.png`, `embedding_clusters.png` and `embedding_labels.png` (the
features the method clusters, projected to 2-D, coloured by cluster and by class),
and for the deep methods the trained model (`model.keras`).

| method      | features clustered                                 | clusterer            |
| ----------- | -------------------------------------------------- | -------------------- |
| kmeans      | pixels                                             | k-means              |
| gmm         | pixels -> PCA                                      | full-covariance GMM  |
| ae-kmeans   | codes of a pretrained dense autoencoder            | k-means              |
| ae-gmm      | codes of a pretrained dense autoencoder            | full-covariance GMM  |
| ae-umap-gmm | codes -> UMAP (N2D, McConville et al., 2020)       | full-covariance GMM  |
| dec         | codes fine-tuned by DEC (Xie et al., 2016)         | Student's t centres  |
| idec        | codes fine-tuned by IDEC (Guo et al., 2017)        | Student's t centres  |
| dec-da      | DEC with shifted/rotated images (Guo et al., 2018) | Student's t centres  |

The deep methods share one pretraining: pass the option `ae_dir` (a folder) and the
autoencoder trained there for a dataset and seed is reused by every later run with
the same `ae_dir`, which is how the benchmark runs five deep methods for the price of
one pretraining. Without `ae_dir` the autoencoder is trained inside the run folder.
Asking the same folder for more pretraining epochs trains the saved autoencoder on
from where it stopped (40 epochs, then 100: only 60 more are trained).
Reruns into the same folder resume: the pretraining from its last finished epoch,
DEC and IDEC from their last refresh of the target distribution, UMAP from its saved
embedding (both computed afresh when the pretraining they came from has changed).

A streamed folder (`data.is_streaming`) is clustered by the neural methods without
holding its images: the autoencoder pretrains on `data.stream("all")`, its
reconstruction error is read batch by batch, the codes come from `data.encode` per
split, and DEC/IDEC draw their batches by index from the files
(`TargetDistributionRefresh` on the dataset); only codes and labels are held whole.
k-means and the GMM on pixels need the pixels in memory and refuse a stream.
"""


import numpy as np

from keras_unsup.recipes.base import Budget, RunDir, Stopwatch, _jsonable, register
from keras_unsup.recipes.options import Option

FAMILY = "clustering"

# The autoencoder's pretraining budget in optimizer steps, whatever the data (the epochs
# follow from its size), and at most 300 passes over it: DEC-keras pretrains for 200-300
# epochs. More passes over a small set overfit the codes: on digits (1,797 images) k-means
# on the codes scored .747 after 300 epochs (2,400 steps) and .667 after 1,000 (8,000
# steps), and DEC, which starts from that k-means, ends lower with it (issue 13).
PRETRAIN = Budget(steps=8000, quick_steps=60, batch_size=256, max_epochs=300,
                  drop_remainder=False)
QUICK_MAX_ITER = 300  # DEC/IDEC steps in quick mode
PLOT_POINTS = 1500  # points in the embedding plots (t-SNE time grows with them)
MAX_ITER = 5000  # DEC/IDEC steps when the option `max_iter` is not given
# Pretraining steps below which the autoencoder's codes are barely trained.
MIN_STEPS = 1000

_COMMON = [
    Option("n_clusters", "int", None, "number of clusters (default: the number of classes)",
           minimum=2),
    Option("plot_points", "int", PLOT_POINTS, "points shown in the 2-D embedding plots",
           minimum=2),
    Option("plot_projection", "choice", None, "projection of the embedding plots (default: "
           "pca in quick mode, tsne otherwise)", choices=("tsne", "pca")),
]
_PRETRAIN = [
    Option("code_size", "int", 10, "size of the dense autoencoder's code", minimum=1),
    Option("hidden_units", "ints", [500, 500, 2000], "widths of the encoder's hidden layers "
           "(the decoder mirrors them)"),
    Option("learning_rate", "float", 1e-3, "Adam's learning rate of the pretraining",
           minimum=0.0, low_open=True),
    Option("ae_dir", "folder", None, "folder of a pretrained autoencoder shared between runs "
           "(default: the run folder's pretrain/)"),
]


def _n_init(default):
    return Option("n_init", "int", default, "restarts of the clusterer's initialisation",
                  minimum=1)


_DEC = [
    Option("update_interval", "int", 140, "DEC steps between refreshes of the target "
           "distribution", minimum=1),
    Option("tol", "float", 1e-3, "stop when fewer than this share of labels change between "
           "refreshes", minimum=0.0, maximum=1.0),
    Option("max_iter", "int", None, f"the most DEC steps (default: {MAX_ITER}, "
           f"{QUICK_MAX_ITER} in quick mode)", minimum=1),
    Option("dec_batch_size", "int", 256, "images per DEC step", minimum=1),
    Option("alpha", "float", 1.0, "degrees of freedom of the Student's t kernel", minimum=0.0,
           low_open=True),
    _n_init(20),
    Option("learning_rate_dec", "float", None, "learning rate of the DEC phase (default: "
           "the paper's optimizer)", minimum=0.0, low_open=True),
]
OPTIONS = {
    "kmeans": _COMMON + [_n_init(10)],
    "gmm": _COMMON + [Option("pca_components", "int", 50, "PCA components before the GMM",
                             minimum=1), _n_init(2)],
    "ae-kmeans": _COMMON + _PRETRAIN + [_n_init(10)],
    "ae-gmm": _COMMON + _PRETRAIN + [_n_init(3)],
    "ae-umap-gmm": _COMMON + _PRETRAIN + [
        Option("umap_neighbors", "int", 20, "UMAP's neighbourhood size", minimum=2),
        Option("umap_min_dist", "float", 0.0, "UMAP's minimum distance", minimum=0.0),
        Option("umap_components", "int", None, "UMAP dimensions (default: the number of "
               "clusters)", minimum=1),
        _n_init(3)],
    "dec": _COMMON + _PRETRAIN + _DEC,
    "idec": _COMMON + _PRETRAIN + _DEC + [
        Option("gamma", "float", 0.1, "weight of the clustering loss against the "
               "reconstruction loss", minimum=0.0, low_open=True)],
    # DEC-DA (Guo et al., 2018): ImageDataGenerator(width_shift_range=0.1,
    # height_shift_range=0.1, rotation_range=10) in both phases.
    "dec-da": _COMMON + _PRETRAIN + _DEC + [
        Option("autoencoder", "choice", "dense", "the autoencoder: dense (d-500-500-2000-10, "
               "FcDEC-DA) or conv (DEC-DA's CAE: strided conv 32-64-128, kernels 5-5-3; "
               "hidden_units unused)", choices=("dense", "conv")),
        Option("rotation", "float", 10.0, "largest rotation of an augmented image, in "
               "degrees (DEC-DA: 10)", minimum=0.0, maximum=180.0),
        Option("shift", "float", 0.1, "largest shift of an augmented image, as a share of "
               "its height and width (DEC-DA: 0.1, about 3 px of 28)", minimum=0.0,
               maximum=0.5)],
}


def _settings(config, method):
    """The method's options, with the data- and mode-dependent defaults filled in."""
    settings = {o.name: config.options.get(o.name) for o in OPTIONS[method]}
    if "max_iter" in settings and settings["max_iter"] is None:
        settings["max_iter"] = MAX_ITER
    return settings


def _n_clusters(config, data, n):
    from keras_unsup.checks import check_int

    value = config.option("n_clusters", data.n_classes)
    if value is None:
        raise ValueError("The dataset has no labels, so the number of clusters is unknown: "
                         f"pass the option `{config.label('n_clusters')}`. "
                         f"Received: {config.label('n_clusters')}=None")
    return check_int(value, config.label("n_clusters"), 2, n)


# The pixel baselines fit on every image at once: a streamed folder is refused (the
# neural methods cluster codes, computed from the stream).
_IN_MEMORY_WHY = ("it clusters the pixels of every image (`x_all`) at once; the methods on "
                  "autoencoder codes (ae-kmeans, ae-gmm, ae-umap-gmm, dec, idec) cluster a "
                  "stream")


def _require_in_memory(data, method="clustering", flag=None):
    from keras_unsup.recipes.common import require_in_memory

    require_in_memory(data, method, _IN_MEMORY_WHY, flag=flag)


def _images(data, config):
    _require_in_memory(data, config.method, config.option_flag)
    x = data.x_all
    if not np.all(np.isfinite(x)):
        raise ValueError("The images must hold only finite values; they hold NaN or infinity.")
    return x


def _n_images(data):
    return int(data.n_train) + int(data.n_test)


def _encode_all(model, data, x=None):
    """`model`'s outputs for every image (train then test, as `x_all` orders them).

    In memory, of the array `x`; on a stream, `data.encode` over the train split then
    the test split (`"all"`, one pass in batches), so only the outputs are held whole.
    """
    from keras_unsup.recipes.common import encode

    if data.is_streaming:
        return data.encode(model, "all", batch_size=1024)
    return encode(model, x)


def _labels(data):
    y = data.y_all
    if y is None:  # unlabelled data: nothing to score against
        return None
    return y


def _scores(y, labels):
    from keras_unsup.evaluation.metrics import clustering_scores

    if y is None:
        return {}
    return clustering_scores(y, labels)


# --- figures -------------------------------------------------------------------------

def write_figures(run, features, labels, y, *, seed=0, class_names=None,
                  plot_points=PLOT_POINTS, title="", projection="tsne"):
    """Confusion matrix and 2-D embedding plots (by cluster and by class) of a run.

    The features are projected with `projection` (`"tsne"` or `"pca"`, see
    `project_embeddings`) on a seeded subset of `plot_points` rows.
    """
    if not run:
        return
    from keras_unsup import viz
    from keras_unsup.embedding.projection import project_embeddings

    if y is not None:
        run.save_figure(viz.plot_confusion_matrix(y, labels, class_names=class_names,
                                                  title=None), "confusion_matrix.png")
    features = np.asarray(features).reshape(len(features), -1)
    method = projection if features.shape[1] > 2 else "pca"
    points, index = project_embeddings(features, method=method, seed=seed, max_points=plot_points)
    run.save_figure(viz.plot_latent(points, labels[index], title=f"{title}: clusters"),
                    "embedding_clusters.png")
    if y is not None:
        run.save_figure(viz.plot_latent(points, y[index], title=f"{title}: true classes",
                                        class_names=class_names), "embedding_labels.png")


def _finish(config, data, run, features, labels, title, extra):
    run.phase("plotting")
    y = _labels(data)
    metrics = {**_scores(y, labels), "n_clusters": len(np.unique(labels)),
               "n_clustered": len(labels), **extra}
    if "pretrain_epochs" in extra:
        # What decides whether the codes mean anything (run_recipe flags a short run).
        batch = int(config.batch_size or PRETRAIN.batch_size)
        metrics["pretrain_steps"] = int(extra["pretrain_epochs"]) * -(-len(labels) // batch)
    if run:
        np.save(run.file("labels.npy"), np.asarray(labels, np.int64))
    write_figures(run, features, np.asarray(labels), y, seed=config.seed,
                  class_names=data.class_names,
                  plot_points=int(config.options["plot_points"]), title=title,
                  # t-SNE takes a while on a CPU; quick mode (CI, notebooks) plots with PCA.
                  projection=config.option("plot_projection", "pca" if config.quick else "tsne"))
    return metrics


# --- pixel baselines -----------------------------------------------------------------

@register("kmeans", family=FAMILY, options=OPTIONS["kmeans"], summary="k-means on pixels (baseline)")
def run_kmeans(config, data, run):
    from sklearn.cluster import KMeans

    x = _images(data, config)
    x = x.reshape(len(x), -1)
    k = _n_clusters(config, data, len(x))
    s = _settings(config, "kmeans")
    with Stopwatch() as watch:
        labels = KMeans(k, n_init=int(s["n_init"]), random_state=config.seed).fit_predict(x)
    return _finish(config, data, run, x, labels, "k-means on pixels",
                   {"cluster_time_s": watch.seconds})


@register("gmm", family=FAMILY, options=OPTIONS["gmm"], summary="PCA then a full-covariance GMM on pixels (baseline)")
def run_gmm(config, data, run):
    from sklearn.decomposition import PCA

    x = _images(data, config)
    x = x.reshape(len(x), -1)
    k = _n_clusters(config, data, len(x))
    s = _settings(config, "gmm")
    with Stopwatch() as watch:
        n_comp = int(min(s["pca_components"], x.shape[1], len(x) - 1))
        reduced = PCA(n_comp, random_state=config.seed).fit_transform(x)
        labels = _gmm(reduced, k, config.seed, s["n_init"])
    return _finish(config, data, run, reduced, labels, "GMM on PCA of pixels",
                   {"cluster_time_s": watch.seconds, "pca_components": n_comp})


def _gmm(features, k, seed, n_init):
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(k, covariance_type="full", n_init=int(n_init), random_state=seed,
                          reg_covar=1e-5)
    return gmm.fit(features.astype(np.float64)).predict(features.astype(np.float64))


# --- autoencoder pretraining ------------------------------------------------------------

def pretrained_autoencoder(config, data, run):
    """The dense autoencoder of a run, trained on `x_all` once and reused.

    With the option `ae_dir` the autoencoder lives in that folder (shared between
    runs); otherwise in `run`'s `pretrain/` folder. Either way it is one fit of the run
    state (`training.fit`, named `pretrain`, keyed by its settings): a finished
    pretraining is reused, an interrupted one resumes from its last finished epoch, and
    asking for more epochs trains the saved autoencoder on from where it stopped
    (optimizer state included). Other settings, or fewer epochs than the folder holds,
    are refused with an error naming the folder. Returns `(autoencoder, encoder,
    decoder, info)`, `info` holding the pretraining's epochs, time and throughput.
    """
    from keras_unsup.recipes.common import pretrain_autoencoder, stream_reconstruction_mse

    # A stream trains on all its images (`stream("all")`, as `x_all` in memory).
    x = data if data.is_streaming else _images(data, config)
    key = _pretrain_key(config, data)
    builder, builder_kwargs = _builder(config)
    augmentation = _augmentation(config, seed=config.seed)
    if augmentation is not None:
        from keras_unsup.data.augment import AugmentedImages

        # DEC-DA: each augmented image reconstructs itself, new transforms every epoch.
        train_x = AugmentedImages(x, augmentation)
    else:
        train_x = x
    epochs = key.pop("epochs")
    folder = config.option("ae_dir")
    label = config.label("ae_dir") if folder is not None else "--out" \
        if config.option_flag else "out_dir"
    if folder is None and run:
        folder = run.file("pretrain")
    ae_run = RunDir(folder)
    saved = ae_run.read_state().get("fits", {}).get("pretrain", {})
    if saved and saved.get("key") != _jsonable(key):
        raise ValueError(
            f"`{label}` holds an autoencoder pretrained with other settings ({saved.get('key')}); "
            f"this run asks for {key}. Received: {label}={str(folder)!r}")
    done = int(saved.get("epochs_done", 0)) if saved.get("done") else 0
    if done > epochs:
        raise ValueError(
            f"`{label}` holds an autoencoder pretrained for {done} epochs; this run asks for "
            f"{epochs} (more extend it, fewer cannot be had). Received: {label}={str(folder)!r}")
    autoencoder, encoder, decoder, throughput, history = pretrain_autoencoder(
        train_x, builder=builder, epochs=epochs, batch_size=key["batch_size"],
        seed=config.seed, run=ae_run if ae_run else None, verbose=config.verbose,
        learning_rate=float(config.options["learning_rate"]), name="pretrain", key=key,
        split="all", **builder_kwargs)

    def reconstruction_mse():
        if data.is_streaming:
            return stream_reconstruction_mse(autoencoder, data, "all", batch_size=1024)
        recon = autoencoder.evaluate(x, x, batch_size=1024, verbose=0)
        return recon if np.isscalar(recon) else recon[0]

    # Once per pretraining, not once per method sharing it (`ae_dir`) or per rerun.
    recon = ae_run.cached_array("recon_mse", {**key, "epochs": epochs}, reconstruction_mse)
    info = {"pretrain_epochs": epochs, "pretrain_time_s": float(sum(throughput.epoch_seconds)),
            "images_per_second": throughput.images_per_second,
            "recon_mse": float(recon),
            "pretrain_reused": history.steps_this_call == 0}
    if 0 < done < epochs:
        info["pretrain_extended_from"] = done
    if ae_run and history.steps_this_call:
        ae_run.save_model(autoencoder, "autoencoder.keras")
    return autoencoder, encoder, decoder, info


def _pretrain_key(config, data):
    """What identifies a run's pretrained autoencoder: data, architecture, epochs, seed
    (and, for DEC-DA, the autoencoder and the augmentation it was pretrained with)."""
    key = {"dataset": data.name, "n": data.n_train + data.n_test,
           "image_shape": [int(d) for d in data.image_shape],
           "epochs": PRETRAIN.epochs(config, data.n_train + data.n_test),
           "code_size": int(config.options["code_size"]),
           "hidden_units": list(config.options["hidden_units"]),
           "learning_rate": float(config.options["learning_rate"]),
           "batch_size": int(config.batch_size or PRETRAIN.batch_size), "seed": config.seed}
    if "autoencoder" in config.options:  # absent for the others: their keys stay as they were
        key["autoencoder"] = config.options["autoencoder"]
        if key["autoencoder"] == "conv":
            del key["hidden_units"]
    if "rotation" in config.options:
        key["augment"] = {"rotation": float(config.options["rotation"]),
                          "shift": float(config.options["shift"])}
    return key


def _builder(config):
    """The autoencoder builder of a run and its arguments (dense unless `autoencoder`)."""
    from keras_unsup.builders.autoencoder import build_conv_autoencoder, build_dense_autoencoder

    code_size = int(config.options["code_size"])
    if config.options.get("autoencoder") == "conv":
        return build_conv_autoencoder, {"code_size": code_size}
    return build_dense_autoencoder, {"code_size": code_size,
                                     "hidden_units": tuple(config.options["hidden_units"])}


def _augmentation(config, seed):
    """DEC-DA's random shifts and rotations as a seeded layer, or `None` (no such options)."""
    if "rotation" not in config.options:
        return None
    from keras_unsup.data.views import RandomAffine

    return RandomAffine(rotation=float(config.options["rotation"]),
                        translation=float(config.options["shift"]), seed=seed)


def _check_augmentation(config):
    """DEC-DA without shifts or rotations is DEC: refused before any work."""
    if float(config.options["rotation"]) == 0.0 and float(config.options["shift"]) == 0.0:
        raise ValueError(
            f"dec-da augments its images: `{config.label('rotation')}` and "
            f"`{config.label('shift')}` cannot both be 0 (that is the method dec). "
            f"Received: {config.label('rotation')}=0.0, {config.label('shift')}=0.0")


def _codes(config, data, run):
    autoencoder, encoder, decoder, info = pretrained_autoencoder(config, data, run)
    codes = _encode_all(encoder, data, None if data.is_streaming else _images(data, config))
    if not np.all(np.isfinite(codes)):
        raise ValueError("The autoencoder's codes hold NaN or infinity; pretraining diverged "
                         "(try a smaller `learning_rate`).")
    return autoencoder, encoder, decoder, codes, info


@register("ae-kmeans", family=FAMILY, options=OPTIONS["ae-kmeans"], min_steps=MIN_STEPS, summary="k-means on the codes of a dense autoencoder")
def run_ae_kmeans(config, data, run):
    from sklearn.cluster import KMeans

    k = _n_clusters(config, data, data.n_train + data.n_test)
    s = _settings(config, "ae-kmeans")
    autoencoder, _, _, codes, info = _codes(config, data, run)
    with Stopwatch() as watch:
        labels = KMeans(k, n_init=int(s["n_init"]), random_state=config.seed).fit_predict(codes)
    run.save_model(autoencoder)
    return _finish(config, data, run, codes, labels, "k-means on autoencoder codes",
                   {**info, "cluster_time_s": watch.seconds})


@register("ae-gmm", family=FAMILY, options=OPTIONS["ae-gmm"], min_steps=MIN_STEPS, summary="full-covariance GMM on the codes of a dense autoencoder")
def run_ae_gmm(config, data, run):
    k = _n_clusters(config, data, data.n_train + data.n_test)
    s = _settings(config, "ae-gmm")
    autoencoder, _, _, codes, info = _codes(config, data, run)
    with Stopwatch() as watch:
        labels = _gmm(codes, k, config.seed, s["n_init"])
    run.save_model(autoencoder)
    return _finish(config, data, run, codes, labels, "GMM on autoencoder codes",
                   {**info, "cluster_time_s": watch.seconds})


def umap_embedding(codes, n_components, *, n_neighbors=20, min_dist=0.0, seed=0):
    """UMAP of the codes (N2D's manifold step), float32 `(n, n_components)`."""
    import umap

    n_neighbors = int(min(n_neighbors, len(codes) - 1))
    reducer = umap.UMAP(n_components=int(n_components), n_neighbors=n_neighbors,
                        min_dist=float(min_dist), metric="euclidean", random_state=seed,
                        n_jobs=1)
    return np.asarray(reducer.fit_transform(codes), np.float32)


@register("ae-umap-gmm", family=FAMILY, options=OPTIONS["ae-umap-gmm"], min_steps=MIN_STEPS,
          summary="autoencoder codes -> UMAP -> GMM (N2D-style manifold clustering)")
def run_ae_umap_gmm(config, data, run):
    k = _n_clusters(config, data, data.n_train + data.n_test)
    s = _settings(config, "ae-umap-gmm")
    autoencoder, _, _, codes, info = _codes(config, data, run)
    n_components = int(s["umap_components"] or k)
    with Stopwatch() as watch:
        # Computed once per pretraining: a rerun after an interruption reuses it, a rerun
        # after the autoencoder was trained further computes it from the new codes.
        embedded = run.cached_array(
            "umap", {"pretrain": _pretrain_key(config, data), "components": n_components},
            lambda: umap_embedding(codes, n_components, n_neighbors=s["umap_neighbors"],
                                   min_dist=s["umap_min_dist"], seed=config.seed))
    umap_time = watch.seconds
    with Stopwatch() as gmm_watch:
        labels = _gmm(embedded, k, config.seed, s["n_init"])
    run.save_model(autoencoder)
    return _finish(config, data, run, embedded, labels, "GMM on UMAP of autoencoder codes",
                   {**info, "umap_time_s": umap_time, "cluster_time_s": umap_time
                    + gmm_watch.seconds, "umap_components": n_components})


# --- DEC and IDEC ---------------------------------------------------------------------

def _run_dec(method, config, data, run):
    import math

    from keras_unsup.callbacks.target_distribution_refresh import TargetDistributionRefresh
    from keras_unsup.models.dec import DEC, IDEC
    from keras_unsup.recipes import training

    # On a stream the refresh draws its batches from the files, by index: no image array.
    x = None if data.is_streaming else _images(data, config)
    k = _n_clusters(config, data, _n_images(data))
    s = _settings(config, method)
    max_iter = int(s["max_iter"])
    if config.quick and config.option("max_iter") is None:
        max_iter = min(max_iter, QUICK_MAX_ITER)
    if method == "dec-da":
        _check_augmentation(config)
    _, encoder, decoder, info = pretrained_autoencoder(config, data, run)
    # DEC fine-tunes the encoder: work on copies so a shared pretrained model stays intact.
    encoder = _copy(encoder)
    if method == "idec":
        model = IDEC(encoder, _copy(decoder), n_clusters=k, alpha=float(s["alpha"]),
                     gamma=float(s["gamma"]))
    else:
        # DEC-DA: the clustering phase sees augmented images (its own seeded draws).
        model = DEC(encoder, n_clusters=k, alpha=float(s["alpha"]),
                    augmentation=_augmentation(config, seed=config.seed + 1))
    optimizer = model.default_optimizer()
    if s.get("autoencoder") == "conv":
        import keras

        optimizer = keras.optimizers.Adam(1e-3)  # ConvDEC-DA's clustering optimizer
    if config.option("learning_rate_dec") is not None:
        optimizer.learning_rate = float(config.option("learning_rate_dec"))
    model.compile(optimizer=optimizer)
    update_interval, batch, tol = int(s["update_interval"]), int(s["dec_batch_size"]), \
        float(s["tol"])
    # One Keras epoch is one update interval: a rerun resumes from the last finished one
    # (BackupAndRestore in `training.fit`), the refresh recomputing p from its weights.
    refresh = TargetDistributionRefresh(data if x is None else x,
                                        update_interval=update_interval, batch_size=batch,
                                        tol=tol, n_init=int(s["n_init"]), seed=config.seed,
                                        split="all")
    # The fit starts afresh when the autoencoder it starts from or a setting changed.
    key = {"pretrain": _pretrain_key(config, data), "n_clusters": k,
           **{name: s.get(name) for name in ("alpha", "gamma", "update_interval", "tol",
                                             "dec_batch_size", "n_init")},
           "learning_rate_dec": config.option("learning_rate_dec")}
    with Stopwatch() as watch:
        history, _ = training.fit(
            model, refresh.dataset(), epochs=math.ceil(max_iter / update_interval), run=run,
            n_images=update_interval * batch, callbacks=[refresh, _keep_initial_labels(
                refresh, run, key)], verbose=config.verbose, name=method, key=key)
    labels = refresh.labels
    if labels is None:  # a finished fit was reused: no epoch (and no refresh) ran
        labels = _predict_all(model, data, x).argmax(axis=1)
    start = _initial_labels(refresh, run, key)
    if start is not None:
        # The k-means start on the pretrained codes, scored beside the end (labels only
        # score it; nothing is decided by them).
        y = _labels(data)
        if y is not None:
            info["init_acc"] = _scores(y, start)["acc"]
        info["changed_from_init"] = float(np.mean(start != labels))
    logs = history.history  # every epoch of the fit, also those before a resume
    deltas = logs.get("delta_label", [])
    run.write_json("dec_history.json", [
        {"iteration": (epoch + 1) * update_interval,
         **{name: values[i] for name, values in logs.items()}}
        for i, epoch in enumerate(history.epoch)])
    run.save_model(model)
    return _finish(config, data, run, _encode_all(model.encoder, data, x), labels,
                   method.upper(),
                   {**info, "cluster_time_s": watch.seconds,
                    "dec_iterations": int(model.optimizer.iterations.value.numpy()),
                    "dec_converged": bool(deltas) and deltas[-1] < tol})


def _keep_initial_labels(refresh, run, key):
    """A callback saving the k-means start's labels (`refresh.initial_labels`) in the run
    folder at the first epoch's end, so a resumed run still scores its start."""
    import keras

    def keep(epoch, logs=None):
        if refresh.initial_labels is not None:
            run.cached_array("init_labels", key, lambda: refresh.initial_labels)

    return keras.callbacks.LambdaCallback(on_epoch_end=keep)


def _initial_labels(refresh, run, key):
    if refresh.initial_labels is not None:
        return refresh.initial_labels
    path = run.file("checkpoints/init_labels.npy") if run else None
    if path is not None and path.is_file() and \
            run.read_state().get("phases", {}).get("init_labels") == _jsonable(key):
        return np.load(path)
    return None


def _predict_all(model, data, x):
    if x is None:
        return _encode_all(model, data)
    return model.predict(x, batch_size=1024, verbose=0)


def _copy(model):
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


@register("dec", family=FAMILY, options=OPTIONS["dec"], min_steps=MIN_STEPS, summary="Deep Embedded Clustering on a pretrained autoencoder")
def run_dec(config, data, run):
    return _run_dec("dec", config, data, run)


@register("idec", family=FAMILY, options=OPTIONS["idec"], min_steps=MIN_STEPS, summary="Improved DEC (reconstruction loss kept, gamma=0.1)")
def run_idec(config, data, run):
    return _run_dec("idec", config, data, run)


@register("dec-da", family=FAMILY, options=OPTIONS["dec-da"], min_steps=MIN_STEPS,
          summary="DEC with data augmentation (random shifts and rotations in both phases)")
def run_dec_da(config, data, run):
    """DEC-DA (Guo, Zhu, Liu and Yin, 2018, "Deep Embedded Clustering with Data
    Augmentation", ACML): the autoencoder (dense, or their CAE with `autoencoder=conv`)
    pretrains on randomly shifted and rotated images, each reconstructing itself; the
    clustering phase is DEC's, each step's images augmented and paired with the target
    `p` of the clean images."""
    return _run_dec("dec-da", config, data, run)


__all__ = ["OPTIONS", "PRETRAIN", "pretrained_autoencoder", "umap_embedding", "write_figures"]
