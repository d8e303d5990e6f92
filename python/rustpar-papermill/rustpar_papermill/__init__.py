"""Parameters for Rust notebooks run by papermill.

papermill injects a notebook's parameters as a cell of code in the notebook's
language, after the cell tagged ``parameters``; this module writes that cell
in Rust, one ``let`` line per parameter with its Rust type:

    papermill notebooks/05_data_parallelism_arrays.ipynb out.ipynb -p N 4000000

gives ``let N: i64 = 4000000;``. The parameters cell of a notebook declares
its parameters with the same types (``i64``, ``f64``, ``String``, ``bool``,
``Vec<i64>``, ``Vec<f64>``, ``Vec<String>``, ``Vec<bool>``), so that the
injected lines replace them exactly.

papermill has no entry point for translators; it does load every
``papermill.engine`` entry point when it starts, and this package's entry
point (the engine ``rustpar``, which is papermill's own nbclient engine) loads
this module, which registers the translator for the language ``rust``.
"""

from __future__ import annotations

import math
import re

from papermill.engines import NBClientEngine
from papermill.exceptions import PapermillException
from papermill.models import Parameter
from papermill.translators import Translator, papermill_translators

__all__ = ["RustTranslator", "RustparEngine"]

# Rust's strict and reserved keywords: not usable as variable names.
RUST_KEYWORDS = frozenset(
    "as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod move mut "
    "pub ref return self Self static struct super trait true type unsafe use where while abstract become box do final gen "
    "macro override priv try typeof unsized virtual yield".split()
)

LET_LINE = re.compile(r"^\s*let\s+(?:mut\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*(?P<type>[^=]+?))?\s*=\s*(?P<value>.+?);\s*(?://\s*(?P<help>.*))?$")


class RustTranslator(Translator):
    """Python values as Rust expressions, and parameters as typed `let` lines."""

    @classmethod
    def translate_str(cls, val):
        return f"String::from({cls.translate_escaped_str(val)})"

    @classmethod
    def translate_escaped_str(cls, str_val):
        escaped = str(str_val).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
        return f'"{escaped}"'

    @classmethod
    def translate_none(cls, val):
        raise PapermillException(
            "A parameter is None, and Rust has no untyped None: give it a value, or declare it in the "
            "parameters cell as an Option (for example `let limit: Option<i64> = None;`) and pass a value."
        )

    @classmethod
    def translate_int(cls, val):
        return f"{val}"

    @classmethod
    def translate_float(cls, val):
        if math.isnan(val):
            return "f64::NAN"
        if math.isinf(val):
            return "f64::INFINITY" if val > 0 else "f64::NEG_INFINITY"
        text = repr(float(val))
        return text if any(c in text for c in ".eE") else f"{text}.0"

    @classmethod
    def translate_bool(cls, val):
        return "true" if val else "false"

    @classmethod
    def translate_dict(cls, val):
        raise PapermillException("Dictionaries cannot be passed to a Rust notebook: pass each value as a parameter of its own.")

    @classmethod
    def translate_list(cls, val):
        return f"vec![{', '.join(cls.translate(item) for item in val)}]"

    @classmethod
    def comment(cls, cmt_str):
        return f"// {cmt_str}".strip()

    @classmethod
    def rust_type(cls, name, val):
        """The Rust type of a parameter's value."""
        if isinstance(val, bool):
            return "bool"
        if isinstance(val, int):
            return "i64"
        if isinstance(val, float):
            return "f64"
        if isinstance(val, str):
            return "String"
        if isinstance(val, list):
            kinds = {cls.rust_type(name, item) for item in val}
            if kinds == {"i64", "f64"}:
                return "Vec<f64>"
            if len(kinds) == 1 and not next(iter(kinds)).startswith("Vec"):
                return f"Vec<{kinds.pop()}>"
            if not val:
                raise PapermillException(f"The parameter `{name}` is an empty list, whose element type Rust cannot know: pass at least one element.")
            raise PapermillException(f"The parameter `{name}` mixes values of types {sorted(kinds)}: a Rust vector holds one type.")
        if val is None:
            cls.translate_none(val)
        if isinstance(val, dict):
            cls.translate_dict(val)
        raise PapermillException(f"The parameter `{name}` has a value of type {type(val).__name__}, which Rust notebooks do not take.")

    @classmethod
    def codify(cls, parameters, comment="Parameters"):
        lines = [cls.comment(comment)]
        for name, val in parameters.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in RUST_KEYWORDS:
                raise PapermillException(f"`{name}` cannot name a Rust variable: use letters, digits and _ (and not a Rust keyword).")
            rust_type = cls.rust_type(name, val)
            if rust_type == "Vec<f64>":
                # Integers among floats are written as floats: a vector holds one type.
                value = f"vec![{', '.join(cls.translate_float(float(item)) for item in val)}]"
            else:
                value = cls.translate(val)
            lines.append(f"let {name}: {rust_type} = {value};")
        return "\n".join(lines) + "\n"

    @classmethod
    def inspect(cls, parameters_cell):
        """The parameters a notebook declares: `let NAME: TYPE = VALUE; // help` lines."""
        found = []
        for line in parameters_cell.source.splitlines():
            match = LET_LINE.match(line)
            if match:
                found.append(
                    Parameter(
                        name=match["name"],
                        inferred_type_name=(match["type"] or "None").strip(),
                        default=match["value"].strip(),
                        help=(match["help"] or "").strip(),
                    )
                )
        return found


class RustparEngine(NBClientEngine):
    """papermill's own engine, under the name `rustpar`: the entry point that loads this module."""


papermill_translators.register("rust", RustTranslator)
papermill_translators.register("rustpar", RustTranslator)
