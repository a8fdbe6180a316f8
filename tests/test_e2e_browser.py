"""End-to-end tests in a real browser (issue #3 item 8): `streamlit run app.py` driven by Chromium.

One server per module, with its own runs folder. Before it starts, the fixture makes sure the
app has an active model: the shipped default (fmnist_core/pretrained/default) when present,
otherwise a copy of conftest's small trained run (1 epoch seed_cnn on 2,000 images). Every
action is followed by waiting for the app to settle (connected, no script running, no running
indicator, no loading skeletons) and for the text the action should produce; nothing sleeps
for a fixed time.

Screenshots of every page (1400x900 viewport, whole page, palette PNGs) go to a temporary folder;
`pytest tests/test_e2e_browser.py --screenshots` writes them to docs/screenshots/<page>.png for the README
instead (the only way a test run may change a tracked file).

Needs Chromium at /usr/bin/chromium (or $FMNIST_CHROMIUM): skipped without it, failed under CI=true.
"""

from __future__ import annotations

import io
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.app_models import SampleImage, app_store, ensure_active_model, pick_samples, pick_two_samples
from devtools.browser import (
    ERROR_BOX,
    EXCEPTION,
    FILE_INPUT,
    FINISHED_PATTERN,
    PREDICTION_IS_JS,
    PREDICTION_JS,
    QUEUE_HEADING,
    SETTLED_JS,
    SUBMITTED_PATTERN,
    VIEWPORT,
    AppServer,
    browser_unavailable_reason,
    launch_kwargs,
    server_exceptions,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PROJECT_DIR = Path(__file__).resolve().parent.parent
README_SCREENSHOT_DIR = PROJECT_DIR / "docs" / "screenshots"
TIMEOUT_MS = 60_000
#: The in-app training run: 1 epoch of the seed preset (seed_cnn) on a 2,000-image subset, through the engine.
TRAIN_IMAGES = 2000
TRAINING_TIMEOUT_MS = 240_000  # Ray's start (15-30 s) + about 40 s on 2 idle cores; generous for a shared machine


@dataclass(frozen=True)
class PageSpec:
    nav_label: str  # the sidebar link text (st.Page title in app.py)
    title: str  # the page's h1
    screenshot: str
    key_texts: tuple[str, ...]  # visible texts that show the page's main content rendered
    charts: int = 0  # at least this many Plotly charts


PAGES = (
    PageSpec("Home", "Fashion-MNIST Studio", "home", ("The dataset", "Active model", "Where to go")),
    PageSpec("Data explorer", "Data explorer", "data_explorer", ("Images per class",), charts=2),
    PageSpec("Augmentation lab", "Augmentation lab", "augmentation_lab", ("Use these settings for training",),
             charts=1),
    PageSpec("Training", "Training", "training", ("New training run", "Start training", "Load a saved run")),
    PageSpec("Predictions", "Predictions", "predictions", ("Test accuracy", "Confusion matrix"), charts=1),
    PageSpec("Classify", "Classify", "classify", ("Draw", "Upload")),
    PageSpec("Sweeps", "Sweeps", "sweeps", ("Start a sweep",)),  # the empty state's link (no sweep in this test)
    PageSpec("Build a network", "Build a network", "builder", ("Start from", "Shapes and cost")),
    PageSpec("Inside the model", "Inside the model", "inside_model", ("Layers", "Feature maps"), charts=2),
)


# ---------------------------------------------------------------- fixtures
def _require_browser() -> None:
    reason = browser_unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run under CI: {reason}")
        pytest.skip(reason)


@dataclass
class App:
    server: AppServer
    run_id: str
    upload: SampleImage


@pytest.fixture(scope="module")
def app(tmp_path_factory, request):
    _require_browser()
    work = tmp_path_factory.mktemp("e2e")
    runs = work / "runs"
    copy_from = None
    if app_store(runs).default_active_run() is None:  # no shipped default: reuse conftest's trained run
        store, run_id = request.getfixturevalue("trained_run")
        copy_from = store.root / run_id
    run = ensure_active_model(runs, copy_run_from=copy_from)
    # A real Trouser, if this model gets one right with a margin (a tiny model may not): else another class.
    found = pick_samples(run, ("Trouser",), work / "samples") or pick_two_samples(run, work / "samples")
    server = AppServer(runs, log_path=work / "streamlit.log").start()
    try:
        yield App(server, run.run_id, found[0])
    finally:
        server.stop()
        # The training engine the app started outlives the server on purpose (jobs survive a restart).
        from fmnist_core.engine import Engine, EngineSettings

        assert Engine(EngineSettings(runs_root=runs)).shutdown(timeout=90), "the training engine did not stop"
        logged = server_exceptions(server.log_tail(5_000_000))
        assert not logged, f"the server logged exceptions: {logged}"


@pytest.fixture(scope="module")
def shots(request, tmp_path_factory) -> Path:
    """Where screenshots go: docs/screenshots with --screenshots, else a temporary folder."""
    if request.config.getoption("--screenshots"):
        return README_SCREENSHOT_DIR
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser(app):
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(**launch_kwargs())
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()


@pytest.fixture
def page(browser, app):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    page.goto(app.server.url)
    settle(page)
    try:
        yield page
        assert not js_errors, f"JavaScript errors in the page: {js_errors}"
    finally:
        context.close()


#: JavaScript: texts on the page that are cut off (an ellipsis or a scroll bar) in metrics and code blocks.
CUT_OFF_JS = """() => [...document.querySelectorAll(
    '[data-testid="stMain"] [data-testid="stMetricValue"] *, [data-testid="stMain"] [data-testid="stMetricLabel"] *, '
    + '[data-testid="stMain"] [data-testid="stCode"] pre')]
  .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
  .map(e => e.textContent.trim().slice(0, 80))"""


def page_spec(nav_label: str) -> PageSpec:
    """The page with this sidebar label (not a position: pages get added)."""
    return next(spec for spec in PAGES if spec.nav_label == nav_label)


# ---------------------------------------------------------------- helpers
def settle(page, timeout_ms: float = TIMEOUT_MS) -> None:
    """Wait until the app is connected, idle, and has no loading skeletons (Streamlit's e2e habit)."""
    page.wait_for_function(SETTLED_JS, polling=100, timeout=timeout_ms)


def assert_no_errors(page, where: str) -> None:
    exceptions = page.locator(EXCEPTION)
    assert exceptions.count() == 0, f"{where}: exception shown: {exceptions.first.inner_text()[:500]}"
    errors = page.locator(ERROR_BOX)
    assert errors.count() == 0, f"{where}: error box shown: {errors.first.inner_text()[:500]}"


def open_page(page, spec: PageSpec) -> None:
    """Click the page's sidebar link and wait for its title and content."""
    nav = page.locator('[data-testid="stSidebarNav"]')
    link = nav.locator('[data-testid="stSidebarNavLink"]').filter(
        has=page.get_by_text(spec.nav_label, exact=True))
    if link.count() == 0:
        shown = nav.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()
        pytest.fail(
            f"no sidebar link {spec.nav_label!r}; the sidebar shows {shown}. If it lists file names "
            "('app', 'data explorer', ...) Streamlit ran in pages/-folder mode and never ran app.py: "
            "a folder named pages/ beside app.py makes Streamlit ignore st.navigation. Rename it "
            "and keep the paths in ui/navigation.py."
        )
    link.click()
    page.get_by_role("heading", level=1).filter(has_text=spec.title).wait_for()
    settle(page)
    for text in spec.key_texts:
        page.get_by_text(text, exact=True).first.wait_for()
    if spec.charts:
        page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').nth(spec.charts - 1).wait_for()
    settle(page)


def screenshot(page, folder: Path, name: str) -> Path:
    """The whole page (the app scrolls inside its main area, so the viewport grows to fit), as a small PNG."""
    from PIL import Image

    height = page.evaluate(
        """() => Math.max(...['[data-testid="stMain"]', '[data-testid="stAppViewContainer"]', 'body']
              .map(s => document.querySelector(s)).filter(Boolean).map(e => e.scrollHeight))"""
    )
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max(int(height), VIEWPORT["height"]), 5000)})
    try:
        settle(page)
        png = page.screenshot(full_page=True, animations="disabled", caret="hide")
    finally:
        page.set_viewport_size(VIEWPORT)
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    image.save(path, format="PNG", optimize=True)
    return path


