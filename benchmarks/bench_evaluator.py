"""How much the sandboxed evaluator costs: the isolation layers, start-up, per-job overhead, two
training programs, and each lesson's answer-to-verdict latency, all in one run.

1. Child set-up: fork + every layer + exit, timed in this process (numpy and torch loaded, like the
   worker), against fork + exit with no layer; and each layer's own apply time in the child.
2. Each program runs 30 times three ways: through the evaluator (a forked, isolated child of the warm
   worker; the time is the whole `Evaluator.run` round trip), in this process (plain `exec`), and as a
   fresh `python -c` process per run (imports included).
3. Each built-in lesson: warm grading (median, p95) of the reference answers with every layer, of the
   same answers rewritten (every expression as `[answer][0]`: the grader then shadow-checks each, as
   for a learner's own wording), of the reference answers without pre-forked children and with
   namespaces, Landlock and seccomp off; beside the in-process compute of one learner run
   (`runtime.execute` on the same job), a fresh `python -m tutor grade` process per answer (it loads
   torch only for torch lessons), the app's evaluator (numpy and torch) started afresh per answer, and
   the bound that the fresh `tutor grade` and the in-process run set (no evaluator that runs the
   program once per answer can be more times faster than a fresh process than that); in interleaved rounds, each measurement after a 0.25 s
   pause (a learner's typing, in which the worker pre-forks). `--lessons a,b` prints only this
   table, for those lessons.

Prints figures and ratios; asserts nothing.

    python benchmarks/bench_evaluator.py [--runs 30] [--lessons linreg-numpy,linreg-torch]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
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


def timed(fn, runs: int, pause: float = 0.0) -> list[float]:
    """Wall times of `runs` calls; `pause` seconds (not counted) before each, as a learner's typing gives."""
    out = []
    for _ in range(runs):
        if pause:
            time.sleep(pause)
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


