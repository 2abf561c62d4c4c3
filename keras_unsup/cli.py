"""The `keras-unsup` command: list, run, benchmark (and family-specific commands).

TensorFlow's start-up lines (oneDNN, CUDA-not-found) are silenced unless
`--verbose` is given, so the environment is set before TensorFlow is imported.

Families add a sub-command by defining `add_parser(subparsers)` returning nothing
and `main(args)` in a module listed in `_EXTRA_COMMANDS`.
"""

import argparse
import importlib
import os
import sys

# module path of each extra sub-command (family-specific tools)
_EXTRA_COMMANDS = ["keras_unsup.compress_cli", "keras_unsup.ablation"]


def _quiet_tensorflow(verbose):
    if not verbose:
        from keras_unsup import _quiet

        _quiet.quiet_tensorflow()


def _parse_options(pairs):
    from keras_unsup.recipes.base import parse_options

    try:
        return parse_options(pairs)
    except ValueError as error:
        raise SystemExit(str(error)) from None


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-unsup",
        description="Unsupervised deep learning on images, in Keras 3.",
    )
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's own start-up and log messages")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list the methods")

    run = sub.add_parser("run", help="train and evaluate one method")
    run.add_argument("method")
    run.add_argument("--dataset", default="digits",
                     help="digits (default, offline), mnist, fashion_mnist, cifar10 or a folder")
    run.add_argument("--epochs", type=int, default=None)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--batch-size", type=int, default=None)
    run.add_argument("--out", default=None, help="run folder (default: runs/METHOD-DATASET)")
    run.add_argument("--quick", action="store_true", help="small data and few epochs")
    run.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="method-specific option, repeatable (e.g. --set queue_size=64)")

    bench = sub.add_parser("benchmark", help="run several methods and write the results table")
    bench.add_argument("--dataset", default="digits")
    bench.add_argument("--methods", default=None,
                       help="comma-separated method names (default: every clustering-scored method)")
    bench.add_argument("--seeds", default="0", help="comma-separated seeds")
    bench.add_argument("--epochs", type=int, default=None)
    bench.add_argument("--out", default=None, help="output folder (default: runs/benchmark-DATASET)")
    bench.add_argument("--quick", action="store_true")

    for module in _EXTRA_COMMANDS:
        importlib.import_module(module).add_parser(sub)
    return parser


def _cmd_list(args):
    from keras_unsup.recipes import list_recipes

    family = None
    for recipe in list_recipes():
        if recipe.family != family:
            family = recipe.family
            print(f"{family}:")
        print(f"  {recipe.name:<14} {recipe.summary}")


def _cmd_run(args):
    from keras_unsup.recipes import get_recipe, run_recipe

    get_recipe(args.method)  # fail on a wrong name before loading anything
    out = args.out or os.path.join("runs", f"{args.method}-{os.path.basename(str(args.dataset))}")
    metrics = run_recipe(args.method, args.dataset, epochs=args.epochs, seed=args.seed,
                         batch_size=args.batch_size, out_dir=out, quick=args.quick, verbose=1,
                         **_parse_options(args.set))
    shown = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
    width = max(len(k) for k in shown)
    for key, value in shown.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {text}")
    print(f"written to {out}/")


def _cmd_benchmark(args):
    from keras_unsup.recipes.benchmark import benchmark

    methods = args.methods.split(",") if args.methods else None
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    out = args.out or os.path.join("runs", f"benchmark-{os.path.basename(str(args.dataset))}")
    benchmark(args.dataset, methods, seeds=seeds, out_dir=out, epochs=args.epochs,
              quick=args.quick)
    print((open(os.path.join(out, "results.md")).read()))
    print(f"written to {out}/results.md and results.json")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    _quiet_tensorflow("--verbose" in argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"list": _cmd_list, "run": _cmd_run, "benchmark": _cmd_benchmark}
    for module in _EXTRA_COMMANDS:
        mod = importlib.import_module(module)
        handlers.setdefault(mod.COMMAND, mod.main)
    try:
        handlers[args.command](args)
    except (ValueError, FileNotFoundError) as e:
        # Bad input or missing data is the user's to fix: one clear line, not a traceback.
        parser.exit(2, f"keras-unsup: error: {e}\n")
    except KeyboardInterrupt:
        parser.exit(130, "\ninterrupted; rerun the same command to resume from the last finished epoch\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
