"""`keras-unsup benchmark`: runs recipes over seeds and writes the results table.

The table has the columns of the seed results this project answers to: method,
ACC, NMI, ARI and training time, each the median over seeds with its spread
(min to max), as markdown (`results.md`) and JSON (`results.json`).

`--suite seed` runs the rows of the seed table (k-means, GMM, AE+GMM, InfoGAN, MoCo, the
capsule autoencoder when it is registered, and DEC, N2D and the newer clustering methods)
and sets each method's headline figure and wall time beside the seed's own (MNIST) and
the literature's, in `suite_seed.md` and `suite_seed.json`.
"""

import dataclasses
from pathlib import Path

import numpy as np

from keras_unsup.recipes import get_recipe, load_run_data, run_recipe
from keras_unsup.recipes.base import RunConfig, write_json

TABLE_KEYS = ("acc", "nmi", "ari", "wall_time_s")


def summarise(runs):
    """Median, min and max over seeds of every numeric metric of one method's runs."""
    keys = sorted({k for r in runs for k, v in r.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "seed"})
    summary = {}
    for key in keys:
        values = np.array([r[key] for r in runs if isinstance(r.get(key), (int, float))], float)
        if len(values):
            summary[key] = {"median": float(np.median(values)), "min": float(values.min()),
                            "max": float(values.max()), "n": int(len(values))}
    return summary


def _cell(stat, key):
    if stat is None:
        return "–"
    if key == "wall_time_s":
        text = f"{stat['median']:.0f} s" if stat["median"] >= 10 else f"{stat['median']:.1f} s"
        return text
    text = f"{stat['median']:.3f}"
    if stat["n"] > 1:
        text += f" ({stat['min']:.3f}–{stat['max']:.3f})"
    return text


def markdown_table(rows, dataset):
    """The results as a markdown table (median over seeds, min–max in brackets)."""
    lines = [
        f"Dataset: {dataset}. Median over seeds (min–max).",
        "",
        "| method | ACC | NMI | ARI | training time | seeds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        s = row["summary"]
        cells = [_cell(s.get(k), k) for k in TABLE_KEYS]
        lines.append(f"| {row['method']} | " + " | ".join(cells) + f" | {len(row['seeds'])} |")
    return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True)
class SuiteRow:
    """One row of a suite: a method, the metric it is judged by, and reference figures.

    Attributes:
        method: registered method name.
        metric: the key of its headline figure in metrics.json.
        seed: the seed table's figure (MNIST), or `None` where it has none.
        seed_time_s: the seed table's wall time in seconds, or `None`.
        reference: the literature's figure and where it comes from, or `""`.
    """

    method: str
    metric: str = "acc"
    seed: float | None = None
    seed_time_s: float | None = None
    reference: str = ""


SUITES = {
    "seed": (
        SuiteRow("kmeans", seed=0.752, seed_time_s=22, reference=".53–.58 (MNIST)"),
        SuiteRow("gmm", seed=0.808, seed_time_s=180),
        SuiteRow("ae-gmm", seed=0.912, seed_time_s=1200),
        SuiteRow("infogan", seed=0.920, reference="95% (InfoGAN paper, MNIST); .89 (ClusterGAN)"),
        SuiteRow("moco", metric="linear_probe_acc", seed=0.969, seed_time_s=300),
        SuiteRow("scae", seed=0.985, seed_time_s=2880 * 60,
                 reference=".987 (Kosiorek et al. 2019, MNIST)"),
        SuiteRow("dec", reference=".84 (Xie et al. 2016, MNIST); .91 (DEC-keras)"),
        SuiteRow("idec", reference=".88 (Guo et al. 2017, MNIST)"),
        SuiteRow("ae-umap-gmm", reference="N2D .948 (MNIST test), .979 (70k)"),
        SuiteRow("dec-da", reference=".983 (Guo et al. 2018, MNIST test); .586 Fashion-MNIST"),
        SuiteRow("cc", reference=""),
    ),
}


def suite_methods(suite):
    """The registered methods of `suite`, in its order, and the names not registered."""
    from keras_unsup.recipes import RECIPES, list_recipes

    if suite not in SUITES:
        raise ValueError(f"`suite` must be one of {sorted(SUITES)}. Received: suite={suite!r}")
    list_recipes()
    rows = SUITES[suite]
    return ([r.method for r in rows if r.method in RECIPES],
            [r.method for r in rows if r.method not in RECIPES])


def _figure(value, time=False):
    if value is None:
        return "–"
    if time:
        return f"{value / 60:.1f} min" if value >= 60 else f"{value:.0f} s"
    return f"{value:.3f}"


