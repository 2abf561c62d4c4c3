"""Recipes: one file per method family, each registering its methods with `register`.

`run_recipe` is the single entry point the CLI, the benchmark and notebooks use:
it loads the data, seeds everything, runs the method, adds the common fields and
writes `metrics.json`. Every module in this package is imported on first use, so a
new recipe file registers itself without edits elsewhere.
"""

import importlib
import pkgutil

from keras_unsup.recipes.base import RECIPES, Recipe, RunConfig, RunDir, Stopwatch, set_seed

_SKIP = {"base", "training", "benchmark", "common"}  # helpers, not recipes
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
    """The dataset of a run, shrunk in quick mode."""
    from keras_unsup.data import load_dataset

    data = load_dataset(config.dataset, seed=0)
    if config.quick:
        data = data.subset(QUICK_TRAIN, QUICK_TEST, seed=config.seed)
    return data


def run_recipe(method, dataset="digits", *, epochs=None, seed=0, batch_size=None,
               out_dir=None, quick=False, verbose=1, data=None, **options):
    """Trains and evaluates `method` and returns its metrics.

    Args:
        method: a registered name (`keras-unsup list` shows them).
        dataset: dataset name or image folder, see `load_dataset`.
        epochs: training epochs; `None` takes the recipe's default for the dataset.
        seed: seed of every random choice; two runs with one seed on CPU agree.
        batch_size: `None` takes the recipe's default.
        out_dir: folder for metrics.json, figures and model.keras; a rerun into the
            same folder after an interruption resumes from the last finished epoch.
        quick: small data and few epochs.
        verbose: Keras' progress bar (1), a line per epoch (2) or silence (0).
        data: an already loaded `Dataset` to use instead of `dataset`.
        **options: method-specific settings.

    Returns:
        A dict of metrics (also written to `out_dir/metrics.json`).

    Example:

    >>> metrics = run_recipe("vae", "digits", epochs=2, out_dir="runs/vae")
    """
    recipe = get_recipe(method)
    if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
        raise ValueError(f"`epochs` must be an integer >= 1. Received: epochs={epochs!r}")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"`batch_size` must be an integer >= 1. Received: batch_size={batch_size!r}")
    config = RunConfig(method, str(dataset if data is None else data.name), epochs, int(seed),
                       batch_size, None if out_dir is None else str(out_dir), bool(quick),
                       int(verbose), dict(options))
    if data is None:
        data = load_run_data(config)
    run = RunDir(config.out_dir)
    set_seed(config.seed)
    with Stopwatch() as watch:
        metrics = recipe.fn(config, data, run)
    result = {
        "method": method,
        "family": recipe.family,
        "dataset": data.name,
        "seed": config.seed,
        "quick": config.quick,
        "n_train": int(len(data.x_train)),
        "n_test": int(len(data.x_test)),
        **metrics,
        "wall_time_s": watch.seconds,
    }
    run.write_json("metrics.json", result)
    return result


__all__ = ["Recipe", "RunConfig", "RunDir", "get_recipe", "list_recipes", "run_recipe"]
