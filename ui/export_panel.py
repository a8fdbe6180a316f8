"""Training page panel: download a saved run as Keras, LiteRT, int8 LiteRT, ONNX or SavedModel.

Converting takes seconds (TensorFlow's converters), so a format is prepared on request, zipped with
its README, cached per run checksum and format, and then offered by a download button.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import streamlit as st

from fmnist_core.export_formats import ExportFormat
from fmnist_core.runs import RunInfo

from .state import run_store

_LABELS: dict[ExportFormat, str] = {
    ExportFormat.KERAS: "Keras (.keras)",
    ExportFormat.LITERT: "LiteRT (.tflite, float32)",
    ExportFormat.LITERT_INT8: "LiteRT int8 (.tflite, 4x smaller)",
    ExportFormat.ONNX: "ONNX (.onnx)",
    ExportFormat.SAVED_MODEL: "TensorFlow SavedModel",
}
_PREPARED_KEY = "tr_export_prepared"


def zip_folder(folder: Path, prefix: str) -> bytes:
    """Every file under folder, stored under prefix/ in a zip archive (in memory)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{prefix}/{path.relative_to(folder)}")
    return buffer.getvalue()


@st.cache_data(show_spinner="Converting the model…", max_entries=6)
def _export_zip(run_id: str, model_sha256: str, fmt: str) -> tuple[bytes, str]:
    """(zip bytes, one-line summary) of a run exported in one format; model_sha256 keys the cache."""
    from fmnist_core.export_formats import export_run  # imports TensorFlow

    with tempfile.TemporaryDirectory() as folder:
        result = export_run(run_store(), run_id, ExportFormat(fmt), Path(folder))
        summary = f"{_LABELS[result.format]}: {result.path.name} + README.md"
        if result.test_accuracy is not None:
            summary += (f" · test accuracy {result.test_accuracy:.2%} (int8) vs "
                        f"{result.float_test_accuracy:.2%} (float32)")
        return zip_folder(Path(folder), f"{run_id}-{fmt}"), summary


def export_panel(run: RunInfo) -> None:
    """Format picker, a Prepare button, then the download button for the prepared zip."""
    if not run.has_model:
        return
    with st.expander("Download this model", icon=":material/download:"):
        fmt = ExportFormat(st.selectbox("Format", [f.value for f in ExportFormat],
                                        format_func=lambda value: _LABELS[ExportFormat(value)], key="tr_export_format"))
        key = (run.run_id, str(run.meta.get("model_sha256", "")), fmt.value)
        if st.button("Prepare download", key="tr_export_prepare"):
            st.session_state[_PREPARED_KEY] = key
        if st.session_state.get(_PREPARED_KEY) == key:
            data, summary = _export_zip(*key)
            st.caption(summary)
            st.download_button(f"Download {fmt.value} (.zip)", data, file_name=f"{run.run_id}-{fmt.value}.zip",
                               mime="application/zip", icon=":material/download:", key="tr_export_download")
        st.caption("Each download holds the model and a README with ten lines of Python that load it and "
                   "classify one image. The same from a terminal: "
                   f"`python -m fmnist_core export {run.run_id} --format {fmt.value} --out DIR`.")
