"""Inside the network: layer tables, activations, attributions, filters and one convolution, step by step.

Each module has one job and imports Keras/TensorFlow only where it needs them, so importing this
package is cheap. The Streamlit page, the CLI and the benchmark all call these functions.
"""
