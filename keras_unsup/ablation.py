"""`keras-unsup ablate`: MoCo's queue length x momentum grid, as one command.

    keras-unsup ablate moco --queue 16,32,64,128,256 --momentum 0.9,0.99,0.999,0.9999 \
        --dataset fashion_mnist

trains MoCo once per grid cell (same data, seed and epochs), scores the frozen
embeddings and writes the accuracy tables as `ablation.md` and `ablation.json`
(with a progress bar over the grid). Each cell is an ordinary run folder, so an
interrupted ablation resumes: finished cells are read back, the running one
resumes from its last epoch.
"""

from pathlib import Path

from keras_unsup.checks import check_choice, check_number, check_positive_int

COMMAND = "ablate"
METHODS = ("moco", "scae")
DEFAULT_QUEUES = (16, 32, 64, 128, 256)
DEFAULT_MOMENTA = (0.9, 0.99, 0.999, 0.9999)
# Metrics shown as tables (the first is the headline), higher is better for all.
TABLE_METRICS = ("linear_probe_acc", "knn_acc", "acc", "nmi")


def _check_grid(queue_sizes, momenta):
    queue_sizes, momenta = list(queue_sizes), list(momenta)
    if not queue_sizes or not momenta:
        raise ValueError("`queue_sizes` and `momenta` must each hold at least one value. "
                         f"Received: queue_sizes={queue_sizes}, momenta={momenta}")
    # Named as the CLI's flags (`--queue`, `--momentum`), one value at a time.
    return ([check_positive_int(q, "queue") for q in queue_sizes],
            [check_number(m, "momentum", 0, 1, high_open=True) for m in momenta])


def cell_name(queue_size, momentum):
    """Folder name of one grid cell, e.g. `queue_16-momentum_0.99`."""
    return f"queue_{queue_size}-momentum_{momentum:g}"


def ablate(method="moco", queue_sizes=DEFAULT_QUEUES, momenta=DEFAULT_MOMENTA,
           dataset="digits", *, epochs=None, seed=0, out_dir="runs/ablation", quick=False,
           train_images=None, test_images=None, progress=True, verbose=0, plot=False):
    """Trains `method` over the queue length x momentum grid and writes the tables.

    Args:
        method: `"moco"`.
        queue_sizes: queue lengths `K` to try (each >= 1; smaller than the batch works).
        momenta: key-encoder momenta `m` to try, each in [0, 1).
        dataset: dataset name or image folder.
        epochs: epochs per cell (`None`: the recipe's default for the dataset).
        seed: seed of every cell (same data order and augmentations).
        out_dir: folder of `ablation.md`, `ablation.json` and one run folder per cell.
        quick: the 2000/500-image subset and 2 epochs.
        train_images: use a random subset of this many training images.
        test_images: use a random subset of this many test images.
        progress: show a progress bar over the grid.
        verbose: Keras' verbosity inside each cell.
        plot: draw each cell's t-SNE plot.

    Returns:
        The rows of `ablation.json`: one dict per cell with `queue_size`, `momentum`
        and its metrics.

    Example:

    >>> rows = ablate("moco", [16, 256], [0.9, 0.999], "digits", epochs=5, out_dir="runs/abl")
    """
    check_choice(method, "method", ("moco",))  # scae: keras_unsup.recipes.capsules.ablate_scae
    queue_sizes, momenta = _check_grid(queue_sizes, momenta)
    train_images = check_positive_int(train_images, "train_images", allow_none=True)
    test_images = check_positive_int(test_images, "test_images", allow_none=True)

    from keras_unsup.recipes import load_run_data, run_recipe
    from keras_unsup.recipes.base import RunConfig, write_json

    data = load_run_data(RunConfig(method, dataset, quick=quick, seed=seed))
    if train_images is not None or test_images is not None:
        data = data.subset(train_images, test_images, seed=seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    grid = [(q, m) for q in queue_sizes for m in momenta]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(grid), desc=f"ablate {method}", unit="run")
    rows = []
    for queue_size, momentum in grid:
        if bar is not None:
            bar.set_postfix_str(f"queue {queue_size}, momentum {momentum:g}")
        # Each cell is an ordinary run folder: a finished cell gives back its metrics, an
        # interrupted one resumes (run_recipe's one resume mechanism).
        metrics = run_recipe(method, dataset, epochs=epochs, seed=seed,
                             out_dir=out / cell_name(queue_size, momentum), quick=quick,
                             verbose=verbose, data=data, queue_size=queue_size,
                             momentum=momentum, plot=plot)
        rows.append({"queue_size": queue_size, "momentum": momentum,
                     **{k: metrics.get(k) for k in (*TABLE_METRICS, "ari", "images_per_second",
                                                     "wall_time_s", "epochs")}})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    summary = {"method": method, "dataset": data.name, "seed": seed, "quick": quick,
               "n_train": len(data.x_train), "n_test": len(data.x_test),
               "queue_sizes": queue_sizes, "momenta": momenta, "rows": rows}
    write_json(out / "ablation.json", summary)
    (out / "ablation.md").write_text(markdown_tables(summary))
    return rows


