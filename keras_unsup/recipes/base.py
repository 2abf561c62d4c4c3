"""What every recipe shares: the registry, the run folder, seeding, timing, resuming.

A recipe is a function `fn(config, data, run) -> dict` registered under a method
name with `@register`. It trains on `data` (labels only ever for scoring and plots),
writes what it makes through `run` (a `RunDir`), and returns its metrics; the
caller adds the common fields and writes `metrics.json`.
"""

import contextlib
import dataclasses
import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np

from keras_unsup import _interrupt


@dataclasses.dataclass
class RunConfig:
    """Settings of one run, as the CLI, the benchmark and notebooks give them.

    Attributes:
        method: registered method name, e.g. `"vae"`.
        dataset: dataset name or image folder (see `load_dataset`).
        epochs: training epochs; `None` takes the recipe's default for the dataset.
        seed: seed of every random choice of the run.
        batch_size: `None` takes the recipe's default.
        out_dir: run folder; `None` writes nothing.
        quick: small data and few epochs (CI and notebooks' quick mode).
        verbose: Keras' progress bar (1), one line per epoch (2) or silence (0).
        options: every declared option of the method, resolved (the given values
            checked, the defaults for the rest; see `keras_unsup.recipes.options`).
        option_flag: how the user typed option keys (`"--set"` on the command line,
            `None` for keyword arguments), for error messages.
    """

    method: str
    dataset: str = "digits"
    epochs: int | None = None
    seed: int = 0
    batch_size: int | None = None
    out_dir: str | None = None
    quick: bool = False
    verbose: int = 1
    options: dict = dataclasses.field(default_factory=dict)
    option_flag: str | None = None

    def option(self, key, default=None):
        """`options[key]`, or `default` when it is `None` (decided from the data)."""
        value = self.options.get(key)
        return default if value is None else value

    def label(self, key):
        """Option `key` as the user typed it: `--set key` on the command line."""
        return f"{self.option_flag} {key}" if self.option_flag else key


@dataclasses.dataclass
class Recipe:
    """A registered method: its name, family, one-line summary, run function and the
    declaration of its options (`keras_unsup.recipes.options.Option`)."""

    name: str
    family: str
    summary: str
    fn: object
    clusters: bool = True  # whether it reports ACC/NMI/ARI (shown by the benchmark)
    options: tuple = ()
    min_steps: int = 0  # optimizer steps below which the method has not learned at all


RECIPES = {}


def register(name, *, family, summary, clusters=True, options=(), min_steps=0):
    """Decorator that registers `fn(config, data, run) -> dict` as method `name`, with
    its `options` (a sequence of `Option`), the one declaration `--set`, `run_recipe`,
    `--help` and `metrics.json` read. `min_steps`: the optimizer steps (all the run's
    fits, a pretraining included) below which the method cannot have learned; a shorter
    run is flagged as such in its metrics (`short_run`)."""

    def wrap(fn):
        if name in RECIPES:
            raise ValueError(f"Recipe {name!r} is registered twice.")
        names = [o.name for o in options]
        if len(set(names)) != len(names):
            raise ValueError(f"Recipe {name!r} declares an option twice: {names}")
        RECIPES[name] = Recipe(name, family, summary, fn, clusters, tuple(options),
                               int(min_steps))
        return fn

    return wrap


