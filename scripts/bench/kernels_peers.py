"""Python peers of `blkrew bench kernels`: onnxruntime's MLAS dense GEMM and scipy.sparse CSR.

Run in the bench-only environment (scripts/bench-venv.sh) with a JSON list of cases:

    .venv-bench/bin/python scripts/bench/kernels_peers.py cases.json

Each case is {"id", "kind": "ort" | "csr", "m", "k", "n", "threads", "nnz" (csr), "seed",
"seconds", "cpu" (optional: 1-thread cases are pinned to it, as the kernel runner pins itself)}; the layer is Y[m, n] = W[m, k] X[k, n]. One JSON line per case on stdout, in order:
{"id", "median_s", "samples_s", "calls_per_sample", ...} or {"id", "error"}; a last line
{"versions": {...}}.

- ort: an ONNX MatMul with the weights as a constant initializer, run as the FC layer ONNX
  exports: Y^T[n, m] = X^T[n, k] W^T[k, m] (MLAS prepacks the constant B). Session with
  intra_op_num_threads = threads, inter 1, every graph optimization, no spinning with 2+ threads
  (spinning pool threads lose to other processes on a shared machine), IO binding on CPU arrays
  (the per-call overhead of Python and the session, ~5-20 us, is part of the time and matters
  only for the smallest shapes).
- csr: scipy.sparse.csr_matrix of m x k with exactly nnz non-zeros at seeded random (unstructured)
  positions, times a dense C-order X[k, n] (`A @ X`, scipy's single-threaded csr_matvecs).

Timing: calls per sample calibrated to >= 3 ms (at least one call), 15 samples (at least 3, fewer
when the case's `seconds` run out), the median of the per-call times.
"""

import json
import os
import sys
import time


def timeit(fn, seconds):
    for _ in range(2):
        fn()
    calls = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        dt = time.perf_counter() - t0
        if dt >= 0.003 or calls >= 1 << 20:
            break
        calls = max(calls + 1, int(calls * 0.0036 / max(dt, 1e-7)))
    samples = []
    deadline = time.perf_counter() + seconds
    while len(samples) < 15 and (len(samples) < 3 or time.perf_counter() < deadline):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t0) / calls)
    s = sorted(samples)
    n = len(s)
    med = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
    return {"median_s": med, "samples_s": samples, "calls_per_sample": calls}


def ort_case(c, np):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    m, k, n = c["m"], c["k"], c["n"]
    rng = np.random.default_rng(c.get("seed", 1))
    wt = rng.standard_normal((k, m), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "wt"], ["y"])], "fc",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, m])],
        [numpy_helper.from_array(wt, "wt")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 9)
    so = ort.SessionOptions()
    so.intra_op_num_threads = c["threads"]
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning pool threads lose to the other processes of a shared 2-core machine.
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if c["threads"] == 1 else "0")
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = rng.standard_normal((n, k), dtype=np.float32)
    y = np.empty((n, m), dtype=np.float32)
    io = sess.io_binding()
    io.bind_cpu_input("x", x)
    io.bind_output("y", "cpu", 0, np.float32, [n, m], y.ctypes.data)
    ref = x @ wt
    sess.run_with_iobinding(io)
    err = float(np.max(np.abs(y - ref)))
    out = timeit(lambda: sess.run_with_iobinding(io), c.get("seconds", 1.0))
    out["max_abs_err"] = err
    return out


def csr_case(c, np):
    import scipy.sparse as sp

    m, k, n, nnz = c["m"], c["k"], c["n"], c["nnz"]
    rng = np.random.default_rng(c.get("seed", 1))
    flat = rng.choice(m * k, size=nnz, replace=False)
    flat.sort()
    rows, cols = np.divmod(flat, k)
    vals = rng.standard_normal(nnz, dtype=np.float32)
    a = sp.csr_matrix((vals, (rows, cols)), shape=(m, k), dtype=np.float32)
    a.sort_indices()
    x = np.ascontiguousarray(rng.standard_normal((k, n), dtype=np.float32))
    if n == 1:
        x1 = x[:, 0].copy()
        fn = lambda: a @ x1  # noqa: E731
    else:
        fn = lambda: a @ x  # noqa: E731
    out = timeit(fn, c.get("seconds", 1.0))
    out["nnz"] = int(a.nnz)
    return out


def main():
    cases = json.load(open(sys.argv[1]))
    import numpy as np

    versions = {"numpy": np.__version__}
    for mod in ["onnxruntime", "scipy", "onnx"]:
        try:
            versions[mod] = __import__(mod).__version__
        except Exception as e:  # noqa: BLE001
            versions[mod] = f"unavailable: {e}"
    everywhere = os.sched_getaffinity(0)
    for c in cases:
        try:
            if c.get("cpu", -1) >= 0 and c["threads"] == 1:
                os.sched_setaffinity(0, {c["cpu"]})
            else:
                os.sched_setaffinity(0, everywhere)
            fn = {"ort": ort_case, "csr": csr_case}[c["kind"]]
            r = fn(c, np)
        except Exception as e:  # noqa: BLE001
            r = {"error": f"{type(e).__name__}: {e}"}
        r["id"] = c["id"]
        sys.stdout.write(json.dumps(r) + "\n")
        sys.stdout.flush()
    sys.stdout.write(json.dumps({"versions": versions}) + "\n")


if __name__ == "__main__":
    main()
