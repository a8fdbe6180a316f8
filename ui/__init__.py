"""Streamlit-dependent helpers shared by the pages: cached loaders, session state, layout.

Everything here is a thin layer over ``fmnist_core`` (which knows nothing of Streamlit).
Heavy imports (TensorFlow, Keras) happen only inside the functions that need them, so a
page that does not classify or train opens without loading TensorFlow.
"""

# Import pandas completely before any page runs. Plotly looks pandas up in sys.modules without
# importing it; while another session's thread (or TensorFlow, lazily) is still importing it, that
# finds a half-initialised module ("partially initialized module 'pandas' has no attribute
# 'Series'"). Pages opened by a direct link can run before app.py's own import of it.
import pandas  # noqa: F401
