"""How much the sandboxed evaluator costs: start-up, per-job overhead, and two training programs.

Each program runs 30 times three ways: through the evaluator (a forked, isolated child of the warm
worker; the time is the whole `Evaluator.run` round trip), in this process (plain `exec`), and as a
fresh `python -c` process per run (imports included). Prints figures; asserts nothing.

    python benchmarks/bench_evaluator.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tutor.sandbox import Evaluator  # noqa: E402
from tutor.sandbox.client import worker_env  # noqa: E402

CSV = str(REPO / "datasets" / "linear_regression.csv")
DATA = {"X": {"csv": CSV, "column": "X"}, "y": {"csv": CSV, "column": "y"}}

NUMPY_PROGRAM = """
w, b = 0.0, 0.0
lr = 0.1
for epoch in range(1000):
    pred = w * X + b
    loss = np.mean((y - pred) ** 2)
    dw = -2 * np.mean((y - pred) * X)
    db = -2 * np.mean(y - pred)
    w -= lr * dw
    b -= lr * db
"""

TORCH_PROGRAM = """
Xt = torch.tensor(X, dtype=torch.float32).reshape(-1, 1)
yt = torch.tensor(y, dtype=torch.float32).reshape(-1, 1)
model = nn.Linear(1, 1)
optimizer = optim.SGD(model.parameters(), lr=0.1)
loss_fn = nn.MSELoss()
for epoch in range(1000):
    optimizer.zero_grad()
    loss = loss_fn(model(Xt), yt)
    loss.backward()
    optimizer.step()
"""


def stats(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return statistics.median(ordered), p95


def ms(x: float) -> str:
    return f"{x * 1000:8.1f} ms"


def job(source: str, names: list[str]) -> dict:
    return {"id": "bench", "source": source, "names": names, "data": DATA, "seed": 0, "timeout": 30.0}


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def in_process_namespace(names: list[str]) -> dict:
    import numpy as np

    ns: dict = {"np": np}
    if "torch" in names:
        import torch
        import torch.nn.functional as F
        from torch import nn, optim

        torch.set_num_threads(1)
        ns.update(torch=torch, nn=nn, optim=optim, F=F)
    table = np.loadtxt(CSV, delimiter=",", skiprows=1, ndmin=2)
    ns["X"], ns["y"] = np.ascontiguousarray(table[:, 0]), np.ascontiguousarray(table[:, 1])
    return ns


def fresh_process_code(source: str, names: list[str]) -> str:
    imports = "import numpy as np\n"
    if "torch" in names:
        imports += "import torch\nfrom torch import nn, optim\nimport torch.nn.functional as F\ntorch.set_num_threads(1)\n"
    load = f"t = np.loadtxt({CSV!r}, delimiter=',', skiprows=1, ndmin=2)\nX, y = t[:, 0].copy(), t[:, 1].copy()\n"
    return imports + load + source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    runs = args.runs
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {runs} runs each\n")

    for preload in (("numpy",), ("numpy", "torch")):
        ev = Evaluator(preload=preload)
        t = time.perf_counter()
        ev.start(wait=True)
        print(f"worker start-up ({'+'.join(preload)}, imports and warm-up): {ms(time.perf_counter() - t)}")
        if preload == ("numpy",):
            ev.close()
    print(f"isolation layers: {', '.join(ev.layers())}\n")

    empty = timed(lambda: ev.run([{"id": "e", "source": "pass", "names": ["np"], "timeout": 5.0}]), runs)
    med, p95 = stats(empty)
    print(f"per-job overhead (empty program, whole round trip): median {ms(med)}   p95 {ms(p95)}")
    walls = [ev.run([{"id": "e", "source": "pass", "names": ["np"], "timeout": 5.0}])[0].wall for _ in range(runs)]
    print(f"  of which fork-to-reap in the worker:               median {ms(statistics.median(walls))}\n")

    env = worker_env()
    header = f"{'program':<28}{'evaluator':>24}{'in-process':>24}{'ratio':>7}{'fresh python -c':>24}{'ratio':>7}"
    print(header)
    print("-" * len(header))
    for label, source, names in (
        ("numpy linreg, 1000 epochs", NUMPY_PROGRAM, ["np"]),
        ("torch nn.Linear, 1000 ep.", TORCH_PROGRAM, ["np", "torch", "nn", "optim", "F"]),
    ):
        j = job(source, names)
        outs = ev.run([j])
        assert outs[0].status == "ok" and outs[0].header["status"] == "ok", outs[0]
        sandboxed = timed(lambda: ev.run([j]), runs)

        ns = in_process_namespace(names)
        code = compile(source, "<bench>", "exec")
        exec(code, dict(ns))  # warm (first torch step)
        inproc = timed(lambda: exec(code, dict(ns)), runs)

        fresh_src = fresh_process_code(source, names)
        fresh = timed(lambda: subprocess.run([sys.executable, "-I", "-c", fresh_src], env=env, check=True), max(3, runs // 3))

        (s_med, s_p95), (i_med, i_p95), (f_med, f_p95) = stats(sandboxed), stats(inproc), stats(fresh)
        print(f"{label:<28}{ms(s_med):>12}{ms(s_p95):>12}{ms(i_med):>12}{ms(i_p95):>12}{s_med / i_med:>6.2f}x"
              f"{ms(f_med):>12}{ms(f_p95):>12}{s_med / f_med:>6.2f}x")
    print(f"\n(columns: median, p95; ratio = evaluator median / other median; fresh python -c: {max(3, runs // 3)} runs)")
    ev.close()


if __name__ == "__main__":
    main()