class RunDir:
    """The folder a run writes into; with `path=None` nothing is written.

    Files: `metrics.json`, figures (`*.png`), `model.keras`, `run_state.json` (the one
    run-state file: the run's settings, each fit's finished epochs and history, the
    results of finished phases, and whether the run is finished) and `checkpoints/`
    (Keras' `BackupAndRestore` folders and cached phase results). A rerun into the same
    folder resumes from them; see `keras_unsup.recipes.training.fit`.
    """

    STATE = "run_state.json"

    def __init__(self, path):
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
        # Seconds spent in each phase of this call (the time before the first `phase()`
        # call, data preparation included, counts as "training").
        self.phase_seconds = {}
        self._phase = ("training", time.perf_counter())

    def __bool__(self):
        return self.path is not None

    def file(self, name):
        """Path of `name` in the run folder (`None` when the run writes nothing)."""
        return None if self.path is None else self.path / name

    @property
    def checkpoint_dir(self):
        if self.path is None:
            return None
        folder = self.path / "checkpoints"
        folder.mkdir(exist_ok=True)
        return folder

    def save_figure(self, fig, name):
        """Saves a matplotlib figure as `name` (through `viz.save_figure`) and closes it."""
        from keras_unsup import viz

        return viz.save_figure(fig, self.file(name), close=True)

    def save_model(self, model, name="model.keras"):
        """Saves `model` as `name`, atomically (an interrupted save leaves the old file)."""
        if self.path is not None:
            tmp = self.path / f".{name}.tmp.keras"
            with quiet_keras_saving():
                model.save(tmp)
            os.replace(tmp, self.path / name)

    # --- the run-state file ----------------------------------------------------------

    def read_state(self):
        """The run-state dict (empty when nothing was written yet)."""
        return self.read_json(self.STATE) or {}

    def update_state(self, **changes):
        """Sets top-level entries of the run-state file (atomically) and returns it."""
        if self.path is None:
            return {}
        state = self.read_state()
        state.update(changes)
        self.write_json(self.STATE, state)
        return state

    def phase(self, name):
        """Records the phase the run is in (`"training"`, `"evaluating"`, `"plotting"`,
        `"saving"`, ...) in the run-state file, for a user (or a test) watching it, and
        times the phase that ends (`phase_times`). A Ctrl-C that came during the phase
        that ends, inside TensorFlow's code, stops the run here."""
        _interrupt.raise_if_requested()
        self._close_phase()
        self._phase = (name, time.perf_counter())
        self.update_state(phase=name)

    def _close_phase(self):
        name, start = self._phase
        now = time.perf_counter()
        self.phase_seconds[name] = self.phase_seconds.get(name, 0.0) + now - start
        self._phase = (name, now)

    def phase_times(self):
        """`{phase: seconds}` of this call so far, the current phase included (e.g.
        `{"training": 95.2, "evaluating": 4.1, "plotting": 6.3, "saving": 0.4}`)."""
        self._close_phase()
        return {name: round(seconds, 3) for name, seconds in self.phase_seconds.items()}

    def cached_array(self, name, key, compute):
        """The result of a phase (a NumPy array), computed once per `key`.

        A rerun into the same folder with the same `key` loads the saved array instead of
        computing it again; another `key` (e.g. the codes it came from have changed)
        computes it afresh. The key is kept in the run-state file under `phases`.
        """
        if self.path is None:
            return compute()
        path = self.checkpoint_dir / f"{name}.npy"
        phases = self.read_state().get("phases", {})
        if path.is_file() and phases.get(name) == _jsonable(key):
            return np.load(path)
        value = np.asarray(compute())
        tmp = self.checkpoint_dir / f".{name}.tmp.npy"
        np.save(tmp, value)
        os.replace(tmp, path)
        self.update_state(phases={**self.read_state().get("phases", {}), name: key})
        return value

    def write_json(self, name, payload):
        if self.path is not None:
            write_json(self.path / name, payload)

    def read_json(self, name):
        path = self.file(name)
        if path is None or not path.is_file():
            return None
        return json.loads(path.read_text())


