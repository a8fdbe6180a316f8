"""Checks shared by the AppTest files: no exception or error box, and a Plotly chart's figure by key."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest


def no_errors(app: AppTest) -> None:
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]


def figure(app: AppTest, key: str) -> dict:
    """The Plotly figure (as JSON) of the st.plotly_chart with this key."""
    for chart in app.get("plotly_chart"):
        if chart.key == key or chart.proto.id.endswith(key):
            return json.loads(chart.proto.spec)
    raise AssertionError(f"no chart {key!r}; found {[c.key for c in app.get('plotly_chart')]}")
