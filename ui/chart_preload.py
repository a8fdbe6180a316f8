"""Load Plotly's browser code while the user reads the first page, so the first page with a chart opens fast.

Streamlit's frontend loads its Plotly component (one 4.7 MB JavaScript chunk) only when a page first shows a
Plotly chart. Measured in Chromium on 2 cores (AMD EPYC, 2026-12-06), that cost the Data explorer's first
visit about 1.6 s of its 2.3 s: the page's script had finished after 0.37 s, then the main thread was busy
loading the chunk and drawing. There is no public API to preload it, so this module does the one thing
that works without patching Streamlit: `st.html` (public; `unsafe_allow_javascript`) runs a few lines in
the page that, once the browser is idle, import the same chunk URL the frontend's lazy import uses. The
browser keeps the evaluated module, and the first chart finds it already loaded.

What is not public is the chunk's file name (`static/js/PlotlyChart.<hash>.js` inside the installed
streamlit package). It is looked up once, only for the Streamlit versions this was checked with
(`CHECKED_VERSIONS`); for any other version, or when the file is not found, nothing is injected and the
app works as before (its first chart loads a little slower). A test fails when the pinned version's
chunk cannot be found, so an upgrade cannot silently undo this.
"""

from __future__ import annotations

import functools
from pathlib import Path

import streamlit as st

#: Streamlit versions whose static folder was checked to hold the chunk under this name pattern.
CHECKED_VERSIONS: tuple[str, ...] = ("1.67.",)
CHUNK_PATTERN = "PlotlyChart.*.js"

# Runs in the page (not an iframe). The entry module's URL gives the static folder, whatever the
# server's base path; a flag on window keeps it to one import per browser tab.
_SCRIPT = """<script>
(() => {
  if (window.__fmnistChartPreload) return;
  const entry = document.querySelector('script[type="module"][src*="/static/js/"]');
  if (!entry) return;
  const url = new URL(%r, entry.src).href;
  // Resolves to true once the module is evaluated, false if it could not be (nothing else changes then).
  const load = () => { window.__fmnistChartPreload = import(url).then(() => true, () => false); };
  window.__fmnistChartPreload = "waiting";
  if ("requestIdleCallback" in window) requestIdleCallback(load, {timeout: 4000}); else setTimeout(load, 1000);
})();
</script>"""


@functools.cache
def plotly_chunk_name(version: str | None = None) -> str | None:
    """The file name of Streamlit's Plotly chunk for the installed (checked) version, else None."""
    version = version or st.__version__
    if not version.startswith(CHECKED_VERSIONS):
        return None
    folder = Path(st.__file__).resolve().parent / "static" / "static" / "js"
    matches = sorted(folder.glob(CHUNK_PATTERN)) if folder.is_dir() else []
    return matches[0].name if len(matches) == 1 else None


def preload_script(chunk: str) -> str:
    """The HTML (one script) that imports `chunk`, a file name in Streamlit's static/js folder, when idle."""
    if "/" in chunk or "'" in chunk or '"' in chunk or "\\" in chunk:
        raise ValueError(f"not a plain file name: {chunk!r}")
    return _SCRIPT % chunk


def preload_chart_code() -> None:
    """Inject the preload into the sidebar (zero height there; every page has the sidebar)."""
    chunk = plotly_chunk_name()
    if chunk is not None:
        with st.sidebar:
            st.html(preload_script(chunk), unsafe_allow_javascript=True)
