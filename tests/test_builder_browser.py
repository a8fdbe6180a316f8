"""The builder in a real browser: build a small network, train it for one epoch on a subset from the
Training page, and find its run listed with the parameter count the builder showed."""

from __future__ import annotations

import os

import pytest

from devtools.browser import (
    FINISHED_PATTERN,
    SETTLED_JS,
    SUBMITTED_PATTERN,
    VIEWPORT,
    AppServer,
    browser_unavailable_reason,
    launch_kwargs,
    server_exceptions,
)
from fmnist_core.archspec import layer_table
from fmnist_core.archspec_store import run_architecture_spec
from fmnist_core.engine import Engine, EngineSettings
from fmnist_core.runs import RunStore

TIMEOUT_MS = 60_000
TRAINING_TIMEOUT_MS = 300_000
NAME = "browser_net"


def settle(page) -> None:
    # The rerun an edit or a click triggers starts a moment later: waiting for idle at once can pass before
    # it has begun, and the next edit then lands mid-rerun and is overwritten (Streamlit's own e2e helpers
    # also wait briefly before waiting for the app to finish).
    page.wait_for_timeout(300)
    page.wait_for_function(SETTLED_JS, polling=100, timeout=TIMEOUT_MS)


def fill(page, label: str, value, nth: int = 0) -> None:
    box = page.get_by_label(label, exact=True).nth(nth)
    box.fill(str(value))
    box.press("Enter")
    settle(page)
    assert box.input_value() == str(value)


def open_select(page, label: str):
    """Open a selectbox's list, scrolled to the middle first (its popover closes when the page scrolls),
    with the keyboard as a fallback (as tests/test_e2e_browser.py does)."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text(label, exact=True))
    box.evaluate("e => e.scrollIntoView({block: 'center'})")
    box.get_by_role("combobox").click()
    try:
        page.get_by_role("option").first.wait_for(timeout=5000)
    except Exception:  # noqa: BLE001 - fall back to the keyboard
        box.get_by_role("combobox").focus()
        box.get_by_role("combobox").press("ArrowDown")
        page.get_by_role("option").first.wait_for()
    return box


def options(page, label: str) -> list[str]:
    open_select(page, label)
    texts = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return texts


def choose(page, label: str, option: str) -> None:
    box = open_select(page, label)
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)
    assert box.get_by_role("combobox").input_value() == option


@pytest.mark.browser
@pytest.mark.slow
def test_build_train_and_find_the_run_with_its_parameter_count(tmp_path, real_data_folder):
    reason = browser_unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run under CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    runs = tmp_path / "runs"
    server = AppServer(runs, env={"FMNIST_PRETRAINED_DIR": "none", "FMNIST_DATA_DIR": str(real_data_folder)},
                       log_path=tmp_path / "streamlit.log").start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(**launch_kwargs())
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server.url}/builder")
            page.get_by_role("heading", level=1).filter(has_text="Build a network").wait_for()
            settle(page)
            # Build: the seed network with 8 and 16 filters, one more dropout at the end, a name of its own.
            fill(page, "Filters", 8, nth=0)
            fill(page, "Filters", 16, nth=1)
            choose(page, "Add a layer", "Dropout")
            page.get_by_role("button", name="Add", exact=True).click()
            settle(page)
            fill(page, "Name", NAME)
            total = page.locator('[data-testid="stMetric"]').filter(has_text="Parameters")
            # conv 8 (26x26), pool, conv 16 (11x11), pool -> 5x5x16 = 400 values, dense 128, output 10
            shown = (8 * 9 + 8) + (16 * 9 * 8 + 16) + (400 * 128 + 128) + (128 * 10 + 10)
            # The table follows each edit after a rerun: wait for it to show the network's total (it fails
            # after the timeout with the value it shows if it never does).
            expect(total.locator('[data-testid="stMetricValue"]')).to_have_text(f"{shown:,}", timeout=TIMEOUT_MS)
            page.get_by_role("button", name="Train this network").click()
            page.get_by_role("heading", level=1).filter(has_text="Training").wait_for()
            settle(page)
            page.get_by_text(f"Your network {NAME} from the builder is selected").wait_for()
            fill(page, "Epochs", 1)
            subset = page.locator('[data-testid="stCheckbox"]').filter(has_text="Train on a subset")
            if not subset.locator('input[type="checkbox"]').is_checked():
                subset.locator("label").click()
                settle(page)
            fill(page, "Training images", 1000)
            page.get_by_role("button", name="Start training").click()
            # Start queues a job for the training engine (a Ray driver the app starts); it trains in a worker.
            submitted = page.get_by_text(SUBMITTED_PATTERN).first
            submitted.wait_for()
            job_id = SUBMITTED_PATTERN.search(submitted.inner_text()).group(1)
            finished = page.get_by_text(FINISHED_PATTERN).first
            finished.wait_for(timeout=TRAINING_TIMEOUT_MS)
            assert FINISHED_PATTERN.search(finished.inner_text()).groups() == (job_id, "completed")
            settle(page)
            run_id = Engine(EngineSettings(runs_root=runs)).get(job_id).state.run_id
            assert run_id and NAME in run_id
            # The run is listed on the builder page with the parameter count the builder showed.
            page.goto(f"{server.url}/builder")
            page.get_by_role("heading", level=1).filter(has_text="Build a network").wait_for()
            settle(page)
            listed = options(page, "A built-in network, one you saved, or the network of a saved run")
            assert f"Run {run_id} · {shown:,} parameters" in listed, listed
            assert not errors, errors
            browser.close()
    finally:
        server.stop()
        assert Engine(EngineSettings(runs_root=runs)).shutdown(timeout=90), "the training engine did not stop"
    logged = server_exceptions(server.log_tail(5_000_000))
    assert not logged, f"the server logged exceptions: {logged}"
    run = RunStore(runs, pretrained_dir=None).get(run_id)
    assert run.status == "completed" and run.meta["model"]["parameters"] == shown
    assert layer_table(run_architecture_spec(run.meta)).parameters == shown
