"""What a learner sees in a real browser: JupyterLab runs notebooks 0 and 4 at the smoke budget in headless Chromium
(Debian's `chromium`, driven by playwright), a click on a picker reaches the kernel, every plotly figure is drawn; and
the built book (`make book`, build/book/) loads page by page with its figures and links.

`make test-browser` runs these (the `browser` marker keeps them out of `make test`). Without chromium or playwright
they skip with one line.
"""
import http.server
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from functools import partial
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import nbformat
import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "build" / "book"
SCREENSHOT = ROOT / "docs" / "book-reading-curve.png"
PLOTLY = "application/vnd.plotly.v1+json"
SMOKE = {"BUDGET": "smoke", "STUDENT": "tiny", "SEED": 0}
# notebook 4's well-read comparison on fewer labels and texts, as the notebook tests run it
NOTEBOOK_4 = {**SMOKE, "WELL_READ_LABELS": 64, "WELL_READ_EXAMPLES": 128}


def _chromium():
    return os.environ.get("WELLREAD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    if not _chromium():
        pytest.skip("no chromium here (Debian: apt-get install chromium): the browser tests are skipped")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("no playwright (pip install playwright): the browser tests are skipped")
    with sync_playwright() as p:
        # the system browser: playwright's own download cannot be fetched here
        chromium = p.chromium.launch(executable_path=_chromium(), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page that records uncaught script errors (page.errors)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.errors = []
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    yield tab
    context.close()


# --------------------------------------------------------------------------------------------- JupyterLab

@pytest.fixture(scope="module")
def lab(browser, tmp_path_factory, add_corpus_tokens):
    """JupyterLab on a free 127.0.0.1 port with a token, serving a temp folder; its kernels train into a temp runs
    folder (the corpus already tokenized, as in the notebook tests) with the hub off."""
    root = tmp_path_factory.mktemp("lab")
    runs = add_corpus_tokens(root / "runs")
    served = root / "served"
    served.mkdir()
    # Every cell stays in the page (Lab 4 leaves cells out of view out of the DOM by default), and no news or update
    # check asks for the network.
    settings = root / "settings" / "@jupyterlab"
    for extension, values in {"notebook-extension/tracker": {"windowingMode": "none"},
                              "apputils-extension/notification": {"checkForUpdates": False, "fetchNews": "false"}}.items():
        (settings / f"{extension}.jupyterlab-settings").parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{extension}.jupyterlab-settings").write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "WELLREAD_RUNS": str(runs), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces")}
    log = open(root / "lab.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                               f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True", f"--ServerApp.root_dir={served}", "--allow-root"],
                              env=env, stdout=log, stderr=subprocess.STDOUT, cwd=served)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"JupyterLab did not start: {(root / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield type("Lab", (), {"url": url, "token": token, "served": served, "runs": runs, "out": root / "out"})
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _shut_down_kernels(lab) -> None:
    """End every session an earlier test left running, so each notebook runs alone on the machine's cores."""
    with urllib.request.urlopen(f"{lab.url}/api/sessions?token={lab.token}", timeout=10) as response:
        sessions = json.loads(response.read())
    for session in sessions:
        request = urllib.request.Request(f"{lab.url}/api/sessions/{session['id']}?token={lab.token}", method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()


def _serve_notebook(lab, name: str, parameters: dict) -> str:
    """A copy of notebooks/<name>.ipynb with `parameters` injected as papermill does (not executed), in Lab's folder."""
    _shut_down_kernels(lab)
    from papermill.iorw import load_notebook_node  # adds the tags metadata papermill's parameterizer reads
    from papermill.parameterize import parameterize_notebook
    nb = load_notebook_node(str(ROOT / "notebooks" / f"{name}.ipynb"))
    nb = parameterize_notebook(nb, {**parameters, "OUT_DIR": str(lab.out)})
    nbformat.write(nb, lab.served / f"{name}.ipynb")
    # a workspace of its own, reset: Lab would otherwise reopen the earlier test's notebook beside this one
    return f"{lab.url}/lab/workspaces/{name}/tree/{name}.ipynb?reset&token={lab.token}"


def _run_all(page, url: str, timeout_s: float) -> float:
    """Open a notebook, wait for its kernel, Run All from the menu, and wait until every code cell has run or one
    failed; returns the seconds it took."""
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=60_000)
    started = time.time()
    # Lab's own command (the server exposes the app to the page), once the kernel is connected: the page's execution
    # indicator says "idle" before it is, and a Run All sent then runs nothing
    page.evaluate("""async () => {
        const notebook = window.jupyterapp.shell.currentWidget;
        window.wellreadNotebook = notebook;  // the one the waits below follow
        await notebook.context.ready;
        await notebook.sessionContext.ready;
        for (let i = 0; i < 600 && notebook.sessionContext.session?.kernel?.connectionStatus !== 'connected'; i++)
            await new Promise(resolve => setTimeout(resolve, 100));
        window.jupyterapp.commands.execute('notebook:run-all-cells');  // not awaited: it resolves when all cells ran
    }""")
    from playwright.sync_api import TimeoutError as Timeout
    try:
        _wait_until_run(page, timeout_s)
    except Timeout:
        prompts = page.evaluate("() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]"
                                ".map(p => p.textContent.trim())")
        raise AssertionError(f"Run All did not finish in {timeout_s:.0f} s; the cells' prompts: {prompts}") from None
    return time.time() - started