@contextlib.contextmanager
def quiet_keras_saving():
    """Hides the one warning Keras' own weight saving raises under NumPy 2 (its
    `np.array(variable)` without a `copy` keyword): our backups and saved models cause
    it, the user's code does not, and there is nothing for them to change."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"__array__ implementation doesn't accept a copy",
                                category=DeprecationWarning)
        yield


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path, payload):
    """Writes `payload` (NumPy values allowed) as indented JSON, atomically."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_jsonable(payload), indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def load_init_model(path, expected_class, method, image_shape, shape_of, label="init_model"):
    """The model saved at `path` with its optimizer state, to go on training it.

    It must be an instance of `expected_class` (the class `method` trains) and work on
    images of `image_shape`: `shape_of(model)` gives the shape it works on. Errors
    name the option `label` (as the user typed it).
    """
    import zipfile

    import keras

    # A corrupt or foreign file is reported as such (Keras itself says "file not found").
    if not zipfile.is_zipfile(path):
        raise ValueError(f"`{label}` is not a readable Keras model file: it is not a .keras "
                         f"(zip) archive. Received: {label}={path!r}")
    try:
        saved = keras.saving.load_model(path)
    except Exception as error:
        raise ValueError(f"`{label}` is not a readable Keras model file ({type(error).__name__} "
                         f"while loading it). Received: {label}={path!r}") from None
    if type(saved) is not expected_class:
        raise ValueError(f"`{label}` holds a {type(saved).__name__}, but {method!r} trains a "
                         f"{expected_class.__name__}. Received: {label}={path!r}")
    works_on = tuple(shape_of(saved))
    if works_on != tuple(image_shape):
        raise ValueError(f"`{label}` works on images of shape {works_on}, the data has "
                         f"{tuple(image_shape)}. Received: {label}={path!r}")
    return saved


def set_seed(seed):
    """Seeds Python, NumPy, TensorFlow and Keras, and makes TensorFlow's ops deterministic."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # older TensorFlow: seeding alone is the best we can do
        pass


class Stopwatch:
    """Measures wall time of a block: `with Stopwatch() as sw: ...; sw.seconds`."""

    def __enter__(self):
        self.start = time.perf_counter()
        self.seconds = None
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        return False


@dataclasses.dataclass(frozen=True)
class Budget:
    """A method's default training budget, in optimizer steps, whatever the data.

    The epochs of a run follow from the data's size: `epochs = ceil(steps /
    steps_per_epoch)`, with `steps_per_epoch = n_images // batch_size` (at least 1), kept
    within `[min_epochs, max_epochs]`. A named dataset and a folder holding the same
    images therefore get the same settings; nothing depends on the data's name.

    Attributes:
        steps: optimizer steps of a default run.
        quick_steps: optimizer steps in quick mode (CI, notebooks' quick mode).
        batch_size: the default batch size (never larger than the training set).
        min_epochs: fewest passes over the data (a large set still sees each image).
        max_epochs: most passes over the data (a tiny set is not trained for ever).
    """

    steps: int
    quick_steps: int = 40
    batch_size: int = 256
    min_epochs: int = 1
    max_epochs: int = 2000
    drop_remainder: bool = True  # False: a last, smaller batch is a step too

    def batch_for(self, config, n_images):
        """The run's batch size: the config's, else the default, at most `n_images`."""
        return int(max(1, min(config.batch_size or self.batch_size, n_images)))

    def steps_for(self, config):
        """The optimizer steps a default run of `config` aims at (quick mode: fewer)."""
        return int(self.quick_steps if config.quick else self.steps)

    def epochs(self, config, n_images, batch_size=None):
        """Epochs of a run on `n_images` training images: the config's own (`--epochs`),
        else as many as the budget's steps take at `batch_size` (default: `batch_for`)."""
        if config.epochs is not None:
            if int(config.epochs) < 1:
                raise ValueError(f"`epochs` must be >= 1. Received: epochs={config.epochs}")
            return int(config.epochs)
        batch_size = int(batch_size or self.batch_for(config, n_images))
        rounding = math.floor if self.drop_remainder else math.ceil
        per_epoch = max(1, rounding(int(n_images) / batch_size))
        epochs = math.ceil(self.steps_for(config) / per_epoch)
        # Quick mode: a few short epochs (at least 2, so resuming has an epoch to resume).
        low = 2 if config.quick else self.min_epochs
        return int(min(max(epochs, low), self.max_epochs))