def markdown_tables(summary):
    """One markdown table per metric: queue lengths down, momenta across."""
    rows = {(r["queue_size"], r["momentum"]): r for r in summary["rows"]}
    title = (f"{summary['method']} on {summary['dataset']} ({summary['n_train']} training, "
             f"{summary['n_test']} test images), seed {summary['seed']}: queue length x momentum.")
    lines = [title, ""]
    for metric in TABLE_METRICS:
        lines += [f"**{metric}**", "",
                  "| queue \\ momentum | " + " | ".join(f"{m:g}" for m in summary["momenta"]) + " |",
                  "| --- |" + " --- |" * len(summary["momenta"])]
        for q in summary["queue_sizes"]:
            cells = []
            for m in summary["momenta"]:
                value = rows.get((q, m), {}).get(metric)
                cells.append("–" if value is None else f"{value:.3f}")
            lines.append(f"| {q} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _parse_list(text, cast, name):
    try:
        return [cast(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise ValueError(f"`--{name}` must be comma-separated numbers. Received: {text!r}") from None


def add_parser(subparsers):
    parser = subparsers.add_parser(COMMAND, help="MoCo's queue length x momentum ablation, "
                                   "the SCAE's part / object capsules")
    parser.add_argument("method", help="method to ablate: moco or scae")
    parser.add_argument("--queue", default=",".join(map(str, DEFAULT_QUEUES)),
                        help="comma-separated queue lengths (default 16,32,64,128,256)")
    parser.add_argument("--momentum", default=",".join(map(str, DEFAULT_MOMENTA)),
                        help="comma-separated momenta (default 0.9,0.99,0.999,0.9999)")
    parser.add_argument("--parts", default="30,40,60",
                        help="scae: comma-separated part capsules, one per row (default 30,40,60)")
    parser.add_argument("--objects", default="16,32,40",
                        help="scae: comma-separated object capsules, one per row "
                             "(default 16,32,40)")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-images", type=int, default=None,
                        help="train on a random subset of this many images")
    parser.add_argument("--test-images", type=int, default=None,
                        help="score on a random subset of this many test images")
    parser.add_argument("--out", default=None, help="output folder (default runs/ablation-METHOD-DATASET)")
    parser.add_argument("--quick", action="store_true", help="small data and few epochs")


def main(args):
    import os

    if args.method == "scae":
        return _main_scae(args)
    queues = _parse_list(args.queue, int, "queue")
    momenta = _parse_list(args.momentum, float, "momentum")
    out = args.out or os.path.join(
        "runs", f"ablation-{args.method}-{os.path.basename(str(args.dataset))}")
    ablate(args.method, queues, momenta, args.dataset, epochs=args.epochs, seed=args.seed,
           out_dir=out, quick=args.quick, train_images=args.train_images,
           test_images=args.test_images)
    print(Path(out, "ablation.md").read_text())
    print(f"written to {out}/ablation.md and ablation.json")


def _main_scae(args):
    import os

    from keras_unsup.recipes.capsules import ablate_scae

    parts = _parse_list(args.parts, int, "parts")
    objects = _parse_list(args.objects, int, "objects")
    out = args.out or os.path.join("runs", f"ablation-scae-{os.path.basename(str(args.dataset))}")
    ablate_scae(parts, objects, args.dataset, epochs=args.epochs, seed=args.seed, out_dir=out,
                quick=args.quick, train_images=args.train_images, test_images=args.test_images)
    print(Path(out, "ablation.md").read_text())
    print(f"written to {out}/ablation.md and ablation.json")