def _wait_until_run(page, timeout_s: float) -> None:
    page.wait_for_function("""() => {
        const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
        const failed = document.querySelector('.jp-Notebook [data-mime-type="application/vnd.jupyter.error"]');
        const kernel = window.wellreadNotebook?.sessionContext?.session?.kernel;
        // a cell's prompt may be blank while Lab re-renders it: the kernel's own status decides between the polls
        const ran = prompts.every(p => /^\\[\\d+\\]:$/.test(p) || p === '') && prompts.some(p => p !== '');
        return kernel?.status === 'idle' && (ran || (failed && !prompts.some(p => p.includes('*'))));
    }""", timeout=timeout_s * 1000, polling=1000)


def _problems(page) -> list[str]:
    """What the learner would see go wrong: error outputs, widgets or outputs that failed to render, uncaught script
    errors, and plotly figures with no trace drawn (or fewer figures drawn than the notebook displayed)."""
    found = page.evaluate("""() => {
        const text = el => el.innerText.trim().slice(0, 300);
        const errors = [...document.querySelectorAll('.jp-Notebook [data-mime-type="application/vnd.jupyter.error"]')].map(text);
        const broken = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')]
            .filter(o => /Error displaying widget|Error rendering output item|Could not render content/.test(o.innerText)).map(text);
        const shown = document.querySelectorAll('.jp-Notebook [data-mime-type="application/vnd.plotly.v1+json"]').length;
        const figures = [...document.querySelectorAll('.jp-Notebook .js-plotly-plot')];
        const empty = figures.filter(gd => !(gd.data || []).length || !gd.querySelector('g.trace, g.hm, g.table, .imagelayer image'))
            .map(gd => gd.querySelector('.gtitle')?.textContent || '(untitled figure)');
        return {errors, broken, shown, figures: figures.length, empty};
    }""")
    problems = [f"error output: {e}" for e in found["errors"]] + [f"not rendered: {b}" for b in found["broken"]]
    problems += [f"figure with no trace drawn: {title}" for title in found["empty"]]
    if found["figures"] < found["shown"] or not found["figures"]:
        problems.append(f"{found['figures']} figures drawn of {found['shown']} displayed")
    return problems + [f"page error: {e}" for e in page.errors]


def test_notebook_0_runs_in_jupyterlab_and_the_picker_saves_the_student(lab, page):
    seconds = _run_all(page, _serve_notebook(lab, "00_students", SMOKE), timeout_s=float(os.environ.get("WELLREAD_BROWSER_TIMEOUT", 300)))
    assert not _problems(page), _problems(page)
    saved = lab.runs / "student.json"
    assert json.loads(saved.read_text())["student"] == "L2/H128"  # STUDENT="tiny" was saved by Run All
    picker = page.locator(".jp-Notebook .widget-gridbox")
    picker.locator("button", has_text="L4/H256").click()  # BERT-Mini
    page.wait_for_function("() => /saved to .*student\\.json/.test(document.querySelector('.jp-Notebook').innerText)",
                           timeout=30_000)
    assert json.loads(saved.read_text())["student"] == "L4/H256", "the click reached the kernel and was saved"
    assert "mod-active" in picker.locator("button", has_text="L4/H256").get_attribute("class")
    assert "mod-active" not in picker.locator("button", has_text="L2/H128").get_attribute("class")
    print(f"\nnotebook 0 in the browser: Run All {seconds:.0f} s")


