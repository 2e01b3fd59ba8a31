"""One solve in its own process, so that its peak memory (CP-SAT's C++ included) is its own.

``python -m benchmarks.worker PROBLEM.json RESULT.json --time-limit S [--workers W] [--seed N]
[--profile PREFIX]`` loads the problem, calls ``scheduler.solve.solve`` with a progress callback,
and writes the rota, the objective-over-time timeline, timings and ``ru_maxrss`` to RESULT.json.
The parent (:func:`run_solve`) never imports the solver's state, so one bad solve cannot
poison the next.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

# Keys the solver may put in ``rota.extra`` for model size and timings (first match wins).
BUILD_KEYS = ("build_seconds", "model_build_seconds", "build_time", "model_seconds")
SOLVE_KEYS = ("solve_seconds_cp", "solve_only_seconds", "search_seconds", "cp_sat_seconds", "wall_time",
              "solver_seconds")
VAR_KEYS = ("max_model_vars", "variables", "num_variables", "model_variables", "vars")
CON_KEYS = ("max_model_constraints", "constraints", "num_constraints", "model_constraints", "cons")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def find_stat(extra: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """A stat from the rota's extra fields, looked up at the top level and one level down."""
    for key in keys:
        if key in extra:
            return extra[key]
    for value in extra.values():
        if isinstance(value, dict):
            for key in keys:
                if key in value:
                    return value[key]
    return None


def timeline_metrics(timeline: list[list[float]], final: float | None) -> dict[str, float | None]:
    """Time to first solution, to the final objective and to within 1% of it (wall seconds)."""
    if not timeline or final is None:
        return {"t_first": None, "t_best": None, "t_within_1pct": None}
    first = timeline[0][0]
    best = next((t for t, _, obj, _ in timeline if obj is not None and obj <= final + 1e-6), None)
    near = next((t for t, _, obj, _ in timeline
                 if obj is not None and obj <= final + 0.01 * abs(final) + 1e-6), None)
    return {"t_first": round(first, 3), "t_best": None if best is None else round(best, 3),
            "t_within_1pct": None if near is None else round(near, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    ap.add_argument("problem")
    ap.add_argument("result")
    ap.add_argument("--time-limit", type=float, required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", default=None, help="write pyinstrument profile to PREFIX.{txt,html}")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {"rss_after_import_mb": None}
    t_start = time.perf_counter()
    try:
        from scheduler.problem import load_problem
        from scheduler.rota import rota_to_dict
        from scheduler.solve import SolveOptions, solve

        out["rss_after_import_mb"] = round(_rss_mb(), 1)
        t0 = time.perf_counter()
        problem = load_problem(Path(args.problem))
        out["load_seconds"] = round(time.perf_counter() - t0, 3)
        timeline: list[list[float]] = []
        t_call = time.perf_counter()

        def progress(p: Any) -> None:
            timeline.append([round(time.perf_counter() - t_call, 4),
                             getattr(p, "elapsed", None), getattr(p, "objective", None),
                             getattr(p, "bound", None)])

        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.005)
            profiler.start()
        rota = solve(problem, SolveOptions(time_limit=args.time_limit, workers=args.workers,
                                           seed=args.seed), progress=progress)
        wall = time.perf_counter() - t_call
        if profiler is not None:
            profiler.stop()
            Path(args.profile + ".txt").write_text(profiler.output_text(unicode=True, color=False),
                                                   encoding="utf-8")
            Path(args.profile + ".html").write_text(profiler.output_html(), encoding="utf-8")
        out.update(rota=rota_to_dict(rota, problem), timeline=timeline,
                   wall_seconds=round(wall, 3), extra=rota.extra)
        out.update(timeline_metrics(timeline, rota.objective))
    except Exception as exc:  # reported to the parent, which records the failure in the table
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
    out["peak_rss_mb"] = round(_rss_mb(), 1)
    out["process_seconds"] = round(time.perf_counter() - t_start, 3)
    Path(args.result).write_text(json.dumps(out) + "\n", encoding="utf-8")
    return 0 if "error" not in out else 1


def run_solve(problem: dict[str, Any], time_limit: float, workers: int, seed: int, work_dir: Path,
              tag: str, profile: str | None = None, grace: float = 120.0) -> dict[str, Any]:
    """Solve ``problem`` (a v1 dict) in a child process and return the worker's result dict."""
    work_dir.mkdir(parents=True, exist_ok=True)
    ppath, rpath = work_dir / f"{tag}.problem.json", work_dir / f"{tag}.result.json"
    ppath.write_text(json.dumps(problem), encoding="utf-8")
    if rpath.exists():
        rpath.unlink()
    cmd = [sys.executable, "-m", "benchmarks.worker", str(ppath), str(rpath),
           "--time-limit", str(time_limit), "--workers", str(workers), "--seed", str(seed)]
    if profile:
        cmd += ["--profile", profile]
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=time_limit * 2 + grace,
                              env=env, cwd=root)
    except subprocess.TimeoutExpired:
        return {"error": f"worker did not finish within {time_limit * 2 + grace:.0f} s"}
    outer = time.perf_counter() - t0
    if not rpath.exists():
        return {"error": f"worker exited {proc.returncode} without a result: {proc.stderr[-2000:]}"}
    res = json.loads(rpath.read_text(encoding="utf-8"))
    res["outer_seconds"] = round(outer, 3)
    if "error" in res:
        res.setdefault("stderr", proc.stderr[-2000:])
    return res


if __name__ == "__main__":
    sys.exit(main())
