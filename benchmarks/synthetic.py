"""Scaling on synthetic co-op weeks, and the solver against the baselines on the same weeks.

Each (clients, seed) week comes from ``scheduler.example.generate_problem``. The CP-SAT solve
runs in its own process (:mod:`benchmarks.worker`) so its peak memory is measured alone;
its rota, the greedy baseline's and the routing baseline's are all checked by
``scheduler.checker.check``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from benchmarks.worker import BUILD_KEYS, CON_KEYS, SOLVE_KEYS, VAR_KEYS, find_stat, run_solve
from scheduler.problem import PRIORITIES
from scheduler.rota import gap_of

DEFAULT_SIZES = (20, 40, 150, 500, 1000)
DEFAULT_SEEDS = (1, 2, 3)
DEFAULT_LIMITS = {20: 30.0, 40: 30.0, 150: 120.0, 500: 300.0, 1000: 600.0}


def default_limit(clients: int) -> float:
    for size in sorted(DEFAULT_LIMITS):
        if clients <= size:
            return DEFAULT_LIMITS[size]
    return DEFAULT_LIMITS[max(DEFAULT_LIMITS)]


def _coverage(kpis: dict[str, Any], prio: str) -> float | None:
    total = kpis.get(f"visits_{prio}", 0)
    return None if not total else round(kpis.get(f"covered_{prio}", 0) / total, 4)


def _summary(report: Any) -> dict[str, Any]:
    """Coverage, travel and continuity of a checked rota (from the checker's own numbers)."""
    k = report.kpis
    out = {"valid": report.ok, "violations": len(report.violations),
           "objective": round(report.objective, 2), "covered": k["covered"], "visits": k["visits"],
           "travel_minutes": k["travel_minutes"],
           "travel_per_visit": round(k["travel_minutes"] / k["covered"], 3) if k["covered"] else None,
           "distinct_carers_per_client": round(k["distinct_carers_per_client"], 3),
           "lateness_minutes": k["lateness_minutes"]}
    for prio in PRIORITIES:
        out[f"coverage_{prio}"] = _coverage(k, prio)
    return out


def run_week(clients: int, seed: int, out_dir: Path, time_limit: float | None = None, workers: int = 2,
             baselines: bool = True, baseline_limit: float | None = None, profile: bool = False,
             log: Any = print) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """One week: (CP-SAT row, baseline comparison rows, timeline record)."""
    from scheduler.checker import check
    from scheduler.example import generate_problem
    from scheduler.problem import problem_from_dict
    from scheduler.rota import rota_from_dict

    limit = time_limit if time_limit is not None else default_limit(clients)
    pdict = generate_problem(clients=clients, seed=seed)
    problem = problem_from_dict(pdict)
    tag = f"synthetic-{clients}-{seed}"
    prof = str(out_dir / f"profile-{clients}-seed{seed}") if profile else None
    log(f"  {tag}: {len(problem.visits)} visits, {len(problem.carers)} carers, limit {limit:g} s")
    res = run_solve(pdict, time_limit=limit, workers=workers, seed=seed, work_dir=out_dir / "work",
                    tag=tag, profile=prof)
    row: dict[str, Any] = {"clients": clients, "seed": seed, "visits": len(problem.visits),
                           "carers": len(problem.carers), "time_limit": limit, "workers": workers}
    timeline = {"clients": clients, "seed": seed, "visits": len(problem.visits),
                "timeline": res.get("timeline", [])}
    if res.get("error") or res.get("rota") is None:
        row.update(status="error", error=res.get("error", "no rota"), valid=False)
        log(f"    error: {row['error']}")
        return row, [], timeline
    rota = rota_from_dict(res["rota"], problem)
    report = check(problem, rota)
    br = report.breakdown
    coverage_term = sum(br.get(f"unassigned_{p}", 0.0) for p in PRIORITIES)
    extra = res.get("extra") or {}
    obj, bound = rota.objective, rota.best_bound
    row.update(status=rota.status, valid=report.ok, violations=len(report.violations),
               objective=obj, checker_objective=round(report.objective, 4),
               objective_coverage=round(coverage_term, 2),
               objective_rest=round(report.objective - coverage_term, 2),
               best_bound=bound,
               gap_pct=_pct(gap_of(obj, bound)),
               t_first=res.get("t_first"), t_within_1pct=res.get("t_within_1pct"), t_best=res.get("t_best"),
               wall_seconds=res.get("wall_seconds"), peak_rss_mb=res.get("peak_rss_mb"),
               rss_after_import_mb=res.get("rss_after_import_mb"),
               build_seconds=_round(find_stat(extra, BUILD_KEYS)),
               solve_seconds=_round(find_stat(extra, SOLVE_KEYS)),
               model_variables=find_stat(extra, VAR_KEYS), model_constraints=find_stat(extra, CON_KEYS),
               strategy=find_stat(extra, ("strategy",)))
    for prio in PRIORITIES:
        row[f"coverage_{prio}"] = _coverage(report.kpis, prio)
    cov = rota.kpis.get("essential_coverage_bound") or {}
    row.update(essential_covered=report.kpis.get("covered_essential"),
               essential_total=report.kpis.get("visits_essential"),
               essential_bound=cov.get("bound"), coverage_proven_maximal=cov.get("proven_maximal"),
               moves_per_second=(extra.get("stats", {}).get("search") or {}).get("moves_per_second"))
    row.update(travel_minutes=report.kpis["travel_minutes"],
               distinct_carers_per_client=round(report.kpis["distinct_carers_per_client"], 3))
    if not report.ok:
        row["first_violation"] = str(report.violations[0])[:200]
    log(f"    {rota.status} objective {obj} bound {bound} valid {report.ok} first {row['t_first']} s "
        f"1% {row['t_within_1pct']} s peak {row['peak_rss_mb']} MB")
    comp: list[dict[str, Any]] = []
    if baselines:
        comp = compare_baselines(pdict, problem, rota, report, clients, seed,
                                 baseline_limit if baseline_limit is not None else limit, log)
    return row, comp, timeline


def compare_baselines(pdict: dict[str, Any], problem: Any, rota: Any, report: Any, clients: int, seed: int,
                      limit: float, log: Any = print) -> list[dict[str, Any]]:
    """Rows: CP-SAT vs greedy on the full week; CP-SAT vs OR-Tools routing on the routable subset."""
    from benchmarks.baselines.greedy import greedy_rota
    from benchmarks.baselines.routing import restrict_rota, routable_subset, routing_rota
    from scheduler.checker import check
    from scheduler.problem import problem_from_dict

    rows: list[dict[str, Any]] = []
    base = {"clients": clients, "seed": seed}
    t0 = time.perf_counter()
    greedy = greedy_rota(problem)
    g_rep = check(problem, greedy)
    rows.append({**base, "scope": "week", "method": "cp-sat", **_summary(report),
                 "seconds": rota.solve_seconds})
    rows.append({**base, "scope": "week", "method": "greedy", **_summary(g_rep),
                 "seconds": round(time.perf_counter() - t0, 2)})
    sub = problem_from_dict(routable_subset(pdict))
    cp_sub = restrict_rota(rota, sub)
    cp_rep = check(sub, cp_sub)
    t0 = time.perf_counter()
    try:
        rr = routing_rota(sub, time_limit=limit, seed=seed)
        r_rep = check(sub, rr)
        r_row = {**base, "scope": "routable subset", "method": "or-tools routing", **_summary(r_rep),
                 "seconds": round(time.perf_counter() - t0, 2)}
    except Exception as exc:  # recorded in the table, the run goes on
        r_row = {**base, "scope": "routable subset", "method": "or-tools routing", "valid": False,
                 "error": f"{type(exc).__name__}: {exc}"[:200]}
    rows.append({**base, "scope": "routable subset", "method": "cp-sat (week rota, restricted)",
                 **_summary(cp_rep), "seconds": rota.solve_seconds})
    rows.append(r_row)
    gs = rows[1]
    rows.append({**base, "scope": "week", "method": "ratio cp-sat / greedy", **_ratios(rows[0], gs)})
    rows.append({**base, "scope": "routable subset", "method": "ratio cp-sat / routing",
                 **_ratios(rows[2], r_row)})
    log(f"    greedy: covered {gs.get('covered')} travel {gs.get('travel_minutes')} valid {gs.get('valid')}; "
        f"routing: covered {r_row.get('covered')} travel {r_row.get('travel_minutes')} "
        f"valid {r_row.get('valid')}")
    return rows


def _ratios(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    def ratio(key: str) -> float | None:
        x, y = a.get(key), b.get(key)
        if x is None or y is None or not y:
            return None
        return round(x / y, 3)

    return {"objective": ratio("objective"), "covered": ratio("covered"),
            "coverage_essential": ratio("coverage_essential"),
            "travel_minutes": ratio("travel_minutes"), "travel_per_visit": ratio("travel_per_visit"),
            "distinct_carers_per_client": ratio("distinct_carers_per_client"),
            "lateness_minutes": ratio("lateness_minutes")}


def _pct(gap: float | None) -> float | None:
    return None if gap is None else round(100 * gap, 3)


def _round(x: Any) -> Any:
    return round(x, 3) if isinstance(x, float) else x


def run_suite(out_dir: Path, sizes: tuple[int, ...] = DEFAULT_SIZES, seeds: tuple[int, ...] = DEFAULT_SEEDS,
              time_limit: float | None = None, time_scale: float = 1.0, workers: int = 2,
              baselines: bool = True, baseline_limit: float | None = None, profile: bool = True,
              log: Any = print) -> dict[str, Any]:
    """Every size x seed; profiles the largest size's first seed. Returns rows and timelines."""
    rows, comp, timelines = [], [], []
    largest = max(sizes)
    for clients in sizes:
        for i, seed in enumerate(seeds):
            limit = time_limit if time_limit is not None else default_limit(clients) * time_scale
            row, c, tl = run_week(clients, seed, out_dir, time_limit=limit, workers=workers,
                                  baselines=baselines, baseline_limit=baseline_limit,
                                  profile=profile and clients == largest and i == 0, log=log)
            rows.append(row)
            comp.extend(c)
            timelines.append(tl)
    (out_dir / "synthetic_timelines.json").write_text(json.dumps(timelines) + "\n", encoding="utf-8")
    return {"rows": rows, "comparison": comp, "timelines": timelines}