def test_notebook_4_runs_in_jupyterlab_and_the_pretrained_picker_reaches_the_kernel(lab, page):
    seconds = _run_all(page, _serve_notebook(lab, "04_pretrained_distillation", NOTEBOOK_4), timeout_s=480)
    assert not _problems(page), _problems(page)
    cell = page.locator(".jp-Notebook .jp-CodeCell").filter(
        has=page.locator(".widget-toggle-buttons", has_text="pre-trained"))
    controls = cell.locator(".jupyter-widgets.widget-vbox").first
    picker = controls.locator(".widget-toggle-buttons").filter(has_text="pre-trained")
    picker.get_by_role("button", name="minilm", exact=True).click()
    assert "mod-active" in picker.get_by_role("button", name="minilm", exact=True).get_attribute("class")
    assert "mod-active" in controls.get_by_role("button", name="smoke", exact=True).get_attribute("class")
    started = time.time()
    cell.locator("button.mod-primary", has_text="Run").click()  # its icon is part of its accessible name  # runs PD from MiniLM's layers at the smoke budget
    row = cell.locator(".widget-output table tbody tr")
    row.first.wait_for(timeout=240_000)
    shown = row.first.inner_text()
    assert "minilm" in shown and "L2/H384" in shown, f"the run used the picked start: {shown}"
    assert not _problems(page), _problems(page)
    print(f"\nnotebook 4 in the browser: Run All {seconds:.0f} s, the picked run {time.time() - started:.0f} s")


# --------------------------------------------------------------------------------------------- the book

@pytest.fixture(scope="module")
def book():
    """build/book/ served on a free 127.0.0.1 port (as a static host would)."""
    if not (BOOK / "index.html").exists():
        pytest.skip("no build/book (`make book` builds it from a tour): the book's pages are not checked")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), partial(Quiet, directory=str(BOOK)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_every_book_page_loads_with_its_figures_and_links(book, page):
    # index.html only redirects to the front page (the README)
    assert "url=README.html" in page.request.get(urljoin(book, "index.html")).text()
    pages, todo, links, ids, problems = set(), [urljoin(book, "README.html")], [], {}, []
    while todo:
        url = todo.pop()
        if url in pages:
            continue
        pages.add(url)
        response = page.goto(url)
        if not response or not response.ok:
            problems.append(f"{url}: HTTP {response.status if response else 'no response'}")
            continue
        path = urlparse(page.url).path
        page.wait_for_load_state("load")
        found = page.evaluate("""() => ({
            ids: [...document.querySelectorAll('[id]')].map(e => e.id),
            links: [...document.querySelectorAll('a[href]')].map(a => a.href),
            figures: [...document.querySelectorAll('.js-plotly-plot')].map(gd =>
                [gd.id, (gd.data || []).length, !!gd.querySelector('g.trace, g.hm, g.table, .imagelayer image')]),
            plotly: document.querySelectorAll('.plotly-graph-div').length,
        })""")
        ids[path] = set(found["ids"])
        problems += [f"{path}: figure {f[0]} has no trace drawn" for f in found["figures"] if not (f[1] and f[2])]
        if len(found["figures"]) < found["plotly"]:
            problems.append(f"{path}: {len(found['figures'])} of {found['plotly']} figures drawn")
        problems += [f"{path}: page error {e}" for e in page.errors]
        page.errors.clear()
        for link in found["links"]:
            target, fragment = urldefrag(link)
            if not target.startswith(book):
                continue  # GitHub, Binder, Colab, the paper: not this site's
            links.append((path, target, fragment))
            if target.endswith(".html") or target.endswith("/"):
                todo.append(target)
    for source, target, fragment in links:  # every internal link: its page exists, its anchor is on it
        path = urlparse(target).path
        if path not in ids:
            status = page.request.get(target).status
            if status != 200:
                problems.append(f"{source} links to {path}: HTTP {status}")
        elif fragment and fragment not in ids[path]:
            problems.append(f"{source} links to {path}#{fragment}: no such anchor")
    assert not sorted(set(problems)), sorted(set(problems))
    lessons = [p for p in ids if "/notebooks/" in p]
    assert len(lessons) >= 6 and any(p.endswith("/docs/results.html") for p in ids), sorted(ids)
    # the reading curve as a reader first sees it, for docs/ (small: a viewport, not the whole page)
    page.goto(urljoin(book, "docs/results.html"))
    page.evaluate("document.getElementById('the-reading-curve').scrollIntoView()")
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size < 300_000
    print(f"\nbook: {len(ids)} pages, {len(lessons)} lessons, {len(links)} internal links checked")
