"""`keras-unsup benchmark`: runs recipes over seeds and writes the results table.

The table has the columns of the seed results this project answers to: method,
ACC, NMI, ARI and training time, each the median over seeds with its spread
(min to max), as markdown (`results.md`) and JSON (`results.json`).
"""

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
