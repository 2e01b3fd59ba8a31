"""``python -m benchmarks``: the Mankowska benchmark, synthetic scaling, baselines, smoke check.

Commands::

    python -m benchmarks mankowska [--instances A1,B2 | --file PATH ...] [--time-limit S] [--out DIR]
    python -m benchmarks synthetic [--sizes 20,40] [--seeds 1,2] [--time-scale 0.1] [--out DIR]
    python -m benchmarks run --suite synthetic|mankowska|all [...]   # -> benchmarks/results/<date>/
    python -m benchmarks smoke                                        # <= 30 s, exit 1 if invalid
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
LATEST_START, LATEST_END = "<!-- latest-results:start -->", "<!-- latest-results:end -->"


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None


def _add_common(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default benchmarks/results/<date>)")
    ap.add_argument("--workers", type=int, default=2, help="CP-SAT workers (default 2: this machine's cores)")
    ap.add_argument("--keep-work", action="store_true", help="keep the problem/result files of each solve")


def _add_mankowska(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--instances", default=None, help="codes from best_known.csv, e.g. A1,B2, or 'all'")
    ap.add_argument("--file", action="append", default=[], help="an instance file in the published format")
    ap.add_argument("--time-limit", type=float, default=None,
                    help="seconds per instance (default by class: A 10, B 60, C-G 120)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=int, default=None,
                    help="engine minutes per instance time unit (default: portfolio of 1 and 2)")
    ap.add_argument("--rounding", choices=("auto", "up", "nearest", "down"), default="auto",
                    help="how fractional distances become whole minutes (see README; auto: down, "
                         "then up and nearest with the time a proven-optimal solve leaves)")


def _add_synthetic(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--sizes", type=_ints, default=None, help="client counts (default 20,40,150,500,1000)")
    ap.add_argument("--seeds", type=_ints, default=None, help="generator seeds (default 1,2,3)")
    ap.add_argument("--synthetic-time-limit", type=float, default=None,
                    help="seconds per week for every size (default by size: 30/30/120/300/600)")
    ap.add_argument("--time-scale", type=float, default=1.0, help="multiply the default limits")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--baseline-time-limit", type=float, default=None,
                    help="OR-Tools routing seconds per week (default: the CP-SAT limit)")
    ap.add_argument("--no-profile", action="store_true")


def run_mankowska(args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    from benchmarks.mankowska import InstanceError, resolve_instances, solve_instance

    try:
        todo = resolve_instances(args.instances if (args.instances or args.file) else "all", args.file)
    except InstanceError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"Mankowska: {len(todo)} instance(s) -> {out}")
    rows, timelines = [], []
    for label, path in todo:
        try:
            row, tl = solve_instance(label, path, out, time_limit=args.time_limit, workers=args.workers,
                                     seed=args.seed, scale=args.scale, rounding=args.rounding)
        except InstanceError as exc:
            print(f"  {label}: {exc}")
            row, tl = {"instance": label, "file": str(path), "status": "error", "error": str(exc)}, None
        rows.append(row)
        if tl:
            timelines.append(tl)
    (out / "mankowska_timelines.json").write_text(json.dumps(timelines) + "\n", encoding="utf-8")
    from benchmarks.report import plot_mankowska

    plot_mankowska(timelines, out)
    return rows


def run_synthetic(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from benchmarks.report import plot_objective_over_time, plot_scaling
    from benchmarks.synthetic import DEFAULT_SEEDS, DEFAULT_SIZES, run_suite

    sizes = args.sizes or DEFAULT_SIZES
    seeds = args.seeds or DEFAULT_SEEDS
    print(f"Synthetic: sizes {sizes}, seeds {seeds} -> {out}")
    res = run_suite(out, sizes=sizes, seeds=seeds, time_limit=args.synthetic_time_limit,
                    time_scale=args.time_scale, workers=args.workers, baselines=not args.no_baselines,
                    baseline_limit=args.baseline_time_limit, profile=not args.no_profile)
    plot_objective_over_time(res["timelines"], out)
    plot_scaling(res["rows"], out)
    return res


def _out_dir(args: argparse.Namespace) -> Path:
    out = args.out or RESULTS / date.today().isoformat()
    out.mkdir(parents=True, exist_ok=True)
    return out


def _finish(args: argparse.Namespace, out: Path, mank: list | None, syn: dict | None, readme: bool) -> int:
    from benchmarks.report import write_report

    report = write_report(out, mank, syn)
    if not args.keep_work:
        shutil.rmtree(out / "work", ignore_errors=True)
    print(f"report: {report}")
    if readme:
        update_readme(report)
    bad = [r for r in (mank or []) if not r.get("verified")]
    bad += [r for r in (syn or {}).get("rows", []) if not r.get("valid")]
    bad += [r for r in (syn or {}).get("comparison", []) if r.get("valid") is False]
    if bad:
        print(f"{len(bad)} result(s) were not valid; see the report")
    return 1 if bad else 0


def update_readme(report: Path) -> None:
    """Copy the run's report into benchmarks/README.md between the latest-results markers."""
    if not README.exists():
        return
    text = README.read_text(encoding="utf-8")
    if LATEST_START not in text or LATEST_END not in text:
        return
    rel = report.parent.relative_to(HERE) if report.parent.is_relative_to(HERE) else report.parent
    body = report.read_text(encoding="utf-8").replace("](", f"]({rel}/").replace(f"]({rel}/http", "](http")
    body = body.replace("# carerota benchmark run", f"### Latest run: `{rel}`", 1).replace("\n## ", "\n#### ")
    head, rest = text.split(LATEST_START, 1)
    _, tail = rest.split(LATEST_END, 1)
    README.write_text(f"{head}{LATEST_START}\n{body}\n{LATEST_END}{tail}", encoding="utf-8")