def _child_setup(runs: int, with_layers: bool) -> tuple[list[float], dict[str, list[float]]]:
    """fork -> (layers) -> _exit(0) -> reaped, timed here; per-layer apply times reported by the child."""
    import json

    from tutor.sandbox import layers
    from tutor.sandbox.worker import vm_size_bytes

    totals: list[float] = []
    per_layer: dict[str, list[float]] = {}
    for _ in range(runs):
        out_r, out_w = os.pipe()
        res_r, res_w = os.pipe()
        ctx = layers.Context(worker_pid=os.getpid(), capture_fd=out_w, result_fd=res_w, timeout=5.0, memory_mb=1024,
                             base_vm_bytes=vm_size_bytes(), keep_fds=layers.prepared_fds())
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                spent = {}
                if with_layers:
                    for layer, ok in zip(layers.LAYERS, layers._availability()):
                        if ok:
                            t = time.perf_counter_ns()
                            layer.apply(ctx)
                            spent[layer.name] = (time.perf_counter_ns() - t) / 1e9
                os.write(ctx.result_fd, json.dumps(spent).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(out_w)
        os.close(res_w)
        os.waitpid(pid, 0)
        totals.append(time.perf_counter() - start)
        data = os.read(res_r, 65536)
        os.close(res_r)
        os.close(out_r)
        for name, sec in json.loads(data or b"{}").items():
            per_layer.setdefault(name, []).append(sec)
    return totals, per_layer


def bench_layers(runs: int) -> None:
    """The cost of the layers alone, in a process the size of a numpy+torch worker."""
    import numpy  # noqa: F401
    import torch

    from tutor.sandbox import layers

    torch.set_num_threads(1)
    torch.ones(2) @ torch.ones(2)
    print(f"isolation layers here: {', '.join(layers.active_layers())}")
    _child_setup(3, True)
    none, _ = _child_setup(runs, False)
    full, per = _child_setup(runs, True)
    (n_med, n_p95), (f_med, f_p95) = stats(none), stats(full)
    print(f"child set-up, fork + exit, no layer:        median {ms(n_med)}   p95 {ms(n_p95)}")
    print(f"child set-up, fork + every layer + exit:    median {ms(f_med)}   p95 {ms(f_p95)}   "
          f"layers add {ms(f_med - n_med).strip()} ({f_med / n_med:.2f}x)")
    for name, times in per.items():
        print(f"  {name:<20} median {ms(statistics.median(times))}")
    print()


THINK = 0.25  # seconds between two answers in the lesson table: the pause in which the worker pre-forks


def rewritten(lesson, answers: dict[str, str]) -> dict[str, str]:
    """The answers with every expression written differently (`[answer][0]`): the same values, but no
    longer the reference's text, so the grader shadow-checks each of them as it would a learner's own."""
    return {k: f"[{v}][0]" if lesson.blanks[k].kind == "expression" else v for k, v in answers.items()}


def bench_lessons(runs: int, naive_runs: int, only: list[str] | None = None) -> None:
    """Warm answer-to-verdict latency per lesson (all layers, for the reference answers and for the same
    answers rewritten; no pre-forked children; without the namespace, Landlock and seccomp layers),
    beside one in-process run and a fresh process per answer."""
    from tutor.grading import programs
    from tutor.grading.grader import Grader
    from tutor.lesson import load_lessons
    from tutor.paths import builtin_lessons_dir
    from tutor.sandbox.worker import Marker, Worker

    lessons = [l for l in load_lessons(builtin_lessons_dir()) if not only or l.id in only]
    full = Evaluator(preload=("numpy", "torch"))
    nopre = Evaluator(preload=("numpy", "torch"), prefork=False)
    less = Evaluator(preload=("numpy", "torch"), disable_layers=("namespaces", "landlock", "seccomp"))
    graders = {"all layers": Grader(full), "no pre-fork": Grader(nopre), "w/o ns+ll+sc": Grader(less)}
    local = Worker(("numpy", "torch"))  # the worker's own code in this process: one run's pure compute
    header = (f"{'lesson':<16}{'answers, layers':<28}{'grade (warm)':>24}{'one run in-process':>24}{'ratio':>8}"
              f"{'fresh tutor grade':>19}{'ratio':>8}{'bound':>8}{'fresh app evaluator':>21}{'ratio':>8}")
    print(header)
    print("-" * len(header))
    for lesson in lessons:
        answers = lesson.reference_answers()
        variants = [
            ("as reference, all layers", graders["all layers"], answers),
            ("rewritten, all layers", graders["all layers"], rewritten(lesson, answers)),
            ("as reference, no pre-fork", graders["no pre-fork"], answers),
            ("as reference, w/o ns+ll+sc", graders["w/o ns+ll+sc"], answers),
        ]
        prog = programs.build(lesson, answers=answers, learner=set(lesson.blanks))
        job, data = local.prepare(graders["all layers"]._job(lesson, "learner", prog))
        for _, grader, given in variants:
            report = grader.grade(lesson, given)  # the reference run is cached, as for every answer after the first
            if not report.passed:
                raise SystemExit(f"{lesson.id}: the benchmark's answers do not pass: "
                                 + "; ".join(b.message for b in report.blanks.values() if b.verdict != "correct"))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "answers.toml"
            path.write_text("".join(f"{k} = {v!r}\n" for k, v in answers.items()), encoding="utf-8")
            fresh_cmd = [sys.executable, "-m", "tutor", "grade", lesson.id, "--answers", str(path)]
            # Interleaved, one round at a time, so that a slow spell of a shared machine weighs on every
            # column alike: the graders, the in-process run, and now and then a fresh process.
            times: dict[str, list[float]] = {label: [] for label, _, _ in variants}
            inproc: list[float] = []
            naive: list[float] = []
            cold_app: list[float] = []
            every = max(1, runs // naive_runs)
            with contextlib.redirect_stdout(io.StringIO()):  # the lesson's own prints
                local.runtime.execute(job, local.modules, data, Marker())
                for k in range(runs):
                    for label, grader, given in variants:
                        time.sleep(THINK)
                        t = time.perf_counter()
                        grader.grade(lesson, given)
                        times[label].append(time.perf_counter() - t)
                    time.sleep(THINK)  # the same quiet start as the graders get (their pools refill meanwhile)
                    t = time.perf_counter()
                    local.runtime.execute(job, local.modules, data, Marker())
                    inproc.append(time.perf_counter() - t)
                    if k % every == 0:
                        time.sleep(THINK)
                        t = time.perf_counter()
                        subprocess.run(fresh_cmd, capture_output=True, cwd=REPO, check=False)
                        naive.append(time.perf_counter() - t)
                        time.sleep(THINK)
                        t = time.perf_counter()
                        with Evaluator(preload=("numpy", "torch")) as cold:  # the app's, started per answer
                            Grader(cold).grade(lesson, answers)
                        cold_app.append(time.perf_counter() - t)
        i_med, i_p95 = stats(inproc)
        f_med = statistics.median(naive)
        c_med = statistics.median(cold_app)
        for label, _, _ in variants:
            g_med, g_p95 = stats(times[label])
            print(f"{lesson.id:<16}{label:<28}{ms(g_med):>12}{ms(g_p95):>12}{ms(i_med):>12}{ms(i_p95):>12}"
                  f"{g_med / i_med:>7.2f}x{ms(f_med):>19}{f_med / g_med:>7.1f}x{f_med / i_med:>7.1f}x"
                  f"{ms(c_med):>21}{c_med / g_med:>7.1f}x")
    print("\n(columns: median, p95; first ratio = grade / one in-process run; second = fresh process / grade;"
          " bound = fresh process / one in-process run, the most that any evaluator running the program once"
          " per answer could reach; fresh app evaluator = the app's evaluator (numpy and torch) started, used"
          f" for one answer and stopped, in this process; {THINK:g} s pause before each answer; rewritten = every expression"
          " answer written as `[answer][0]`, so that it is shadow-checked)")
    full.close()
    nopre.close()
    less.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--lessons", default="", help="comma-separated lesson ids: only the lesson table, for these")
    args = parser.parse_args()
    runs = args.runs
    if args.lessons:
        bench_lessons(runs, max(3, runs // 10), args.lessons.split(","))
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {runs} runs each\n")
    bench_layers(max(runs, 50))

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
    print()
    bench_lessons(runs, max(3, runs // 10))


if __name__ == "__main__":
    main()
