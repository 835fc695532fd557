"""Notebook 08 in a real browser: JupyterLab (headless, local, no network) driven by Playwright in Chromium.

Runs all cells from JupyterLab's Run menu, waits for the ThresholdExplorer widget, moves the threshold
slider with the keyboard and checks that the Pd/Fa table and the overlay image change. Uses Debian's
Chromium (``apt-get install -y chromium``); nothing downloads a browser. Skips, saying why, only when
Chromium or Playwright is absent.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "08_metrics_roc_thresholds.ipynb"
CHROMIUM = Path(os.environ.get("GCFLNET_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
LAB_CONFIG = """
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.open_browser = False
c.ServerApp.port_retries = 0
c.ServerApp.allow_root = True  # CI containers run as root; the server only listens on 127.0.0.1 with a token
c.ServerApp.terminals_enabled = False
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.extension_manager = "readonly"
"""

# JupyterLab user settings: start the notebook's kernel without asking, and never fetch news.
USER_SETTINGS = {
    # windowingMode "none": every cell stays in the page, so the widget's cell far above the last one exists
    # to be found (JupyterLab 4 removes off-screen cells by default).
    "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True, "windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def lab_server(tmp_path):
    """JupyterLab on a free local port with a token, rooted in a temp folder holding a smoke-size copy of 08."""
    import papermill.iorw
    import papermill.parameterize

    root, config, state = tmp_path / "root", tmp_path / "config", tmp_path / "state"
    for folder in (root, config, state):
        folder.mkdir()
    notebook = papermill.iorw.load_notebook_node(str(NOTEBOOK))  # gives every cell the tags papermill expects
    notebook = papermill.parameterize.parameterize_notebook(
        notebook, {"SMOKE": True, "RESULTS_DIR": str(tmp_path / "results")}
    )
    nbformat.write(notebook, root / NOTEBOOK.name)
    (config / "jupyter_server_config.py").write_text(LAB_CONFIG)
    for plugin, values in USER_SETTINGS.items():
        path = state / "settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))

    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    log = tmp_path / "lab.log"
    with open(log, "w") as log_handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
            cwd=root, env=env, stdout=log_handle, stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", process, log)
        yield {"url": f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?token={token}", "log": log,
               "results": tmp_path / "results"}
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def browser():
    if not CHROMIUM.is_file() and shutil.which(str(CHROMIUM)) is None:
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium, or set GCFLNET_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; no browser download is needed)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


def _stats_text(page) -> str:
    return page.locator(".gcfl-stats").first.inner_text()


def _figure_src(page) -> str:
    return page.locator(".widget-vbox:has(.gcfl-stats) img").first.get_attribute("src") or ""


def test_threshold_explorer_reacts_in_jupyterlab(lab_server, browser, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    try:
        try:
            _drive_notebook(page, lab_server["url"])
        except (PlaywrightTimeout, NotebookStalled) as first:
            # A UI wait that timed out on a shared 2-core machine, or a page whose kernel connection broke, gets
            # one more try in a fresh page (Run All runs every cell again, so nothing the checks read is stale).
            print(f"first attempt timed out ({str(first).splitlines()[0]}); trying once more in a fresh page")
            page.close()
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            _drive_notebook(page, lab_server["url"])
    except BaseException:  # pytest.fail's exception too
        shot = tmp_path / "failure.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failure: {shot}\nJupyterLab log tail:\n{lab_server['log'].read_text()[-2000:]}")
        raise
    finally:
        page.close()


def _run_all_cells(page, attempts: int = 3) -> None:
    """Run > Run All Cells, until a code cell shows it started ([*] or a number).

    Right after the kernel first reports idle, JupyterLab can still be wiring the session up and then
    drops the request without running anything; the menu command is simply repeated in that case.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    started = ("() => Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'))"
               ".some(prompt => /\\[(\\*|\\d+)\\]/.test(prompt.innerText))")
    for _ in range(attempts):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.wait_for_function(started, timeout=10_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")  # close the menu if it is still open
    pytest.fail(f"Run All Cells started no cell in {attempts} attempts")


# A folded cell (source_hidden: the checks) shows a placeholder whose prompt is a .jp-InputPrompt too but never
# gets an execution number: count the input areas' prompts only.
COUNT_RUN = ("() => { const prompts = Array.from(document.querySelectorAll("
             "'.jp-CodeCell .jp-InputPrompt:not(.jp-Placeholder-prompt)'));"
             " return [prompts.length, prompts.filter(p => /\\[\\d+\\]/.test(p.textContent)).length,"
             " prompts.some(p => /\\[\\*\\]/.test(p.textContent))]; }")


class NotebookStalled(AssertionError):
    """No cell finished for a while: seen when JupyterLab's first kernel websocket fails under load (a 500 in the
    server log, ``'NoneType' object has no attribute 'kernel_ws_protocol'``) and the page's requests go nowhere."""


def _wait_until_all_cells_ran(page, stall_s: float = 150.0, poll_s: float = 1.0) -> None:
    """Wait until every code cell shows an execution number and the kernel is idle.

    No fixed deadline: on a loaded 2-core machine a run may take minutes, so the wait lasts as long as
    cells keep finishing, and fails only when nothing has progressed for ``stall_s`` seconds.
    """
    idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    error = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']:has-text('Error')")
    last_done, last_change = -1, time.monotonic()
    while True:
        if error.count():
            pytest.fail(f"a cell failed: {error.first.inner_text()[-1500:]}")
        total, done, running = page.evaluate(COUNT_RUN)
        if done == total and not running and idle.count():
            return
        if done != last_done:
            last_done, last_change = done, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            raise NotebookStalled(f"the notebook stalled: {done} of {total} code cells ran, none more in {stall_s:.0f} s")
        page.wait_for_timeout(poll_s * 1000)


def _drive_notebook(page, url: str) -> None:
    """Open the notebook, Run All Cells from the menu, move the threshold slider, check the widget reacts."""
    page.goto(url)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    # The kernel must be up before Run All. Under load JupyterLab may still ask which kernel to start
    # (when the notebook opens before the kernel specs have loaded): accept its preferred one, python3.
    idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    picker = page.locator(".jp-Dialog", has_text="Select Kernel")
    idle.or_(picker).first.wait_for(timeout=60_000)
    if picker.is_visible():
        picker.locator(".jp-Dialog-button.jp-mod-accept").click()
        idle.wait_for(timeout=60_000)

    _run_all_cells(page)
    _wait_until_all_cells_ran(page)

    # The widget's cell may be far above the last one; JupyterLab only renders what is on screen, so scroll to it.
    page.locator(".gcfl-stats").first.wait_for(state="attached", timeout=30_000)
    page.locator(".gcfl-stats").first.scroll_into_view_if_needed()
    page.locator(".gcfl-stats").first.wait_for(timeout=30_000)
    page.locator(".widget-vbox:has(.gcfl-stats) img").first.wait_for()
    before_text, before_src = _stats_text(page), _figure_src(page)
    assert "Pd" in before_text and "Fa" in before_text and "threshold 0.50" in before_text
    assert before_src.startswith("data:image/png")

    handle = page.locator(".widget-slider .noUi-handle").first  # the threshold slider comes first
    handle.focus()
    for _ in range(3):  # each press is one step (0.01) and one recomputation in the kernel
        page.keyboard.press("ArrowRight")
    page.locator(".gcfl-stats caption", has_text="threshold 0.53").wait_for(timeout=30_000)
    assert page.locator(".widget-slider .widget-readout").first.inner_text().strip() == "0.53"
    # The figure arrives in its own widget message, possibly after the table: wait for it too.
    page.wait_for_function(
        "(before) => { const img = document.querySelector('.widget-vbox .jupyter-widgets-output-area img, "
        ".widget-vbox .widget-output img'); return img && img.src && img.src !== before; }",
        arg=before_src, timeout=30_000,
    )
    after_text, after_src = _stats_text(page), _figure_src(page)
    assert after_text != before_text
    assert "threshold 0.50" not in after_text
    assert after_src.startswith("data:image/png") and after_src != before_src

    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']:has-text('Error')")
    assert errors.count() == 0, errors.first.inner_text()


def test_exported_page_shows_the_widget_snapshot_offline_and_hides_it_once_a_widget_renders(browser, tmp_path):
    """A page from ``pages.export_html`` with no network: the html-manager cannot load, so the snapshot of
    the ThresholdExplorer is what the reader sees; where a rendered widget (``lm-Widget``) appears in the output
    before it, the page's style rule hides the snapshot."""
    import matplotlib

    matplotlib.use("Agg")
    from gcflnet_lib.workbook import pages
    from gcflnet_lib.workbook.widget_snapshot import SNAPSHOT_CLASS
    from tests.test_widget_snapshot import executed_notebook
    from tests.test_widgets import _maps
    from gcflnet_lib.workbook.widgets import ThresholdExplorer

    probs, masks = _maps()
    path = tmp_path / "page.ipynb"
    nbformat.write(executed_notebook(ThresholdExplorer(probs, masks, threshold=0.65).widget), path)
    page_path = pages.export_html(path, tmp_path / "page.html", None)
    context = browser.new_context(offline=True)
    try:
        page = context.new_page()
        page.goto(page_path.as_uri())
        snapshot = page.locator(f".{SNAPSHOT_CLASS}")
        snapshot.wait_for(state="visible", timeout=30_000)
        assert "0.65" in snapshot.inner_text() and snapshot.locator("img").count() == 1
        assert snapshot.locator("img").evaluate("img => img.naturalWidth") > 0  # the stored PNG decodes
        # What the html-manager does online: a rendered widget inside the output before the snapshot.
        page.evaluate("""() => {
            const view = document.querySelector('script[type="application/vnd.jupyter.widget-view+json"]');
            const rendered = document.createElement('div');
            rendered.className = 'lm-Widget';
            view.parentElement.appendChild(rendered);
        }""")
        snapshot.wait_for(state="hidden", timeout=10_000)
    finally:
        context.close()


# Resolves once MathJax has started and typeset the page: the HTML-CSS font in use, and the messages MathJax
# shows about fonts (its FontWarnings box) or math it could not typeset.
# MathJax 2 has typeset the page once its queue is empty after startup; Playwright's evaluate has no timeout of
# its own, so the test polls this with one instead of awaiting a startup hook (which may already have fired).
MATHJAX_IDLE = """() => window.MathJax && MathJax.Hub && MathJax.Hub.queue && MathJax.Hub.Startup
    && MathJax.Hub.Startup.signal.posted.includes("End") && !MathJax.Hub.queue.pending && !MathJax.Hub.queue.running"""
MATHJAX_STATE = """() => ({
    font: MathJax.OutputJax["HTML-CSS"] ? MathJax.OutputJax["HTML-CSS"].fontInUse : null,
    typeset: document.querySelectorAll(".MathJax, .MathJax_Display").length,
    warning: (document.getElementById("MathJax_FontWarning") || {}).innerText || "",
})"""


def test_exported_page_typesets_its_equations_offline_with_the_bundled_fonts(browser, tmp_path):
    """Notebook 06's text (its stretched brackets showed "[Math Processing Error]") exported as the runner does,
    read offline: every equation typeset with the STIX-Web fonts the local MathJax ships, no error, no warning."""
    from gcflnet_lib.workbook import pages

    url = pages.local_mathjax(tmp_path)
    if url is None:
        pytest.skip("jupyter-server-mathjax is not installed (pip install -e '.[dev]')")
    source = nbformat.read(REPO / "notebooks" / "06_msic.ipynb", as_version=4)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [cell for cell in source.cells if cell.cell_type == "markdown"]  # the math; no kernel needed
    nbformat.write(notebook, tmp_path / "06.ipynb")
    page_path = pages.export_html(tmp_path / "06.ipynb", tmp_path / "06.html", url)
    context = browser.new_context(offline=True)
    try:
        page = context.new_page()
        console = []
        page.on("console", lambda message: console.append(message.text))
        page.goto(page_path.as_uri())
        page.wait_for_function(MATHJAX_IDLE, timeout=60_000)
        done = page.evaluate(MATHJAX_STATE)
        text = page.inner_text("body")
        assert "Math Processing Error" not in text
        assert done["font"] == "STIX-Web" and done["warning"] == "", done
        assert done["typeset"] >= 10, done  # 06 holds dozens of formulas; a few means MathJax stopped early
        # Chromium refuses MathJax's about:blank probe from a file:// page (a CORS notice, no font is missing).
        font_messages = [line for line in console if ("font" in line.lower() or "mathjax" in line.lower())
                         and "'about:blank'" not in line]
        assert not font_messages, font_messages
    finally:
        context.close()
