"""The explorer as a person uses it: JupyterLab in headless Chromium, a slider moved by mouse.

Starts JupyterLab on a free 127.0.0.1 port with a token, opens notebooks/04_explorer.ipynb
(with its tiny test parameters, in a temporary directory) in the system's Chromium driven by
Playwright, runs all cells from the Run menu, drags the tau_d slider, and checks that the
widget rendered and that its figure changed. The screenshot is saved to
figures/explorer_screenshot.png. Run by `make ui-test` (which installs Debian's chromium and
the playwright package if they are missing); skipped where either is absent.
"""
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "04_explorer.ipynb"
PARAMETERS = {"quick": True}  # as in tests/test_notebooks.py: short fits, a 2 x 2 grid
SCREENSHOT = REPO / "figures" / "explorer_screenshot.png"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium")
AS_ROOT = os.geteuid() == 0  # JupyterLab and Chromium's sandbox both refuse root by default
REQUIRED = os.environ.get("MBE_UI_REQUIRED") == "1"  # `make ui-test`: missing tools fail


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parameterised_copy(root: Path) -> None:
    """The notebook with its tiny parameters injected (as papermill does), under root."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(REPO / "notebooks" / NOTEBOOK))
    nbformat.write(parameterize_notebook(nb, PARAMETERS), root / NOTEBOOK)


def _wait_until_up(proc: subprocess.Popen, port: int, token: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            url = f"http://127.0.0.1:{port}/api/status?token={token}"
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within 120 s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def sync_api():
    """Playwright's sync API, with the system Chromium present (else skip, or fail if required)."""
    try:
        from playwright import sync_api
    except ImportError:
        sync_api = None
    if CHROMIUM is None or sync_api is None:
        missing = "chromium" if CHROMIUM is None else "the playwright package"
        (pytest.fail if REQUIRED else pytest.skip)(f"{missing} is missing: run `make ui-test`")
    return sync_api


@pytest.fixture
def jupyterlab(tmp_path):
    """(url of the notebook, root directory); the server is always shut down afterwards."""
    root, state = tmp_path / "root", tmp_path / "state"
    root.mkdir()
    (state / "config" / "labconfig").mkdir(parents=True)
    (state / "config" / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    _parameterised_copy(root)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(state / "config"),
               JUPYTER_RUNTIME_DIR=str(state / "runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
               JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
               MBE_CACHE_DIR=str(state / "mbe-cache"), HF_HUB_OFFLINE="1",
               PYTHONPATH=str(REPO))
    env.pop("MPLBACKEND", None)  # the kernel's own inline backend, as for a person
    log = tmp_path / "jupyterlab.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
             f"--port={port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
             "--LabApp.news_url=None", *(["--allow-root"] if AS_ROOT else [])],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_up(proc, port, token, log)
        yield f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}?reset&token={token}", root
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """End the server's own process group (the server and its kernels)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


#: True once no cell is queued or running and every code cell has an execution count.
ALL_RAN = """() => {
    const prompts = Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'));
    const idle = Array.from(document.querySelectorAll('.jp-StatusBar-TextItem'))
        .some(e => /\\(ipykernel\\) \\| Idle/.test(e.textContent));
    return idle && prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""


def _run_all_cells(page, timeout_error) -> None:
    """Run > Run All Cells, once the kernel is connected (the menu does nothing before)."""
    idle = re.compile(r"\(ipykernel\) \| Idle")
    page.locator(".jp-StatusBar-TextItem", has_text=idle).wait_for()
    started = page.locator(".jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]")).first
    for _ in range(2):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            started.wait_for(timeout=20_000)
            return
        except timeout_error:  # the kernel was still settling: ask once more
            continue
    pytest.fail("Run All Cells did not start the notebook")


def _drag_slider(page, slider, dx: float) -> str:
    """Drag the slider's handle dx pixels right; returns the new readout. The notebook may
    still be scrolling into place, so a drag that did not take is retried (bounded)."""
    readout = slider.locator(".widget-readout")
    start = readout.inner_text()
    for _ in range(3):
        slider.scroll_into_view_if_needed()
        page.wait_for_timeout(500)  # let the layout settle
        box = slider.locator(".noUi-handle").bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + dx / 2, y, steps=5)
        page.mouse.move(x + dx, y, steps=5)
        page.mouse.up()
        page.wait_for_timeout(500)
        if readout.inner_text() != start:
            return readout.inner_text()
    pytest.fail(f"dragging the slider did not move it (readout stayed {start})")


def test_explorer_renders_and_answers_a_slider_in_a_browser(sync_api, jupyterlab):
    url, root = jupyterlab
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox"] if AS_ROOT else [])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1400})
            page.set_default_timeout(60_000)
            page.goto(url, wait_until="domcontentloaded")
            page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
            _run_all_cells(page, sync_api.TimeoutError)

            figure = page.locator("img.mbe-explorer-figure")
            figure.wait_for(state="visible", timeout=240_000)  # the widget rendered
            page.wait_for_function(ALL_RAN, timeout=480_000)  # and every cell ran
            outputs = " ".join(page.locator(".jp-OutputArea-output").all_inner_texts())
            assert "Traceback" not in outputs and "Error displaying widget" not in outputs
            assert figure.evaluate("img => img.complete && img.naturalWidth > 1000")
            explorer = page.locator(".mbe-explorer")
            explorer.scroll_into_view_if_needed()
            before_src = figure.evaluate("img => img.src")
            before = figure.screenshot()

            readout = _drag_slider(page, page.locator(".mbe-tau-d"), 20)
            assert float(readout) > 1.0, readout  # the multiplier moved right
            page.wait_for_function(
                "src => document.querySelector('img.mbe-explorer-figure').src !== src",
                arg=before_src, timeout=60_000)
            page.wait_for_function(
                "() => { const i = document.querySelector('img.mbe-explorer-figure');"
                " return i.complete && i.naturalWidth > 1000; }")
            assert figure.screenshot() != before, "the figure did not change"
            status = page.locator(".mbe-status").inner_text()
            assert "perturbed" in status, status

            SCREENSHOT.parent.mkdir(exist_ok=True)
            explorer.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()
    assert (root / "results" / "explorer.json").exists()  # the notebook ran to its end
