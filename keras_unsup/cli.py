"""The `keras-unsup` command: list, run, benchmark (and family-specific commands).

TensorFlow's start-up lines (oneDNN, CUDA-not-found) are silenced unless
`--verbose` is given, so the environment is set before TensorFlow is imported.
`--help` (also `keras-unsup run METHOD --help`, which lists the method's options)
imports no TensorFlow and answers at once.

Every user error exits with status 2 and one line `keras-unsup: error: ...` that
names the flag as it was typed (`--dataset`, `--set KEY`, `--epochs`).

Families add a sub-command by defining `add_parser(subparsers)` returning nothing
and `main(args)` in a module listed in `_EXTRA_COMMANDS`.
"""

import argparse
import importlib
import os
import sys

from keras_unsup import _interrupt

# module path of each extra sub-command (family-specific tools)
_EXTRA_COMMANDS = ["keras_unsup.compress_cli", "keras_unsup.ablation"]
PROG = "keras-unsup"


class _Parser(argparse.ArgumentParser):
    """argparse with one error prefix, `keras-unsup: error:`, on every sub-command."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"{PROG}: error: {message}\n")


def _quiet_tensorflow(verbose):
    if not verbose:
        from keras_unsup import _quiet

        _quiet.quiet_tensorflow()


def _int_at_least(minimum):
    """An argparse type: an integer >= `minimum`, refused with what was received."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {minimum}, received {text!r}")
        return value

    return parse


positive_int = _int_at_least(1)
nonnegative_int = _int_at_least(0)


