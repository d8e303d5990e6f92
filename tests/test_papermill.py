"""papermill runs Rust notebooks with parameters: the translator in
python/rustpar-papermill writes them as typed `let` lines, registered through
papermill's engine entry point, so the plain `papermill` command works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from papermill.exceptions import PapermillException
from papermill.translators import papermill_translators

ROOT = Path(__file__).resolve().parent.parent
PAPERMILL = Path(sys.executable).parent / "papermill"

pytestmark = pytest.mark.timeout(600)


def translator():
    import papermill.engines  # noqa: F401 - loading the entry points registers the translator

    return papermill_translators.find_translator("rustpar", "rust")


def test_parameters_become_typed_let_lines():
    code = translator().codify({"n": 42, "rate": 2.0, "label": 'say "hi"\n', "on": False, "sizes": [1, 2], "mixed": [1, 2.5], "names": ["a"]})
    assert code.splitlines() == [
        "// Parameters",
        "let n: i64 = 42;",
        "let rate: f64 = 2.0;",
        'let label: String = String::from("say \\"hi\\"\\n");',
        "let on: bool = false;",
        "let sizes: Vec<i64> = vec![1, 2];",
        "let mixed: Vec<f64> = vec![1.0, 2.5];",
        'let names: Vec<String> = vec![String::from("a")];',
    ]


@pytest.mark.parametrize(
    "parameters, says",
    [({"limit": None}, "Rust has no untyped None"), ({"xs": []}, "empty list"), ({"type": 1}, "cannot name a Rust variable"), ({"d": {"a": 1}}, "Dictionaries")],
)
def test_what_rust_cannot_take_is_a_clear_error(parameters, says):
    with pytest.raises(PapermillException, match=says):
        translator().codify(parameters)


def test_help_notebook_lists_the_declared_parameters():
    cell = nbformat.v4.new_code_cell('let N: i64 = 2_000_000; // elements of each vector\nlet name: String = String::from("x");')
    found = translator().inspect(cell)
    assert [(p.name, p.inferred_type_name, p.default, p.help) for p in found] == [
        ("N", "i64", "2_000_000", "elements of each vector"),
        ("name", "String", 'String::from("x")', ""),
    ]


def run_papermill(source: Path, out: Path, *args: str) -> dict:
    done = subprocess.run([str(PAPERMILL), str(source), str(out), *args], capture_output=True, text=True, timeout=500)
    assert done.returncode == 0, f"papermill failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(out.read_text())


def outputs_text(nb: dict) -> str:
    texts = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            texts.append("".join(output.get("data", {}).get("text/plain", "")))
            texts.append("".join(output.get("data", {}).get("text/markdown", "")))
    return "\n".join(texts)


def test_the_plain_papermill_command_injects_rust_parameters(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "rustpar", "display_name": "Rust (parallel)", "language": "rust"}
    nb.metadata["language_info"] = {"name": "rust"}
    params = nbformat.v4.new_code_cell('let n: i64 = 1;\nlet who: String = String::from("nobody");')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell('println!("{} from {}", n * 2, who);')]
    source = tmp_path / "params.ipynb"
    nbformat.write(nb, source)
    result = run_papermill(source, tmp_path / "out.ipynb", "-p", "n", "21", "-p", "who", "papermill")
    injected = [cell for cell in result["cells"] if "injected-parameters" in cell["metadata"].get("tags", [])]
    assert len(injected) == 1 and "let n: i64 = 21;" in "".join(injected[0]["source"])
    assert "42 from papermill" in outputs_text(result)


def test_the_course_takes_its_sizes_from_papermill(tmp_path):
    """Notebook 05 with small sizes: the injected values are the ones its cells used."""
    source = ROOT / "notebooks" / "05_data_parallelism_arrays.ipynb"
    result = run_papermill(source, tmp_path / "05.ipynb", "-p", "N", "300000", "-p", "ROWS", "400", "-p", "M", "64")
    text = outputs_text(result)
    assert "Vectors of 300000 elements" in text, text[:2000]
    assert "64×64 matrices" in text