# Name, axis and point count of each trace of the Plotly graph div `gd` (JavaScript, read by both helpers).
_TRACES_JS = "gd.data.map(t => ({name: t.name || '', xaxis: t.xaxis || 'x', points: (t.x || t.y || []).length}))"


def plotly_traces(chart, timeout_s: float = TIMEOUT_MS / 1000) -> list[dict]:
    """Name and point count of every trace of a Plotly chart element (read from the graph div's data).

    A chart the page is still drawing can have its div without its data for a moment, so this asks again
    until the data is there (live charts: live_traces).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        traces = chart.locator(".js-plotly-plot").evaluate(f"gd => Array.isArray(gd.data) ? {_TRACES_JS} : null")
        if traces is not None:
            return traces
        if time.monotonic() > deadline:
            raise AssertionError(f"the chart's Plotly div had no data for {timeout_s:g} s")
        time.sleep(0.1)


# The traces of the Plotly chart inside the expander titled `title`, once one is named `name`: checked in the
# page every 50 ms, so a live chart is read while it is drawn, whatever the reruns.
_LIVE_TRACES_JS = """([title, name]) => {
  for (const expander of document.querySelectorAll('[data-testid="stExpander"]')) {
    if (!expander.innerText.includes(title)) continue;
    const gd = expander.querySelector('.js-plotly-plot');
    if (!gd || !Array.isArray(gd.data) || !gd.data.some(t => t.name === name)) continue;
    return """ + _TRACES_JS + """;
  }
  return null;
}"""


def live_traces(page, title: str, name: str, timeout_ms: int) -> list[dict]:
    """The traces of a live chart (the running job's curves) as soon as it shows a trace called `name`.

    The running job's chart lives for as long as the job runs, a few seconds in these tests, and each rerun
    redraws it: reading it from Python (find the div, then evaluate it) once caught it without its data
    ("Cannot read properties of undefined (reading 'map')"), and the test failed again in the next full run.
    This waits inside the page instead, where finding the chart and reading it happen in one step.
    """
    return page.wait_for_function(_LIVE_TRACES_JS, arg=[title, name], polling=50, timeout=timeout_ms).json_value()


# ---------------------------------------------------------------- tests
def test_a_deep_link_as_the_first_visit_gets_the_whole_app(app, browser):
    """The server's very first session opens /classify directly (a bookmark, or a tab reconnecting after
    a restart): it must still get app.py's navigation, sidebar and page, not a bare page script."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{app.server.url}/classify")
        page.get_by_role("heading", level=1).filter(has_text="Classify").wait_for()
        settle(page)
        links = [" ".join(t.split()) for t in page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()]
        assert all(any(link.endswith(spec.nav_label) for link in links) for spec in PAGES), (
            f"the sidebar shows {links}: Streamlit ran the page file on its own (its legacy pages/-folder mode), "
            "not through app.py's st.navigation"
        )
        assert page.locator('[data-testid="stSidebar"]').get_by_text("Active model").count() == 1
        assert_no_errors(page, "Classify opened by its URL")
    finally:
        context.close()


