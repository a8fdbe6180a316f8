"""The overlays in a real browser: "look closer" on the Predictions gallery and Classify's upload both
draw a heatmap overlay and open "Inside the model" on that image, which draws all three overlays.

Uses test_e2e_browser's server, browser and page fixtures (one `streamlit run app.py` for this module).
"""

# ruff: noqa: F811 - pytest fixtures imported from test_e2e_browser are parameters by design
from __future__ import annotations

import pytest
from test_e2e_browser import (  # noqa: F401 - fixtures used by name
    FILE_INPUT,
    PAGES,
    PREDICTION_IS_JS,
    TIMEOUT_MS,
    app,
    assert_no_errors,
    browser,
    open_page,
    page,
    settle,
)

pytestmark = pytest.mark.browser
METHOD_CAPTIONS = ("Grad-CAM for ", "Saliency (SmoothGrad) for ", "Occlusion sensitivity for ")


def _spec(label: str):
    return next(spec for spec in PAGES if spec.nav_label == label)


def drawn_overlays(page, prefix: str) -> list[str]:
    """Captions of the images whose caption starts with prefix, once each image has really loaded."""
    images = page.locator('[data-testid="stImage"]').filter(has_text=prefix)
    images.first.wait_for()
    captions = []
    for i in range(images.count()):
        image = images.nth(i)
        img = image.locator("img").first
        img.wait_for()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle(),
                               timeout=TIMEOUT_MS)
        assert img.evaluate("img => img.naturalWidth") >= 200, "the 28x28 overlay is enlarged 8x"
        captions.append(image.inner_text())
    return captions


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    settle(page)


def assert_inside_model_draws_three_overlays(page) -> None:
    page.get_by_role("heading", level=1).filter(has_text="Inside the model").wait_for()
    settle(page)
    open_tab(page, "Where it looks")
    for prefix in METHOD_CAPTIONS:
        assert drawn_overlays(page, prefix), f"no {prefix!r} overlay"
    assert_no_errors(page, "Inside the model, Where it looks")


def test_look_closer_in_the_predictions_gallery(app, page):
    open_page(page, _spec("Predictions"))
    open_tab(page, "Gallery")
    page.get_by_text("Where the model looks").first.wait_for()
    assert drawn_overlays(page, "Grad-CAM for ")
    page.get_by_role("button", name="Look inside the model").click()
    assert_inside_model_draws_three_overlays(page)
    assert page.locator('[data-testid="stImage"]').filter(has_text="test image #").count() >= 1


def test_from_classify_upload(app, page):
    open_page(page, _spec("Classify"))
    page.get_by_role("tab", name="Upload").click()
    page.locator(FILE_INPUT).set_input_files(str(app.upload.path))
    page.wait_for_function(PREDICTION_IS_JS, arg=app.upload.expected_text, polling=100, timeout=TIMEOUT_MS)
    settle(page)
    assert drawn_overlays(page, "Grad-CAM for ")
    page.get_by_role("button", name="Look inside the model").click()
    assert_inside_model_draws_three_overlays(page)
    assert page.locator('[data-testid="stImage"]').filter(has_text=app.upload.path.name).count() == 1
