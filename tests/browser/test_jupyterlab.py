"""rustpar in JupyterLab 4, driven by a headless Chromium as a user would
drive it: notebooks run from the UI, displays updated in place, errors and
stderr styled as such, interrupt, restart and shutdown from the toolbar and
the Kernel menu. Screenshots of each step go to build/browser/.

Needs Debian's `chromium` and Playwright for Python (`bash install.sh
--with-browser`; Playwright cannot download its own browsers here); skipped
with that message where either is missing.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: run `bash install.sh --with-browser`")
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("Chromium is not installed: run `bash install.sh --with-browser`", allow_module_level=True)

pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "browser"
# A first cell waits for the session to start (seconds); a course cell takes a few.
CELL_WAIT_MS = 180_000


class Lab:
    """A JupyterLab server on a free local port, with a random token, serving a temporary folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.token = secrets.token_hex(16)
        # Every cell in the page, not only those scrolled into view, so that the test sees them all.
        settings = folder / ".settings" / "@jupyterlab" / "notebook-extension"
        settings.mkdir(parents=True)
        (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        jupyter = Path(sys.executable).with_name("jupyter")
        self.log = open(folder / "lab.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [jupyter, "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={self.port}",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={folder}",
             # A fresh workspace and settings: nothing restored, no news prompt.
             f"--LabApp.workspaces_dir={folder / '.workspaces'}", f"--LabApp.user_settings_dir={folder / '.settings'}"],
            stdout=subprocess.DEVNULL, stderr=self.log,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not start; its log: {folder / 'lab.log'}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}?token={self.token}"

    def api(self, path: str) -> list[dict]:
        with urllib.request.urlopen(self.url(path), timeout=10) as reply:
            return json.load(reply)

    def kernel_of(self, notebook: str) -> str:
        """The id of the kernel that the notebook's session runs."""
        return next(session["kernel"]["id"] for session in self.api("/api/sessions") if session["path"] == notebook)

    def running(self, kernel: str) -> bool:
        return any(running["id"] == kernel for running in self.api("/api/kernels"))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    server = Lab(tmp_path_factory.mktemp("lab"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield page
    page.close()


def write_notebook(lab: Lab, name: str, cells: list[str]) -> str:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "rustpar", "display_name": "Rust (parallel)", "language": "rust"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(notebook, lab.folder / name)
    return name


def open_notebook(page, lab: Lab, name: str) -> None:
    """Opens `name` as a user would once JupyterLab has loaded, and waits for its kernel."""
    page.goto(lab.url("/lab") + "&reset")  # a workspace with nothing open: the launcher
    page.wait_for_selector(".jp-LauncherCard-label >> text=Rust (parallel)", timeout=60_000)
    page.goto(lab.url(f"/lab/tree/{name}"))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    # The status bar names the kernel once the notebook is connected to it;
    # before, "Run All" marks the cells without sending them.
    page.wait_for_selector("text=Rust (parallel) | Idle", state="attached", timeout=CELL_WAIT_MS)
    wait_idle(page)


def wait_idle(page, timeout: int = CELL_WAIT_MS) -> None:
    page.wait_for_selector("text=Kernel status: Idle", state="attached", timeout=timeout)


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def menu(page, top: str, item: str) -> None:
    page.click(f".lm-MenuBar-itemLabel >> text={top}")
    page.click(f".lm-Menu-itemLabel >> text={item}")


def cells(page) -> list:
    return page.locator(".jp-Notebook .jp-Cell").all()


def prompt(cell) -> str:
    return cell.locator(".jp-InputArea-prompt").inner_text().strip()


def run_cell(page, index: int) -> None:
    """Runs the cell at `index` from the keyboard (Shift+Enter) and waits until it has its execution count."""
    cell = cells(page)[index]
    cell.locator(".jp-InputArea-prompt").click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(
        "([i]) => /\\[\\d+\\]/.test(document.querySelectorAll('.jp-Notebook .jp-Cell')[i].querySelector('.jp-InputArea-prompt').textContent)",
        arg=[index], timeout=CELL_WAIT_MS,
    )


def run_all(page) -> None:
    menu(page, "Run", "Run All Cells")


def wait_all_ran(page) -> None:
    """Waits until every code cell whose input shows has its execution count (solution cells hide theirs)."""
    page.wait_for_function(
        "() => { const p = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')];"
        " return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }",
        timeout=CELL_WAIT_MS * 2,
    )
    wait_idle(page)


def saved(page, lab: Lab, name: str) -> nbformat.NotebookNode:
    """The notebook as JupyterLab saves it (Ctrl+S), outputs included."""
    page.keyboard.press("Control+s")
    page.wait_for_timeout(1500)
    return nbformat.read(lab.folder / name, as_version=4)


def test_notebook_00_runs_top_to_bottom_from_the_ui(page, lab):
    shutil.copy(ROOT / "notebooks" / "00_welcome.ipynb", lab.folder / "00_welcome.ipynb")
    open_notebook(page, lab, "00_welcome.ipynb")
    run_all(page)
    wait_all_ran(page)
    shot(page, "00_welcome")
    notebook = saved(page, lab, "00_welcome.ipynb")
    counts = []
    for cell in (cell for cell in notebook.cells if cell.cell_type == "code"):
        errors = [output for output in cell.outputs if output.output_type == "error"]
        if "raises-exception" in cell.metadata.get("tags", []):
            assert errors, f"a cell tagged raises-exception did not fail: {cell.source[:80]!r}"
        else:
            assert not errors, f"{cell.source[:80]!r} failed in the browser: {errors[0].ename}: {errors[0].evalue}"
        counts.append(cell.execution_count)
    assert counts == list(range(1, len(counts) + 1)), f"execution counts out of order: {counts}"
    plots = page.locator(".jp-RenderedSVG img, .jp-RenderedSVG svg, .jp-RenderedImage img").all()
    assert plots, "notebook 00 draws plots"
    for plot in plots:
        box = plot.bounding_box()
        assert box and box["width"] > 50 and box["height"] > 50, f"a plot has no size: {box}"


DISPLAY_CELLS = [
    "let bar = progress(30); for _ in 0..30 { sleep(std::time::Duration::from_millis(20)); bar.inc(); }",
    "let other = progress(10); for _ in 0..10 { sleep(std::time::Duration::from_millis(20)); other.inc(); }",
    'let shown = DisplayHandle::new(); for i in 1..=5 { shown.text(format!("step {i} of 5")); sleep(std::time::Duration::from_millis(50)); }',
    'eprintln!("a warning on stderr"); println!("a line on stdout");',
    'let broken: i32 = "forty-two".parse().unwrap();',
]


def test_displays_update_in_place_and_errors_and_stderr_look_like_errors(page, lab):
    name = write_notebook(lab, "displays.ipynb", DISPLAY_CELLS)
    open_notebook(page, lab, name)
    run_all(page)
    wait_all_ran(page)
    shot(page, "displays")
    first_bar, second_bar, updated, streams, failed = cells(page)
    for bar, total in ((first_bar, 30), (second_bar, 10)):
        outputs = bar.locator(".jp-OutputArea-output").all()
        assert len(outputs) == 1, f"a progress bar ends as one output, not a stack of copies: {len(outputs)}"
        assert f"{total}/{total}" in outputs[0].inner_text().replace(" ", ""), outputs[0].inner_text()
    outputs = updated.locator(".jp-OutputArea-output").all()
    assert [output.inner_text().strip() for output in outputs] == ["step 5 of 5"], "an updated display shows its last value only"
    stderr = streams.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    stdout = streams.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]')
    assert "a warning on stderr" in stderr.inner_text() and "a line on stdout" in stdout.inner_text()
    background = stderr.evaluate("element => getComputedStyle(element).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent"), f"stderr is styled as stderr: {background}"
    ename = failed.locator(".jp-OutputArea-output .ansi-red-fg").first
    assert ename.inner_text() == "Panic", "the error output leads with its ename, in red"
    notebook = saved(page, lab, name)
    assert [output.output_type for output in notebook.cells[4].outputs] == ["error"], "a failed cell's output is an error output"
    assert notebook.cells[4].outputs[0].ename == "Panic"


def test_stop_restart_and_shut_down_from_the_ui(page, lab):
    name = write_notebook(lab, "control.ipynb", [
        "let kept = 41;",
        "loop { sleep(std::time::Duration::from_millis(50)); }",
        "kept + 1",
        "1 + 1",
        "loop { sleep(std::time::Duration::from_millis(50)); }",
    ])
    open_notebook(page, lab, name)
    run_cell(page, 0)
    loop_cell = cells(page)[1]
    loop_cell.locator(".jp-InputArea-prompt").click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_selector("text=Kernel status: Busy", state="attached", timeout=CELL_WAIT_MS)
    page.wait_for_timeout(1500)  # the loop is running
    began = time.time()
    page.click('.jp-NotebookPanel-toolbar [data-command="notebook:interrupt-kernel"]')
    wait_idle(page, timeout=10_000)
    assert time.time() - began < 2, f"the stop button ended the loop in {time.time() - began:.1f} s"
    shot(page, "interrupted")
    run_cell(page, 2)
    assert cells(page)[2].locator(".jp-OutputArea-output").inner_text().strip() == "42", "variables survive an interrupt"

    menu(page, "Kernel", "Restart Kernel…")
    page.click(".jp-Dialog .jp-mod-accept")
    wait_idle(page)
    run_cell(page, 3)
    assert cells(page)[3].locator(".jp-OutputArea-output").inner_text().strip() == "2", "the restarted kernel answers"
    shot(page, "restarted")

    cells(page)[4].locator(".jp-InputArea-prompt").click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_selector("text=Kernel status: Busy", state="attached", timeout=CELL_WAIT_MS)
    page.wait_for_timeout(1000)
    kernel = lab.kernel_of(name)
    began = time.time()
    menu(page, "Kernel", "Shut Down Kernel")
    while lab.running(kernel) and time.time() - began < 10:
        time.sleep(0.2)
    assert not lab.running(kernel), "Shut Down Kernel ended the kernel"
    assert time.time() - began < 5, f"shutting down a running cell's kernel took {time.time() - began:.1f} s"
    shot(page, "shut_down")