def test_every_page_opens_from_the_sidebar(app, page, shots):
    for spec in PAGES:
        open_page(page, spec)
        assert_no_errors(page, spec.nav_label)
        if spec.nav_label == "Home":
            page.get_by_text(app.run_id).first.wait_for()  # the active model's card
        path = screenshot(page, shots, spec.screenshot)
        assert path.stat().st_size < 1_500_000, f"{path} is {path.stat().st_size} bytes"
    assert page.locator('[data-testid="stSidebar"]').get_by_text("Active model").count() == 1


def test_home_shows_its_metrics_and_command_whole_and_a_local_tab_icon(app, page):
    open_page(page, page_spec("Home"))
    page.get_by_text(app.run_id).first.wait_for()
    cut = page.evaluate(CUT_OFF_JS)
    assert cut == [], f"text cut off on Home: {cut}"
    icon = page.evaluate("() => [...document.querySelectorAll('link[rel~=\"icon\"]')].map(l => l.href)")
    assert icon, "no tab icon"
    assert all(href.startswith((app.server.url, "data:")) for href in icon), f"the tab icon is fetched from {icon}"


def test_home_loads_the_chart_code_in_the_background_before_any_chart_page(app, page):
    """ui/chart_preload.py: Home shows no Plotly chart, yet once it is idle the browser has fetched and
    evaluated Streamlit's Plotly chunk, so the first page with a chart does not pay for it (issue #11 item 7)."""
    from ui.chart_preload import plotly_chunk_name

    chunk = plotly_chunk_name()
    assert chunk, "the installed Streamlit's Plotly chunk was not found: ui/chart_preload.py needs a look"
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 0  # Home itself draws no chart
    page.wait_for_function("() => window.__fmnistChartPreload instanceof Promise", timeout=TIMEOUT_MS)
    page.wait_for_function(
        "(chunk) => performance.getEntriesByType('resource').some(e => e.name.endsWith('/' + chunk))",
        arg=chunk, timeout=TIMEOUT_MS)
    assert page.evaluate("async () => await window.__fmnistChartPreload") is True, "the chunk failed to evaluate"


