"""Recipes: one file per method family, each registering its methods with `register`.

`run_recipe` is the single entry point the CLI, the benchmark and notebooks use:
it loads the data, seeds everything, runs the method, adds the common fields and
writes `metrics.json`. Every module in this package is imported on first use, so a
new recipe file registers itself without edits elsewhere.
"""

import importlib
import pkgutil

from keras_unsup.recipes.base import RECIPES, Recipe, RunConfig, RunDir, Stopwatch, set_seed

_SKIP = {"base", "training", "benchmark", "common", "options"}  # helpers, not recipes
_loaded = False

# Images used in quick mode (CI, notebooks' quick mode): small, so a run takes seconds.
QUICK_TRAIN, QUICK_TEST = 2000, 500


def _load_all():
    global _loaded
    if _loaded:
        return
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _SKIP and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _loaded = True


def list_recipes():
    """Registered recipes, sorted by family then name."""
    _load_all()
    return sorted(RECIPES.values(), key=lambda r: (r.family, r.name))


def get_recipe(method):
    """The `Recipe` registered as `method`; a clear error for an unknown name."""
    _load_all()
    if method not in RECIPES:
        raise ValueError(
            f"`method` must be one of {sorted(RECIPES)}. Received: method={method!r}"
        )
    return RECIPES[method]


def load_run_data(config):
    """The dataset of a run, shrunk in quick mode.

    A large folder streams (`FolderDataset`); in quick mode it stays a stream of a
    subset of its files (nothing is decoded here), so a quick run follows the same
    streamed path as the full one.
    """
    from keras_unsup.data import load_dataset

    data = load_dataset(config.dataset, seed=0)
    if config.quick:
        # Dataset.subset draws images, FolderDataset.subset draws files: the same sizes.
        data = data.subset(QUICK_TRAIN, QUICK_TEST, seed=config.seed)
    return data


def run_recipe(method, dataset="digits", *, epochs=None, seed=0, batch_size=None,
               out_dir=None, quick=False, verbose=1, data=None, option_flag=None,
               overwrite=False, distribute="none", **options):
    """Trains and evaluates `method` and returns its metrics.

    Args:
        method: a registered name (`keras-unsup list` shows them).
        dataset: dataset name or image folder, see `load_dataset`.
        epochs: training epochs; `None` takes the recipe's default for the dataset.
        seed: seed of every random choice; two runs with one seed on CPU agree.
        batch_size: `None` takes the recipe's default.
        out_dir: folder for metrics.json, figures and model.keras; a rerun into the
            same folder after an interruption resumes from the last finished epoch
            (training nothing again that had finished), and a rerun of a finished run
            returns its metrics without training.
        quick: small data and few epochs.
        verbose: Keras' progress bar (1), a line per epoch (2) or silence (0).
        data: an already loaded `Dataset` to use instead of `dataset`.
        option_flag: how the caller's user typed the option keys (the CLI passes
            `"--set"`), used in error messages.
        overwrite: start `out_dir` afresh (its run state, checkpoints and metrics are
            deleted) instead of resuming or reusing it.
        distribute: `"none"`, `"mirrored"` (every local device) or `"multi-worker"`
            (the workers of `TF_CONFIG`, read from the environment as TensorFlow
            documents it): the `tf.distribute` strategy the models are built and
            trained under. `batch_size` is then the global batch, split over all
            replicas of all workers. With `"multi-worker"` every worker process calls
            `run_recipe` with the same arguments, and:
            - the strategy is made first, before any other TensorFlow work of the call,
              and once per process (TensorFlow allows one `MultiWorkerMirroredStrategy`
              per process, made before other ops): a process runs one multi-worker
              cluster, and its later `run_recipe` calls reuse it (they must also be
              `"multi-worker"`);
            - only the chief (the `chief` task, or worker 0 when the cluster has no
              `chief`) writes `out_dir`. Each other worker writes the same files into
              a folder of its own, `<temp dir>/keras-unsup-workers/<out_dir's name>-
              <hash of its absolute path>/<task type>-<task index>`, the same folder on
              every rerun: each worker then resumes (Keras' `BackupAndRestore` and the
              run state) or returns a finished run's metrics just as the chief does,
              which keeps the workers in step. Deleting `out_dir` alone restarts only
              the chief: rerun with `overwrite=True` (`--overwrite`) on every worker
              to start afresh.
        **options: the method's options, as declared by its recipe (`keras-unsup run
            METHOD --help` lists them); an unknown key or a value of the wrong kind is
            a `ValueError` before any work.

    Returns:
        A dict of metrics (also written to `out_dir/metrics.json`).

    Example:

    >>> metrics = run_recipe("vae", "digits", epochs=2, out_dir="runs/vae")
    """
    from keras_unsup.checks import check_choice, check_positive_int
    from keras_unsup.recipes.options import resolve_options

    recipe = get_recipe(method)
    epochs = check_positive_int(epochs, "epochs", allow_none=True)
    batch_size = check_positive_int(batch_size, "batch_size", allow_none=True)
    resolved = resolve_options(recipe, options, flag=option_flag)
    config = RunConfig(method, str(dataset if data is None else data.name), epochs, int(seed),
                       batch_size, None if out_dir is None else str(out_dir), bool(quick),
                       int(verbose), resolved, option_flag)
    check_choice(distribute, "distribute", DISTRIBUTE)
    strategy = _strategy(distribute)  # first: multi-worker needs it before other TF work
    fingerprint = _fingerprint(config, distribute)
    run = RunDir(_worker_out_dir(config.out_dir, strategy))
    if run and overwrite:
        _clear_run(run)
    state = run.read_state()
    if state:
        _check_same_run(run, state, fingerprint, option_flag)
        if state.get("status") == "finished" and state.get("metrics") is not None:
            return state["metrics"]
    if data is None:
        data = load_run_data(config)
    steps_before = _steps_recorded(run)
    run.update_state(fingerprint=fingerprint, status="running")
    set_seed(config.seed)
    with Stopwatch() as watch, _strategy_scope(strategy):
        metrics = recipe.fn(config, data, run)
    steps = _steps_recorded(run)
    result = {
        "method": method,
        "family": recipe.family,
        "dataset": data.name,
        "seed": config.seed,
        "quick": config.quick,
        "n_train": int(data.n_train),
        "n_test": int(data.n_test),
        "options": resolved,
        **metrics,
        "wall_time_s": watch.seconds,
        "phase_seconds": run.phase_times(),
    }
    if distribute != "none":
        result["distribute"] = distribute
    if run:
        result["optimizer_steps"] = steps
        result["optimizer_steps_this_call"] = steps - steps_before
    # The clustering methods' codes come from their pretraining: its steps decide.
    learned = metrics.get("pretrain_steps", steps if run else None)
    if learned is not None and learned < recipe.min_steps:
        result["short_run"] = (
            f"short run: {learned:,} optimizer steps, below the {recipe.min_steps:,} "
            f"{method} needs to learn at all; results are not representative "
            f"(give it more --epochs)")
    run.write_json("metrics.json", result)
    run.update_state(status="finished", phase="finished", metrics=result)
    return result


