"""Run Cobrawap's Horn–Schunck on saved phase frames (called by bench_flow.py).

Runs inside the Cobrawap virtual environment, never in wavescope's: it imports the
``horn_schunck`` function of Cobrawap's stage-04 script ``optical_flow.py`` from the
installed package, applies it to the frames in ``IN.npy`` (phases in radians, shape
(time, y, x)) and writes the complex flow ``vx + i vy`` (shape (time - 1, y, x)) to
``OUT.npy``, then prints the CPU seconds it took as JSON.

Usage: python _cobrawap_hs.py IN.npy OUT.npy ALPHA MAX_ITER TOL KERNEL
"""

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def main():
    src, dst, alpha, max_iter, tol, kernel_name = sys.argv[1:7]
    spec = importlib.util.find_spec("cobrawap")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("cobrawap is not installed in this interpreter")
    pipeline = Path(list(spec.submodule_search_locations)[0]) / "pipeline"
    # The stage scripts import their helpers as the top-level package ``utils``.
    sys.path[:0] = [str(pipeline), str(pipeline / "stage04_wave_detection" / "scripts")]
    import optical_flow as cobrawap_flow  # noqa: PLC0415 (path set just above)
    from utils.convolve import get_kernel  # noqa: PLC0415

    frames = np.load(src)
    kernel = get_kernel(kernel_name)
    kernel_hs = np.array([[1, 2, 1], [2, 0, 2], [1, 2, 1]], dtype=float) / 12
    kernel_t = np.ones_like(kernel.x) / kernel.x.size  # as in Cobrawap's __main__
    start = time.process_time()
    flow = cobrawap_flow.horn_schunck(
        frames=frames.copy(), alpha=float(alpha), max_Niter=int(max_iter),
        convergence_limit=float(tol), kernelHS=kernel_hs, kernelT=kernel_t,
        kernelX=kernel.x, kernelY=kernel.y, are_phases=True,
    )
    seconds = time.process_time() - start
    tmp = f"{dst}.tmp{os.getpid()}.npy"
    np.save(tmp, flow[:-1])  # the last frame has no successor and stays zero
    os.replace(tmp, dst)
    print(json.dumps({"seconds": seconds, "n_pairs": int(frames.shape[0] - 1)}))


if __name__ == "__main__":
    main()