def test_the_draw_tab_gives_the_probability_chart_room(app, page):
    open_page(page, page_spec("Classify"))
    canvas = page.locator('[data-testid="stBidiComponentIsolated"] canvas').last  # fabric.js's top canvas
    canvas.wait_for()
    box = canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.3, box["y"] + 60
    page.mouse.move(x0, y0)
    page.mouse.down()
    for step in range(1, 21):  # a thick vertical stroke and a bar: something to classify
        page.mouse.move(x0 + 4 * (step % 5), y0 + 9 * step, steps=2)
    page.mouse.move(x0 + 80, y0 + 180, steps=10)
    page.mouse.up()
    page.wait_for_function(PREDICTION_JS, polling=100, timeout=TIMEOUT_MS)  # beside the canvas it was ~300 px
    settle(page)
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.wait_for()
    width = chart.bounding_box()["width"]
    assert width >= 400, f"the probability chart is {width:.0f} px wide on a {VIEWPORT['width']} px page"


def test_classify_an_uploaded_image(app, page, shots):
    open_page(page, page_spec("Classify"))
    page.get_by_role("tab", name="Upload").click()
    page.locator(FILE_INPUT).set_input_files(str(app.upload.path))
    page.wait_for_function(PREDICTION_IS_JS, arg=app.upload.expected_text, polling=100, timeout=TIMEOUT_MS)
    settle(page)
    assert page.evaluate(PREDICTION_JS) == f"Prediction: {app.upload.label}"
    page.get_by_text("Confidence").first.wait_for()
    page.get_by_text("What the model sees (28×28)").wait_for()
    assert page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').count() >= 1  # the probability bars
    assert_no_errors(page, "Classify after an upload")
    screenshot(page, shots, "classify")