DISTRIBUTE = ("none", "mirrored", "multi-worker")


_MULTI_WORKER = []  # the process's one MultiWorkerMirroredStrategy, once made


def _strategy(distribute):
    """The `tf.distribute` strategy of `distribute`, `None` for `"none"`.

    `MultiWorkerMirroredStrategy` reads `TF_CONFIG`, starts this worker's server and
    waits for the other workers; TensorFlow allows it once per process and before any
    other op, so it is made on the first multi-worker call and reused after.
    """
    if distribute == "none":
        return None
    import tensorflow as tf

    if distribute == "mirrored":
        if _MULTI_WORKER:
            raise ValueError("This process already joined a multi-worker cluster; run "
                             "mirrored training in a new process. Received: "
                             "distribute='mirrored'")
        return tf.distribute.MirroredStrategy()
    if not _MULTI_WORKER:

        class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
            """TensorFlow's, with a `reduce` that takes what Keras 3's `fit` and
            `evaluate` hand it with more than one worker, which TensorFlow's refuses:
            - the first batch, reduced eagerly only to learn its shapes and build the
              model: a nested structure `(x, y)`, whose shares of an uneven batch
              differ from worker to worker. Each value stands for itself (its first
              local replica's part): no communication, nothing to mismatch;
            - the logs (scalars), reduced with `axis=0`: over the replicas alone.
            """

            def reduce(self, reduce_op, value, axis):
                parent = super(MultiWorkerMirroredStrategy, self)
                eager = tf.executing_eagerly()

                def one(v):
                    distributed = isinstance(v, tf.distribute.DistributedValues)
                    part = v.values[0] if distributed else tf.convert_to_tensor(v)
                    if part.shape.rank == 0:
                        return parent.reduce(reduce_op, v, None)
                    if eager and axis is None:  # Keras' first batch, see above
                        return self.experimental_local_results(v)[0] if distributed else v
                    return parent.reduce(reduce_op, v, axis)

                return tf.nest.map_structure(one, value)

        try:
            _MULTI_WORKER.append(MultiWorkerMirroredStrategy())
        except (RuntimeError, ValueError) as error:
            raise RuntimeError(
                "distribute='multi-worker' must be the first TensorFlow work of the "
                "process (TensorFlow configures the cluster's collective ops at start "
                f"up); TensorFlow said: {error}") from error
    return _MULTI_WORKER[0]


