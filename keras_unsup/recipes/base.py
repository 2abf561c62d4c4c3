"""What every recipe shares: the registry, the run folder, seeding, timing, resuming.

A recipe is a function `fn(config, data, run) -> dict` registered under a method
name with `@register`. It trains on `data` (labels only ever for scoring and plots),
writes what it makes through `run` (a `RunDir`), and returns its metrics; the
caller adds the common fields and writes `metrics.json`.
"""

import dataclasses
import json
import math
import os
import time
from pathlib import Path

import numpy as np


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
        options: method-specific settings (e.g. `{"queue_size": 64}`).
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

    def option(self, key, default=None):
        """`options[key]` when given, else `default`."""
        value = self.options.get(key)
        return default if value is None else value


@dataclasses.dataclass
class Recipe:
    """A registered method: its name, family, one-line summary and run function."""

    name: str
    family: str
    summary: str
    fn: object
    clusters: bool = True  # whether it reports ACC/NMI/ARI (shown by the benchmark)


RECIPES = {}


def register(name, *, family, summary, clusters=True):
    """Decorator that registers `fn(config, data, run) -> dict` as method `name`."""

    def wrap(fn):
        if name in RECIPES:
            raise ValueError(f"Recipe {name!r} is registered twice.")
        RECIPES[name] = Recipe(name, family, summary, fn, clusters)
        return fn

    return wrap


class RunDir:
    """The folder a run writes into; with `path=None` nothing is written.

    Files: `metrics.json`, figures (`*.png`), `model.keras`, and `checkpoints/`
    holding what a rerun into the same folder resumes from.
    """

    def __init__(self, path):
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)

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
        if self.path is not None:
            model.save(self.path / name)

    def write_json(self, name, payload):
        if self.path is not None:
            write_json(self.path / name, payload)

    def read_json(self, name):
        path = self.file(name)
        if path is None or not path.is_file():
            return None
        return json.loads(path.read_text())


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


def parse_options(pairs):
    """`["key=value", ...]` (the command lines' `--set`) into a dict; values are parsed
    as JSON where they can be (`3`, `0.5`, `null`, `[1, 2]`), kept as text otherwise."""
    options = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"--set expects key=value. Received: {pair!r}")
        key, value = pair.split("=", 1)
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def init_model_path(config, method):
    """The option `init_model` checked before any work: `None`, or the path (text) of an
    existing `.keras` file, the `model.keras` of an earlier run to train further."""
    init = config.option("init_model")
    if init is None:
        return None
    if not str(init).endswith(".keras") or not Path(init).is_file():
        raise ValueError("`init_model` must be the path of an existing .keras file (the "
                         f"model.keras of an earlier {method} run). Received: init_model={init!r}")
    return str(init)


def load_init_model(path, expected_class, method, image_shape, shape_of):
    """The model saved at `path` with its optimizer state, to go on training it.

    It must be an instance of `expected_class` (the class `method` trains) and work on
    images of `image_shape`: `shape_of(model)` gives the shape it works on.
    """
    import keras

    saved = keras.saving.load_model(path)
    if type(saved) is not expected_class:
        raise ValueError(f"`init_model` holds a {type(saved).__name__}, but {method!r} trains a "
                         f"{expected_class.__name__}. Received: init_model={path!r}")
    works_on = tuple(shape_of(saved))
    if works_on != tuple(image_shape):
        raise ValueError(f"`init_model` works on images of shape {works_on}, the data has "
                         f"{tuple(image_shape)}. Received: init_model={path!r}")
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


def epochs_for(config, defaults, dataset_name):
    """Epochs of a run: the config's, else the recipe's default for the dataset."""
    if config.epochs is not None:
        if int(config.epochs) < 1:
            raise ValueError(f"`epochs` must be >= 1. Received: epochs={config.epochs}")
        return int(config.epochs)
    if config.quick:
        return defaults.get("quick_epochs", 2)
    return defaults.get("epochs", {}).get(dataset_name, defaults.get("default_epochs", 10))
