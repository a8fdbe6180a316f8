"""fmnist-studio's engine: data, training, evaluation, inference and export, without Streamlit.

Importing it chooses TensorFlow's CPU kernels before TensorFlow is imported (fmnist_core.cpu_kernels).
"""

from .cpu_kernels import choose_cpu_kernels

choose_cpu_kernels()
