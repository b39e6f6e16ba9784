"""Finding ONNX Runtime for the core: the shared library inside the installed `onnxruntime`
wheel (`onnxruntime/capi/libonnxruntime.so.<version>`), loaded once per process by the core
(`ort` with load-dynamic). Nothing is downloaded; a missing wheel or library is a typed
`OnnxRuntimeUnavailableError` naming where it looked.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from pycontrol._core import OnnxRuntimeUnavailableError, onnxruntime_path
from pycontrol._core import init_onnxruntime as _init


def find_onnxruntime_library() -> Path:
    """The wheel's `capi/libonnxruntime.so.*` ($ORT_DYLIB_PATH wins when set)."""
    env = os.environ.get("ORT_DYLIB_PATH")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise OnnxRuntimeUnavailableError(
            "ONNX Runtime unavailable: the onnxruntime package is not installed "
            "(looked at: importlib.util.find_spec('onnxruntime'))"
        )
    capi = Path(next(iter(spec.submodule_search_locations))) / "capi"
    found = sorted(capi.glob("libonnxruntime.so.*")) + sorted(capi.glob("libonnxruntime.*.dylib"))
    if not found:
        raise OnnxRuntimeUnavailableError(
            f"ONNX Runtime unavailable: no libonnxruntime.so.* (looked at: {capi})"
        )
    return found[-1]


def ensure_onnxruntime() -> str:
    """Loads the runtime into the core if nothing did yet; returns the library in use."""
    loaded = onnxruntime_path()
    if loaded is not None:
        return loaded
    return _init(str(find_onnxruntime_library()))