def test_training_one_epoch_goes_through_the_engine_queue_and_adds_a_run(app, page, shots):
    """Start queues a job; the real engine (a Ray driver started by the app) trains it in a worker
    process; the queue panel shows it queued or running with its live curve, then finished; the run
    is listed with one point per series."""
    from fmnist_core.engine import Engine, EngineSettings

    open_page(page, page_spec("Training"))
    page.get_by_role("heading", name=QUEUE_HEADING).wait_for()
    # The seed report's preset (its button is "Seed", or "Report" once renamed): its architecture has no
    # batch norm, so a 1-epoch run on a subset is sensible, and the screenshot shows a consistent form.
    preset = page.locator('[data-testid="stButtonGroup"]').get_by_role("radio", name=re.compile(r"^(Seed|Report)$"))
    preset.click()
    from playwright.sync_api import expect

    expect(page.get_by_role("combobox", name="Architecture")).to_have_value("Seed report CNN", timeout=TIMEOUT_MS)
    settle(page)
    _fill_number(page, "Epochs", 1)
    subset = page.locator('[data-testid="stCheckbox"]').filter(has_text="Train on a subset")
    if not subset.locator('input[type="checkbox"]').is_checked():
        subset.locator("label").click()
        settle(page)
    _fill_number(page, "Training images", TRAIN_IMAGES)
    assert subset.locator('input[type="checkbox"]').is_checked()

    page.get_by_role("button", name="Start training").click()
    submitted = page.get_by_text(SUBMITTED_PATTERN).first
    submitted.wait_for()
    job_id = SUBMITTED_PATTERN.search(submitted.inner_text()).group(1)
    # Queued (the engine is still starting Ray) or already training: either way the row is this session's.
    mine = page.get_by_text(re.compile(r"(#\d+ in the queue|^Training \S+) · .* · by you$")).first
    mine.wait_for()
    assert "seed_cnn · 1 ep" in mine.inner_text() and f"{TRAIN_IMAGES:,} images" in mine.inner_text()
    # Starting another job stays possible: it would queue behind this one.
    assert page.get_by_role("button", name="Start training").is_enabled()

    page.get_by_text(re.compile(r"Epoch 1 of 1 · batch \d+ of \d+")).first.wait_for(timeout=TRAINING_TIMEOUT_MS)
    # The live curve of the running job: the worker's running batch points, drawn from the first batches on.
    traces = live_traces(page, "Curves so far", "Train (running)", TRAINING_TIMEOUT_MS)
    running = [t for t in traces if t["name"] == "Train (running)"]
    assert running and all(t["points"] >= 1 for t in running), traces

    finished = page.get_by_text(FINISHED_PATTERN).first
    finished.wait_for(timeout=TRAINING_TIMEOUT_MS)
    assert FINISHED_PATTERN.search(finished.inner_text()).groups() == (job_id, "completed"), finished.inner_text()
    settle(page)
    assert_no_errors(page, "Training after the run")

    # The job ran in an engine worker, not in the web server's process.
    job = Engine(EngineSettings(runs_root=app.server.runs_dir)).get(job_id)
    run_id = job.state.run_id
    assert run_id and run_id != app.run_id
    assert job.state.pid and job.state.pid != app.server.process.pid

    # The run is saved and listed, and Compare (which adds new runs to its selection) draws its one epoch.
    options = _select_options(page, "Saved run")
    assert any(run_id in o and "completed, 1/1 epochs" in o for o in options), options
    compare = page.locator(
        'xpath=//div[@data-testid="stPlotlyChart"]'
        '[preceding::*[@data-testid="stHeading"][contains(normalize-space(.), "Compare runs")]]'
    ).first
    compare.locator(".js-plotly-plot").wait_for()
    new_run = [t for t in plotly_traces(compare) if t["name"] == run_id]
    assert new_run and all(t["points"] == 1 for t in new_run), plotly_traces(compare)
    screenshot(page, shots, "training")


def _open_select(page, label: str):
    """Open a selectbox's list. It is scrolled to the middle first: its popover closes when the page scrolls."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text(label, exact=True))
    box.evaluate("e => e.scrollIntoView({block: 'center'})")
    box.get_by_role("button", name="Open").click()
    try:
        page.get_by_role("option").first.wait_for(timeout=5000)
    except Exception:  # noqa: BLE001 - fall back to the keyboard
        box.get_by_role("combobox").focus()
        box.get_by_role("combobox").press("ArrowDown")
        page.get_by_role("option").first.wait_for()
    return box


def _select_options(page, label: str) -> list[str]:
    """The option texts of a selectbox (its list opened, then closed again with Escape)."""
    _open_select(page, label)
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return options


def _fill_number(page, label: str, value: int) -> None:
    # A number input: the sweep form's text field of the same name ("Epochs") is not this one.
    box = page.locator('[data-testid="stNumberInput"]').get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    settle(page)
    assert box.input_value() == str(value)
