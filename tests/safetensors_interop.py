"""kiln <-> reference safetensors implementation, both directions.

usage: python safetensors_interop.py TOOL WORKDIR
TOOL is safetensors_interop_tool (C++); this side uses the `safetensors` package.
"""
import os
import subprocess
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file


def expected():
    # Mirrors expected() in safetensors_interop_tool.cpp.
    return {
        "a": (np.arange(12, dtype=np.float32) * np.float32(0.5) - np.float32(1.0)).reshape(3, 4),
        "b": np.array([1.5, -2.25, 1e-300], dtype=np.float64),
        "c": np.array([1, -1, 1 << 40], dtype=np.int64),
        "d": np.array([[7, -8], [9, 2147483647]], dtype=np.int32),
        "e": np.array([0, 128, 255], dtype=np.uint8),
    }


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    passed = failed = 0

    # kiln writes, Python reads.
    path = os.path.join(work, "from_kiln.safetensors")
    subprocess.run([tool, "write", path], check=True)
    loaded = load_file(path)
    for name, want in expected().items():
        got = loaded.get(name)
        ok = got is not None and got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
        print(f"kiln -> python  {name}: {'ok' if ok else 'MISMATCH'}")
        passed, failed = passed + ok, failed + (not ok)
    with safe_open(path, framework="numpy") as f:
        ok = f.metadata() == {"source": "kiln"} and set(f.keys()) == set(expected())
    print(f"kiln -> python  metadata and keys: {'ok' if ok else 'MISMATCH'}")
    passed, failed = passed + ok, failed + (not ok)

    # Python writes, kiln reads.
    path = os.path.join(work, "from_python.safetensors")
    save_file(expected(), path, metadata={"source": "python"})
    ok = subprocess.run([tool, "check", path]).returncode == 0
    print(f"python -> kiln  all tensors and metadata: {'ok' if ok else 'MISMATCH'}")
    passed, failed = passed + ok, failed + (not ok)

    print(f"safetensors interop: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
