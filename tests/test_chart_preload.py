"""ui/chart_preload.py: the Plotly chunk's name is found for the pinned Streamlit, and the script is safe."""

from __future__ import annotations

import pytest

from ui.chart_preload import CHECKED_VERSIONS, plotly_chunk_name, preload_script


def test_the_pinned_streamlit_has_exactly_one_plotly_chunk():
    import streamlit

    assert streamlit.__version__.startswith(CHECKED_VERSIONS), (
        f"Streamlit {streamlit.__version__} is not among the versions ui/chart_preload.py was checked with: "
        "check its static/js folder still holds one PlotlyChart.<hash>.js, then add the version")
    name = plotly_chunk_name()
    assert name is not None and name.startswith("PlotlyChart.") and name.endswith(".js")


def test_an_unchecked_version_injects_nothing():
    assert plotly_chunk_name("0.99.0") is None


def test_the_script_imports_the_chunk_once_per_tab_when_idle():
    script = preload_script("PlotlyChart.abc123.js")
    assert script.startswith("<script>") and script.rstrip().endswith("</script>")
    assert "'PlotlyChart.abc123.js'" in script and "import(url)" in script
    assert "window.__fmnistChartPreload" in script and "requestIdleCallback" in script


@pytest.mark.parametrize("bad", ["../x.js", "a'b.js", 'a"b.js', "a\\\\b.js"])
def test_the_script_refuses_anything_but_a_file_name(bad):
    with pytest.raises(ValueError):
        preload_script(bad)
