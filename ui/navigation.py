"""The app's pages, defined once: app.py builds the navigation, Home its links, every page its header.

Pure data (no Streamlit import), so tests and benchmarks can read it too. The page files live in
``views/`` rather than ``pages/``: a folder named ``pages/`` beside the entry script puts Streamlit in
its legacy multipage mode, which ignores ``st.navigation``.
"""

from __future__ import annotations

from dataclasses import dataclass

VIEWS_DIR = "views"


@dataclass(frozen=True)
class PageSpec:
    """One page: its key (used in links), file, title, icon, sidebar section and a line for Home."""

    key: str
    file: str
    title: str
    icon: str
    section: str
    description: str

    @property
    def path(self) -> str:
        return f"{VIEWS_DIR}/{self.file}"


PAGES: tuple[PageSpec, ...] = (
    PageSpec("home", "home.py", "Home", ":material/home:", "",
             "What the app does, the dataset and the active model."),
    PageSpec("data", "data_explorer.py", "Data explorer", ":material/grid_view:", "Data",
             "Browse the images by class, see the class balance and the average image."),
    PageSpec("augmentation", "augmentation_lab.py", "Augmentation lab", ":material/auto_fix_high:", "Data",
             "Try rotation, shifts, zoom, flips and erasing on one image, live."),
    PageSpec("training", "training.py", "Training", ":material/model_training:", "Model",
             "Train a model in the background, watch it learn, compare runs."),
    PageSpec("sweeps", "sweeps.py", "Sweeps", ":material/tune:", "Model",
             "Train several variations at once (Ray Tune, early stopping); compare the trials, open the best."),
    PageSpec("builder", "builder.py", "Build a network", ":material/account_tree:", "Model",
             "Compose a CNN layer by layer, see its shapes and cost live, then train it."),
    PageSpec("predictions", "predictions.py", "Predictions", ":material/fact_check:", "Model",
             "Confusion matrix, per-class scores and the mistakes, image by image."),
    PageSpec("classify", "classify.py", "Classify", ":material/draw:", "Model",
             "Draw a garment or upload a photo and see what the model says."),
    PageSpec("inside_model", "inside_model.py", "Inside the model", ":material/psychology:", "Model",
             "Each layer's feature maps, the learned filters and where the model looks, on any image."),
)
PAGES_BY_KEY: dict[str, PageSpec] = {page.key: page for page in PAGES}
PAGE_PATHS: dict[str, str] = {page.key: page.path for page in PAGES}
HOME_KEY = "home"


def page(key: str) -> PageSpec:
    """The page registered under ``key`` (KeyError names the known keys)."""
    try:
        return PAGES_BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown page {key!r}; known: {', '.join(PAGES_BY_KEY)}") from None
