"""A method's options, declared once: name, kind, default and a one-line help.

Each recipe declares its options with `Option` when it registers (`register(...,
options=[...])`). That one declaration is read by every door into a run:
- the CLI's `--set KEY=VALUE` (text, parsed by the option's kind),
- `run_recipe(method, **options)` (Python values),
- `keras-unsup run METHOD --help` (the table of options),
- `metrics.json` (the resolved value of every option).
An unknown key or a value of the wrong kind is an error before any work starts; it
names the method and the key and lists the method's options.

This module imports neither TensorFlow nor Keras, so `--help` answers at once.
"""

import dataclasses
import json
from pathlib import Path

from keras_unsup import checks

# kinds of option values, with how `--help` shows them
KINDS = {
    "int": "INT",
    "float": "FLOAT",
    "bool": "true|false",
    "str": "TEXT",
    "choice": "CHOICE",
    "ints": "[INT, ...]",
    "interval": "[MIN, MAX]",
    "keras_file": "PATH.keras",
    "folder": "FOLDER",
}


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of a method.

    Attributes:
        name: the key (`--set name=...`, `run_recipe(..., name=...)`).
        kind: one of `KINDS`: `"int"`, `"float"`, `"bool"`, `"str"`, `"choice"`,
            `"ints"` (a list of integers >= 1), `"interval"` (a pair `[min, max]`
            inside `(minimum, maximum]`), `"keras_file"` (an existing `.keras` file),
            `"folder"` (a folder, made when missing).
        default: the value when the option is not given; `None` means "decided by
            the recipe from the data" (the help says how).
        help: one line for `--help`.
        minimum, maximum: bounds of numbers (and of an interval's ends).
        low_open: the minimum itself is excluded (e.g. a learning rate > 0).
        choices: the allowed values of a `"choice"`.
        nullable: `None` is an allowed value (besides the default).
    """

    name: str
    kind: str
    default: object
    help: str
    minimum: float | None = None
    maximum: float | None = None
    low_open: bool = False
    choices: tuple = ()
    nullable: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"`kind` must be one of {sorted(KINDS)}. Received: kind={self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"Option {self.name!r} of kind 'choice' needs `choices`.")

    @property
    def metavar(self):
        if self.kind == "choice":
            return "|".join(str(c) for c in self.choices)
        return KINDS[self.kind]

    def describe_default(self):
        if self.default is None:
            return "from the data" if not self.nullable else "none"
        return json.dumps(list(self.default) if isinstance(self.default, tuple) else self.default)

    def parse_text(self, text):
        """The value of `--set name=text`: text kinds keep the text, others read JSON
        (`3`, `0.5`, `true`, `null`, `[1, 2]`), falling back to the text itself (which
        `check` then refuses with a clear message)."""
        if self.kind in ("str", "keras_file", "folder", "choice"):
            if text.strip().lower() in ("null", "none") and (self.nullable or self.default is None):
                return None
            if self.kind == "choice" and text not in [str(c) for c in self.choices]:
                try:
                    return json.loads(text)
                except json.JSONDecodeError:
                    return text
            if self.kind == "choice":
                return next(c for c in self.choices if str(c) == text)
            return text
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text

    def check(self, value, label):
        """`value` validated for this option (errors name it `label`), normalised."""
        if value is None and (self.nullable or self.default is None):
            return None
        kind = self.kind
        if kind == "int":
            return checks.check_int(value, label, self.minimum, self.maximum)
        if kind == "float":
            return checks.check_number(value, label, self.minimum, self.maximum,
                                       low_open=self.low_open)
        if kind == "bool":
            return checks.check_bool(value, label)
        if kind == "choice":
            return checks.check_choice(value, label, self.choices)
        if kind == "ints":
            return list(checks.check_units(value, label, allow_empty=False))
        if kind == "interval":
            return list(checks.check_interval(value, label, self.minimum, self.maximum))
        if not isinstance(value, (str, Path)) or not str(value):
            raise ValueError(f"`{label}` must be {'a path' if kind != 'str' else 'text'}. "
                             f"Received: {label}={value!r}")
        if kind == "keras_file":
            path = Path(value)
            if path.suffix != ".keras" or not path.is_file():
                raise ValueError(f"`{label}` must be the path of an existing .keras file. "
                                 f"Received: {label}={str(value)!r}")
        return str(value)


def option_names(recipe):
    """The names of a recipe's options, in declaration order."""
    return [o.name for o in recipe.options]


def _label(key, flag):
    return f"{flag} {key}" if flag else key


def resolve_options(recipe, given, *, flag=None, from_text=False):
    """Every option of `recipe`: the given values checked, the defaults for the rest.

    Args:
        recipe: a registered `Recipe`.
        given: `{key: value}`; values are text (`from_text=True`, the CLI's `--set`) or
            Python values (`run_recipe`).
        flag: how the user typed the keys (`"--set"` on the command line), used in
            error messages; `None` names the bare key.
        from_text: parse each value by its option's kind first.

    Returns:
        A dict of every declared option, in declaration order.

    Raises:
        ValueError: for an unknown key or a value of the wrong kind, naming the method,
            the key and the valid options.
    """
    declared = {o.name: o for o in recipe.options}
    unknown = [k for k in given if k not in declared]
    if unknown:
        key = unknown[0]
        valid = ", ".join(declared) or "(none)"
        raise ValueError(
            f"{recipe.name!r} has no option `{_label(key, flag)}`. "
            f"Valid options of {recipe.name}: {valid} "
            f"(`keras-unsup run {recipe.name} --help` describes them)."
        )
    resolved = {}
    for name, option in declared.items():
        if name not in given:
            resolved[name] = option.default
            continue
        value = given[name]
        if from_text:
            value = option.parse_text(str(value))
        try:
            resolved[name] = option.check(value, _label(name, flag))
        except ValueError as error:
            raise ValueError(f"{recipe.name}: {error}") from None
    return resolved


def given_options(recipe, texts, *, flag="--set"):
    """The `--set` texts among `texts` that `recipe` declares, parsed and checked by their
    kinds (only those: the defaults are left to `run_recipe`). For scripts that hand one
    set of `--set` flags to several methods, e.g. the benchmarks."""
    declared = {o.name: o for o in recipe.options}
    given = {k: v for k, v in texts.items() if k in declared}
    resolved = resolve_options(recipe, given, flag=flag, from_text=True)
    return {k: resolved[k] for k in given}


def parse_set_flags(pairs, flag="--set"):
    """`["key=value", ...]` (the command line's `--set`) into `{key: text}`, in order;
    the values are parsed later by each option's kind."""
    options = {}
    for pair in pairs or []:
        if "=" not in pair or not pair.split("=", 1)[0].strip():
            raise ValueError(f"`{flag}` expects KEY=VALUE. Received: {flag} {pair}")
        key, value = pair.split("=", 1)
        options[key.strip()] = value
    return options


def options_help(recipe):
    """The table of a recipe's options, as `keras-unsup run METHOD --help` shows it."""
    if not recipe.options:
        return f"{recipe.name} has no options."
    lines = [f"options of {recipe.name} (--set KEY=VALUE, repeatable):"]
    width = max(len(f"{o.name}={o.metavar}") for o in recipe.options)
    for o in recipe.options:
        head = f"{o.name}={o.metavar}"
        default = "" if "default:" in o.help else f" (default: {o.describe_default()})"
        lines.append(f"  {head:<{width}}  {o.help}{default}")
    return "\n".join(lines)


__all__ = ["Option", "given_options", "option_names", "options_help", "parse_set_flags",
           "resolve_options"]