def suite_table(suite, rows, dataset):
    """The suite's rows as JSON-able dicts and a markdown table: our median figure and
    wall time beside the seed table's and the literature's."""
    by_method = {row["method"]: row for row in rows}
    table, lines = [], [
        f"Suite `{suite}` on {dataset}: median over seeds; the seed's figures are on MNIST.",
        "",
        "| method | metric | ours | our wall time | seed | seed time | literature |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for ref in SUITES[suite]:
        row = by_method.get(ref.method)
        if row is None:
            continue
        ours = row["summary"].get(ref.metric, {}).get("median")
        wall = row["summary"].get("wall_time_s", {}).get("median")
        table.append({"method": ref.method, "metric": ref.metric, "ours": ours,
                      "wall_time_s": wall, "seed": ref.seed, "seed_time_s": ref.seed_time_s,
                      "reference": ref.reference, "seeds": row["seeds"]})
        lines.append(f"| {ref.method} | {ref.metric} | {_figure(ours)} | {_figure(wall, True)} "
                     f"| {_figure(ref.seed)} | {_figure(ref.seed_time_s, True)} "
                     f"| {ref.reference or '–'} |")
    return table, "\n".join(lines) + "\n"


def run_suite(suite, dataset="digits", *, seeds=(0,), out_dir="benchmark", epochs=None,
              quick=False, verbose=0, progress=True):
    """Runs the registered methods of `suite` (see `SUITES`) through `benchmark`, then
    writes `suite_<suite>.md` and `suite_<suite>.json` beside its tables.

    Returns:
        `(table, markdown)`: the rows of the suite table and its markdown.
    """
    methods, missing = suite_methods(suite)
    rows = benchmark(dataset, methods, seeds=seeds, out_dir=out_dir, epochs=epochs,
                     quick=quick, verbose=verbose, progress=progress)
    table, markdown = suite_table(suite, rows, rows[0]["runs"][0]["dataset"])
    if missing:
        markdown += f"\nNot registered in this version: {', '.join(missing)}.\n"
    out = Path(out_dir)
    write_json(out / f"suite_{suite}.json", {"suite": suite, "dataset": dataset, "quick": quick,
                                             "seeds": [int(s) for s in seeds],
                                             "rows": table, "not_registered": missing})
    (out / f"suite_{suite}.md").write_text(markdown)
    return table, markdown


def benchmark(dataset="digits", methods=None, *, seeds=(0,), out_dir="benchmark", epochs=None,
              quick=False, verbose=0, progress=True):
    """Runs each method once per seed and writes `results.md` and `results.json`.

    Args:
        dataset: dataset name or image folder.
        methods: method names; `None` runs every recipe that reports clusters.
        seeds: seeds to run each method with.
        out_dir: folder of the tables; each run writes into `out_dir/<method>/seed_<s>`
            (and so resumes there after an interruption).
        epochs: override of the recipes' default epochs.
        quick: small data and few epochs.
        verbose: Keras' verbosity inside each run.
        progress: a progress bar over the runs.

    Returns:
        The list of rows written to `results.json`.
    """
    from keras_unsup.recipes import list_recipes

    if methods is None:
        methods = [r.name for r in list_recipes() if r.clusters]
    methods = [m.strip() for m in methods if m.strip()]
    if not methods:
        raise ValueError("`methods` must name at least one method. Received: an empty list")
    for m in methods:
        get_recipe(m)  # unknown names fail before any training
    seeds = [int(s) for s in seeds]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = load_run_data(RunConfig("benchmark", dataset, quick=quick))

    jobs = [(m, s) for m in methods for s in seeds]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="benchmark", unit="run")
    results = {m: [] for m in methods}
    for method, seed in jobs:
        if bar is not None:
            bar.set_postfix_str(f"{method} seed {seed}")
        run_dir = out / method / f"seed_{seed}"
        previous = run_dir / "metrics.json"
        if previous.is_file():  # a finished run of an interrupted benchmark is kept
            import json

            metrics = json.loads(previous.read_text())
        else:
            metrics = run_recipe(method, dataset, epochs=epochs, seed=seed, out_dir=run_dir,
                                 quick=quick, verbose=verbose, data=data)
        results[method].append(metrics)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    rows = [{"method": m, "seeds": seeds, "summary": summarise(results[m]), "runs": results[m]}
            for m in methods]
    write_json(out / "results.json", {"dataset": data.name, "quick": quick,
                                      "n_train": len(data.x_train), "n_test": len(data.x_test),
                                      "rows": rows})
    (out / "results.md").write_text(markdown_table(rows, data.name))
    return rows