def smoke() -> int:
    """<= 30 s: Mankowska A1 and a 5-client week, each solved briefly and checked. 1 on failure."""
    from benchmarks.baselines.greedy import greedy_rota
    from benchmarks.mankowska import BENCH_DIR, resolve_instances, solve_instance
    from benchmarks.worker import run_solve
    from scheduler.checker import check
    from scheduler.example import generate_problem
    from scheduler.problem import problem_from_dict
    from scheduler.rota import rota_from_dict

    t0 = time.perf_counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="carerota-smoke-") as tmp:
        tmpdir = Path(tmp)
        if (BENCH_DIR / "best_known.csv").exists():
            label, path = resolve_instances("A1")[0]
            row, _ = solve_instance(label, path, tmpdir, time_limit=5, workers=2)
            if not row.get("verified"):
                failures.append(f"Mankowska {label}: {row.get('error') or row.get('verify_errors')}")
            print(f"smoke: Mankowska {label}: objective {row.get('objective')} "
                  f"(best known {row.get('best_known')}), verified {row.get('verified')}")
        else:
            failures.append(f"Mankowska data not found at {BENCH_DIR}")
        pdict = generate_problem(clients=5, seed=1)
        problem = problem_from_dict(pdict)
        res = run_solve(pdict, time_limit=5, workers=2, seed=1, work_dir=tmpdir, tag="smoke-week")
        if res.get("rota") is None:
            failures.append(f"synthetic week: {res.get('error')}")
        else:
            rota = rota_from_dict(res["rota"], problem)
            rep = check(problem, rota)
            print(f"smoke: 5-client week: {len(problem.visits)} visits, covered {rep.kpis['covered']}, "
                  f"objective {rota.objective}, valid {rep.ok}")
            if not rep.ok:
                failures.append("synthetic week: " + "; ".join(str(v) for v in rep.violations[:3]))
            claimed = rota.objective
            if claimed is None or abs(claimed - rep.objective) > 1e-6 * max(1.0, abs(rep.objective)):
                failures.append(f"synthetic week: claimed objective {claimed} != checker {rep.objective}")
        g = greedy_rota(problem)
        grep = check(problem, g)
        print(f"smoke: greedy baseline: covered {grep.kpis['covered']}, valid {grep.ok}")
        if not grep.ok:
            failures.append("greedy baseline: " + "; ".join(str(v) for v in grep.violations[:3]))
    print(f"smoke: {time.perf_counter() - t0:.1f} s, " + ("OK" if not failures else "FAILED"))
    for f in failures:
        print(f"  - {f}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("mankowska", help="solve published Mankowska instances, verify, tabulate")
    _add_mankowska(m)
    _add_common(m)
    s = sub.add_parser("synthetic", help="scaling on synthetic weeks, with the baselines")
    _add_synthetic(s)
    _add_common(s)
    r = sub.add_parser("run", help="a full suite into benchmarks/results/<date>/ and the README")
    r.add_argument("--suite", choices=("synthetic", "mankowska", "all"), default="all")
    r.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    _add_mankowska(r)
    _add_synthetic(r)
    _add_common(r)
    sub.add_parser("smoke", help="30-second validity check (CI)")
    args = ap.parse_args(argv)
    if args.command == "smoke":
        return smoke()
    out = _out_dir(args)
    if args.command == "mankowska":
        return _finish(args, out, run_mankowska(args, out), None, readme=False)
    if args.command == "synthetic":
        return _finish(args, out, None, run_synthetic(args, out), readme=False)
    mank = run_mankowska(args, out) if args.suite in ("mankowska", "all") else None
    syn = run_synthetic(args, out) if args.suite in ("synthetic", "all") else None
    return _finish(args, out, mank, syn, readme=not args.no_readme)


if __name__ == "__main__":
    sys.exit(main())