def _strategy_scope(strategy):
    """`strategy.scope()`, or a scope that does nothing for `None`."""
    import contextlib

    return contextlib.nullcontext() if strategy is None else strategy.scope()


def _is_chief(strategy):
    """Whether this process writes the run folder: always, but for the workers of a
    multi-worker cluster other than the chief (the `chief` task, else worker 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    jobs = resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and int(resolver.task_id or 0) == 0 \
        and "chief" not in jobs


def _worker_out_dir(out_dir, strategy):
    """`out_dir` for the chief (and without a cluster); another worker's own folder
    (the same on every rerun) in the system's temporary folder."""
    if out_dir is None or strategy is None or _is_chief(strategy):
        return out_dir
    import hashlib
    import os
    import tempfile
    from pathlib import Path

    resolver = strategy.cluster_resolver
    path = os.path.abspath(os.fspath(out_dir))
    digest = hashlib.sha1(path.encode()).hexdigest()[:10]
    return str(Path(tempfile.gettempdir()) / "keras-unsup-workers"
               / f"{Path(path).name}-{digest}" / f"{resolver.task_type}-{resolver.task_id}")


def _fingerprint(config, distribute):
    """What makes two runs the same run: everything but the epochs (more epochs into the
    same folder train on from where the run stopped)."""
    from keras_unsup.recipes.base import _jsonable

    return _jsonable({"method": config.method, "dataset": config.dataset, "seed": config.seed,
                      "batch_size": config.batch_size, "quick": config.quick,
                      "options": config.options, "epochs": config.epochs,
                      "distribute": distribute})


def _check_same_run(run, state, fingerprint, flag):
    saved = state.get("fingerprint") or {}
    differ = [f"{k}: {saved.get(k)!r} there, {fingerprint.get(k)!r} now"
              for k in sorted(set(saved) | set(fingerprint))
              if k not in ("epochs", "options") and saved.get(k) != fingerprint.get(k)]
    old, new = saved.get("options") or {}, fingerprint.get("options") or {}
    differ += [f"{k}: {old.get(k)!r} there, {new.get(k)!r} now"
               for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if differ:
        raise ValueError(f"The run folder holds a run with other settings ({'; '.join(differ)}). "
                         f"Pass {'--overwrite' if flag else 'overwrite=True'} to start it afresh, "
                         f"or choose another folder. Received: "
                         + (f"--out {run.path}" if flag else f"out_dir={str(run.path)!r}"))
    if saved.get("epochs") != fingerprint.get("epochs") and state.get("status") == "finished":
        # Other epochs: not the same command, so the finished metrics are not the answer.
        state["status"] = "running"
        run.update_state(status="running", fingerprint=fingerprint)


def _steps_recorded(run):
    """Optimizer steps recorded by every fit in the run folder (pretraining included)."""
    import json

    if not run:
        return 0
    total = 0
    for path in sorted(run.path.rglob(RunDir.STATE)):
        try:
            fits = json.loads(path.read_text()).get("fits", {})
        except (OSError, ValueError):
            continue
        total += sum(int(f.get("optimizer_steps") or 0) for f in fits.values())
    return total


def _clear_run(run):
    """Deletes what a run wrote into its folder (state, checkpoints, metrics, models)."""
    import shutil

    for name in ("checkpoints", "pretrain", "epochs"):
        shutil.rmtree(run.path / name, ignore_errors=True)
    for pattern in (RunDir.STATE, "metrics.json", "*.keras", "*.png", "*.npy"):
        for path in run.path.glob(pattern):
            path.unlink()


def run_status(out_dir):
    """`"finished"`, `"running"` (interrupted, resumable) or `None` for a folder that
    holds no run."""
    if out_dir is None:
        return None
    from pathlib import Path

    path = Path(out_dir) / RunDir.STATE
    if not path.is_file():
        return None
    import json

    try:
        return json.loads(path.read_text()).get("status")
    except ValueError:
        return None


def options_for(method, options):
    """The entries of `options` that `method` declares: for callers that hand one set of
    options to several methods (the benchmarks), which would otherwise be refused."""
    from keras_unsup.recipes.options import option_names

    names = set(option_names(get_recipe(method)))
    return {k: v for k, v in options.items() if k in names}


__all__ = ["Recipe", "RunConfig", "RunDir", "get_recipe", "list_recipes", "options_for",
           "run_recipe", "run_status"]