def build_parser(run_epilog=None):
    from keras_unsup.recipes import DISTRIBUTE

    parser = _Parser(
        prog=PROG,
        description="Unsupervised deep learning on images, in Keras 3.",
    )
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's own start-up and log messages")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="list the methods")

    run = sub.add_parser(
        "run", help="train and evaluate one method",
        description="Train and evaluate one method; a run folder holds metrics.json, figures "
                    "and the saved model. Rerunning the same command resumes an interrupted "
                    "run, or prints a finished run's metrics.",
        epilog=run_epilog or "`keras-unsup run METHOD --help` lists the method's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("method", help="a method name (`keras-unsup list` shows them)")
    run.add_argument("--dataset", default="digits",
                     help="digits (default, offline), mnist, fashion_mnist, cifar10 or a folder")
    run.add_argument("--epochs", type=positive_int, default=None,
                     help="training epochs (default: the method's budget for the data)")
    run.add_argument("--seed", type=nonnegative_int, default=0,
                     help="seed of every random choice of the run (default 0)")
    run.add_argument("--batch-size", type=positive_int, default=None,
                     help="images per step (default: the method's)")
    run.add_argument("--out", default=None, help="run folder (default: runs/METHOD-DATASET)")
    run.add_argument("--quick", action="store_true", help="small data and few epochs")
    run.add_argument("--overwrite", action="store_true",
                     help="start the run folder afresh instead of resuming or reusing it")
    run.add_argument("--distribute", choices=DISTRIBUTE, default="none",
                     help="tf.distribute strategy: mirrored (the local devices) or "
                          "multi-worker (TF_CONFIG from the environment)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="a method option, repeatable (e.g. --set queue_size=64)")

    bench = sub.add_parser("benchmark", help="run several methods and write the results table")
    bench.add_argument("--dataset", default="digits",
                       help="digits (default, offline), mnist, fashion_mnist, cifar10 or a folder")
    bench.add_argument("--methods", default=None,
                       help="comma-separated method names (default: every clustering-scored method)")
    bench.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    bench.add_argument("--epochs", type=positive_int, default=None,
                       help="training epochs of every method (default: each method's budget)")
    bench.add_argument("--out", default=None, help="output folder (default: runs/benchmark-DATASET)")
    bench.add_argument("--quick", action="store_true", help="small data and few epochs")
    from keras_unsup.recipes.benchmark import SUITES  # NumPy only, no TensorFlow

    bench.add_argument("--suite", choices=sorted(SUITES), default=None,
                       help="run a suite's methods and set them beside its reference figures "
                            "(seed: the seed table's rows)")

    for module in _EXTRA_COMMANDS:
        importlib.import_module(module).add_parser(sub)
    return parser


def _run_help_epilog(argv):
    """The options table of `METHOD` for `keras-unsup run METHOD --help`, else None."""
    if "run" not in argv or not ({"-h", "--help"} & set(argv)):
        return None
    rest = argv[argv.index("run") + 1:]
    method = next((a for a in rest if not a.startswith("-")), None)
    if method is None:
        return None
    from keras_unsup.recipes import RECIPES, list_recipes
    from keras_unsup.recipes.options import options_help

    list_recipes()
    if method not in RECIPES:
        return None
    return options_help(RECIPES[method])


def _cmd_list(args):
    from keras_unsup.recipes import list_recipes

    family = None
    for recipe in list_recipes():
        if recipe.family != family:
            family = recipe.family
            print(f"{family}:")
        print(f"  {recipe.name:<14} {recipe.summary}")


def _check_method(name):
    from keras_unsup.recipes import RECIPES, list_recipes

    list_recipes()
    if name not in RECIPES:
        raise ValueError(f"METHOD must be one of {sorted(RECIPES)} (`keras-unsup list` "
                         f"describes them). Received: {name!r}")
    return RECIPES[name]


def _check_dataset(name, flag="--dataset"):
    from keras_unsup.data.datasets import DATASET_NAMES

    if name in DATASET_NAMES or os.path.isdir(name):
        return name
    raise ValueError(f"`{flag}` must be one of {', '.join(DATASET_NAMES)} or an existing folder "
                     f"of images. Received: {flag} {name}")


def _cmd_run(args):
    from keras_unsup.recipes import run_recipe, run_status
    from keras_unsup.recipes.options import parse_set_flags, resolve_options

    recipe = _check_method(args.method)
    # Every check before any work: options first (no TensorFlow needed), then the data.
    texts = parse_set_flags(args.set, "--set")
    options = resolve_options(recipe, texts, flag="--set", from_text=True)
    _check_dataset(args.dataset)
    out = args.out or os.path.join("runs", f"{args.method}-{os.path.basename(str(args.dataset))}")
    metrics_file = os.path.join(out, "metrics.json")
    before = os.path.getmtime(metrics_file) if run_status(out) == "finished" else None
    metrics = run_recipe(args.method, args.dataset, epochs=args.epochs, seed=args.seed,
                         batch_size=args.batch_size, out_dir=out, quick=args.quick, verbose=1,
                         option_flag="--set", overwrite=args.overwrite,
                         distribute=args.distribute, **options)
    if before is not None and os.path.getmtime(metrics_file) == before:
        print(f"{out}/ holds this finished run; its metrics (--overwrite trains it again):")
        _print_metrics(metrics)
        return
    _print_metrics(metrics)
    if metrics.get("short_run"):
        print(metrics["short_run"])
    print(f"written to {out}/")


def _print_metrics(metrics):
    shown = {k: v for k, v in metrics.items()
             if not isinstance(v, (dict, list)) and k != "short_run"}
    width = max(len(k) for k in shown)
    for key, value in shown.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {text}")


def _cmd_benchmark(args):
    from keras_unsup.recipes.benchmark import benchmark

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    for method in methods or []:
        try:
            _check_method(method)
        except ValueError:
            raise ValueError(f"`--methods` holds an unknown method {method!r}; `keras-unsup "
                             f"list` shows them. Received: --methods {args.methods}") from None
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise ValueError("`--seeds` must be comma-separated integers >= 0. "
                         f"Received: --seeds {args.seeds}") from None
    if not seeds or min(seeds) < 0:
        raise ValueError("`--seeds` must be comma-separated integers >= 0. "
                         f"Received: --seeds {args.seeds}")
    _check_dataset(args.dataset)
    out = args.out or os.path.join("runs", f"benchmark-{os.path.basename(str(args.dataset))}")
    if args.suite:
        if methods:
            raise ValueError("`--suite` chooses the methods itself; give `--suite` or "
                             f"`--methods`, not both. Received: --suite {args.suite} --methods "
                             f"{args.methods}")
        from keras_unsup.recipes.benchmark import run_suite

        _, markdown = run_suite(args.suite, args.dataset, seeds=seeds, out_dir=out,
                                epochs=args.epochs, quick=args.quick)
        print(markdown)
        print(f"written to {out}/suite_{args.suite}.md and suite_{args.suite}.json")
        return
    benchmark(args.dataset, methods, seeds=seeds, out_dir=out, epochs=args.epochs,
              quick=args.quick)
    with open(os.path.join(out, "results.md")) as table:
        print(table.read())
    print(f"written to {out}/results.md and results.json")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_run_help_epilog(argv))
    args = parser.parse_args(argv)  # --help and argument errors exit here, before TensorFlow
    if args.command != "list":
        _quiet_tensorflow(args.verbose)
    # Ctrl-C and SIGTERM (a scheduler, `kill`) stop a run outside TensorFlow's own code
    # (`_interrupt`): the run folder keeps every finished epoch and phase, and the same
    # command resumes it.
    with _interrupt.deferred_interrupts():
        return _dispatch(parser, args)


def _dispatch(parser, args):
    handlers = {"list": _cmd_list, "run": _cmd_run, "benchmark": _cmd_benchmark}
    for module in _EXTRA_COMMANDS:
        mod = importlib.import_module(module)
        handlers.setdefault(mod.COMMAND, mod.main)
    try:
        handlers[args.command](args)
    except KeyboardInterrupt:
        _exit_interrupted(parser)
    except Exception as e:
        if _interrupt.requested():  # a signal came first: whatever it broke, it stops the run
            _exit_interrupted(parser)
        if isinstance(e, (ValueError, FileNotFoundError)):
            # Bad input or missing data is the user's to fix: one clear line, not a traceback.
            parser.exit(2, f"{PROG}: error: {e}\n")
        raise
    return 0


def _exit_interrupted(parser):
    parser.exit(130, "\ninterrupted; rerun the same command to resume from the last "
                     "finished epoch\n")


if __name__ == "__main__":
    sys.exit(main())
