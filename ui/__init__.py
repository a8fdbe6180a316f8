"""Streamlit-dependent helpers shared by the pages: cached loaders, session state, layout.

Everything here is a thin layer over ``fmnist_core`` (which knows nothing of Streamlit).
Heavy imports (TensorFlow, Keras) happen only inside the functions that need them, so a
page that does not classify or train opens without loading TensorFlow.
"""
