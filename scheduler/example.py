"""A realistic, deterministic co-op week: the sample problem for demos, tests and benchmarks.

``generate_problem(clients, seed)`` returns a v1 problem dict (``carerota.problem/1``) for a
Newport-like area: clients clustered in a few neighbourhoods and villages within about
15 km, each with a care package (morning, lunch, tea and bed calls, some with medication
or a hoisted double-up), some social calls volunteers can do, and a paid staff team on
early, late and split shifts sized so that the week is tight but every essential visit
can be covered by a good rota. The same ``(clients, seed, week_start)`` gives the same file.

Sizing: about 17-18 visits per client per week (40 clients give about 700 visits).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from scheduler.problem import PROBLEM_FORMAT, TIME_FORMAT

DEFAULT_WEEK_START = date(2026, 11, 30)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Neighbourhoods and villages around Newport (name, lat, lon), all within about 15 km.
AREAS: tuple[tuple[str, float, float], ...] = (
    ("Maindee", 51.5885, -2.9805),
    ("Caerleon", 51.6103, -2.9560),
    ("Bassaleg", 51.5780, -3.0440),
    ("Langstone", 51.5930, -2.9200),
    ("Malpas", 51.6040, -3.0080),
    ("Rogerstone", 51.5950, -3.0650),
    ("Pillgwenlly", 51.5700, -2.9900),
    ("Duffryn", 51.5560, -3.0330),
    ("Bettws", 51.6150, -3.0300),
    ("Llanwern", 51.5750, -2.9050),
    ("Marshfield", 51.5350, -3.0700),
    ("Ringland", 51.5870, -2.9450),
)

FEMALE = ("Ann", "Bethan", "Cerys", "Eira", "Ffion", "Gwen", "Carys", "Megan", "Nia", "Rhian",
          "Sian", "Lowri", "Angharad", "Catrin", "Delyth", "Elin", "Glenys", "Heledd", "Mair",
          "Non", "Olwen", "Seren", "Tegan", "Manon", "Mari", "Enid", "Nerys", "Menna")
MALE = ("Bryn", "Dai", "Emyr", "Gareth", "Huw", "Iwan", "Rhys", "Owain", "Aled", "Dylan",
        "Geraint", "Ieuan", "Rhodri", "Tomos", "Wyn", "Gethin", "Idris", "Cai", "Elis", "Osian")
SURNAMES = ("Jones", "Evans", "Davies", "Williams", "Thomas", "Roberts", "Hughes", "Lewis",
            "Morgan", "Price", "Griffiths", "Owen", "Rees", "Powell", "Pritchard", "Jenkins",
            "Howells", "Bevan", "Parry", "Lloyd", "Phillips", "Watkins", "Harris", "Edwards")

# Care packages: the calls a client gets every day, with their share of clients.
PACKAGES: tuple[tuple[tuple[str, ...], float], ...] = (
    (("am", "lunch", "tea", "bed"), 0.22),
    (("am", "lunch", "tea"), 0.15),
    (("am", "tea", "bed"), 0.08),
    (("am", "bed"), 0.30),
    (("am",), 0.25),
)
SOCIAL_KINDS = (("companionship", ("companionship",), 60), ("shopping", ("shopping",), 90),
                ("walk", ("companionship",), 60))

# Shifts, as (start, end) minutes of the day, possibly in two parts.
SHIFTS: dict[str, tuple[tuple[int, int], ...]] = {
    "early": ((7 * 60, 14 * 60),),
    "late": ((14 * 60, 22 * 60 + 30),),
    "split": ((7 * 60, 11 * 60), (16 * 60 + 30, 22 * 60)),
}
# Team sizing (see ``_Generator.team_size``): minutes of visiting a carer on duty can do in
# each part of the day, the travel allowed per visit, and the slack over the bare need.
MORNING_CAPACITY = 200
LUNCH_CAPACITY = 110
EVENING_CAPACITY = 260
TRAVEL_PER_VISIT = 10
STAFF_MARGIN = 1.08
SPLIT_SHARE = 0.3
SPLIT_EVENING = 0.5


@dataclass
class _Client:
    id: str
    name: str
    area: int
    lat: float
    lon: float
    package: tuple[str, ...]
    meds: bool
    double_up: bool
    dementia: bool
    female_only: bool = False
    am_start: int = 0
    am_width: int = 60
    am_duration: int = 45
    bed_start: int = 0
    bed_meds: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Carer:
    id: str
    name: str
    kind: str
    area: int
    lat: float
    lon: float
    gender: str
    skills: set[str]
    shift: str = ""
    days: tuple[int, ...] = ()


def next_monday(day: date) -> date:
    """``day`` itself when it is a Monday, else the Monday after it."""
    return day + timedelta(days=(7 - day.weekday()) % 7)


def generate_problem(clients: int = 40, seed: int = 1,
                     week_start: date = DEFAULT_WEEK_START) -> dict[str, Any]:
    """A v1 problem dict for a co-op week of ``clients`` clients (deterministic for a seed).

    The week starts on ``week_start`` (moved to the next Monday when it is another day).
    """
    if clients < 1:
        raise ValueError("clients must be at least 1")
    return _Generator(clients, seed, next_monday(week_start)).build()


class _Generator:
    def __init__(self, n_clients: int, seed: int, monday: date) -> None:
        self.rng = random.Random(f"carerota-example/{n_clients}/{seed}")
        self.n_clients = n_clients
        self.seed = seed
        self.monday = monday
        self.t0 = datetime.combine(monday, datetime.min.time())
        self.used_ids: set[str] = set()

    # -- helpers ----------------------------------------------------------------------
    def iso(self, day: int, minute: int) -> str:
        return (self.t0 + timedelta(days=day, minutes=minute)).strftime(TIME_FORMAT)

    def unique_id(self, base: str) -> str:
        base = base.lower().replace(" ", "-")
        candidate, n = base, 2
        while candidate in self.used_ids:
            candidate, n = f"{base}-{n}", n + 1
        self.used_ids.add(candidate)
        return candidate

    def person(self, gender: str) -> tuple[str, str]:
        first = self.rng.choice(FEMALE if gender == "female" else MALE)
        last = self.rng.choice(SURNAMES)
        return first, last

    def place_near(self, area: int, radius_km: float) -> tuple[float, float]:
        _, lat0, lon0 = AREAS[area]
        r = radius_km * math.sqrt(self.rng.random())
        angle = self.rng.random() * 2 * math.pi
        dlat = r * math.cos(angle) / 111.0
        dlon = r * math.sin(angle) / (111.0 * math.cos(math.radians(lat0)))
        return round(lat0 + dlat, 5), round(lon0 + dlon, 5)

    # -- build ------------------------------------------------------------------------
    def build(self) -> dict[str, Any]:
        n_areas = min(len(AREAS), max(2, math.ceil(self.n_clients / 14)))
        self.area_weights = [1.0 + self.rng.random() for _ in range(n_areas)]
        self.radius_km = 1.2 if self.n_clients <= 150 else 1.8
        cls = self.make_clients(n_areas)
        visits, deps = self.make_visits(cls)
        staff, volunteers = self.make_carers(n_areas, visits)
        care = sum((v["duration_minutes"] + TRAVEL_PER_VISIT) * len(v["roles"]) for v in visits
                   if not v["volunteer_ok"])
        # Contracts add up to about the week's care work: a tight week, little slack paid for.
        self.contract_mean = min(2000, max(1200, care / len(staff)))
        carers = staff + volunteers
        self.relate(cls, carers, visits)
        area_names = ", ".join(AREAS[a][0] for a in range(min(n_areas, 3)))
        return {
            "format": PROBLEM_FORMAT,
            "name": (f"Newport co-op ({area_names}{', ...' if n_areas > 3 else ''}), "
                     f"week of {self.monday.strftime('%d %b %Y')}: {self.n_clients} clients, "
                     f"seed {self.seed}"),
            "horizon": {"start": self.iso(0, 0), "end": self.iso(7, 0)},
            "travel": {"speed_kmh": 30, "road_factor": 1.3, "minimum_minutes": 2, "matrix": None},
            "rules": {"min_rest_minutes": 660, "count_travel_as_work": True, "home_travel": False},
            "weights": {},
            "carers": [self.carer_dict(c) for c in carers],
            "clients": [self.client_dict(c) for c in cls],
            "visits": visits,
            "dependencies": deps,
            "pinned": [],
        }

    def make_clients(self, n_areas: int) -> list[_Client]:
        rng = self.rng
        n = self.n_clients
        packages: list[tuple[str, ...]] = []
        for pkg, share in PACKAGES:
            packages += [pkg] * round(share * n)
        while len(packages) < n:
            packages.append(PACKAGES[len(packages) % len(PACKAGES)][0])
        packages = packages[:n]
        rng.shuffle(packages)
        # About one client in ten needs a hoist, with two carers, morning and night.
        with_bed = [i for i in range(n) if "bed" in packages[i]]
        hoisted = set(rng.sample(with_bed, min(len(with_bed), round(0.1 * n))))
        out: list[_Client] = []
        for i in range(n):
            gender = "female" if rng.random() < 0.6 else "male"
            first, last = self.person(gender)
            area = rng.choices(range(n_areas), weights=self.area_weights)[0]
            lat, lon = self.place_near(area, self.radius_km)
            pkg = packages[i]
            double_up = i in hoisted
            meds = rng.random() < 0.45
            c = _Client(id=self.unique_id(f"{first}-{last}"), name=f"{first} {last}", area=area,
                        lat=lat, lon=lon, package=pkg, meds=meds, double_up=double_up,
                        dementia=rng.random() < 0.12)
            c.female_only = gender == "female" and not double_up and rng.random() < 0.18
            # The client's routine: the same windows every day.
            latest_am = 9 * 60 if (meds and "lunch" in pkg) else 10 * 60
            c.am_width = rng.choice((60, 75, 90))
            c.am_start = rng.choice(range(7 * 60, latest_am - c.am_width + 1, 15))
            c.am_duration = rng.choice((45, 60)) if double_up else rng.choice((30, 30, 45, 45, 60))
            c.bed_start = rng.choice((19 * 60 + 30, 20 * 60, 20 * 60 + 30))
            c.bed_meds = meds and rng.random() < 0.4
            out.append(c)
        return out

    def make_visits(self, cls: list[_Client]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        rng = self.rng
        visits: list[dict[str, Any]] = []
        deps: list[dict[str, Any]] = []

        def roles(c: _Client, meds: bool, double: bool) -> list[dict[str, Any]]:
            first = ["personal_care"] + (["medication"] if meds else []) \
                + (["dementia"] if c.dementia else [])
            if double:
                return [{"skills": sorted([*first, "hoist"])}, {"skills": ["hoist", "personal_care"]}]
            return [{"skills": sorted(first)}]

        for c in cls:
            social_days = sorted(rng.sample(range(7), rng.choice((1, 2, 2, 3)))) \
                if rng.random() < 0.38 else []
            tea_important = not c.meds and rng.random() < 0.35
            late_ok = rng.random() < 0.4
            for day in range(7):
                dn = DAY_NAMES[day]
                ids: dict[str, str] = {}
                for call in c.package:
                    vid = f"{c.id}-{dn}-{call}"
                    ids[call] = vid
                    priority = "essential"
                    lateness = 0
                    if call == "am":
                        window = (c.am_start, c.am_start + c.am_width)
                        duration = c.am_duration
                        role = roles(c, c.meds, c.double_up)
                    elif call == "lunch":
                        window = (12 * 60, 13 * 60)
                        duration = 30
                        role = roles(c, c.meds, False)
                    elif call == "tea":
                        window = (16 * 60 + 30, 17 * 60 + 30)
                        duration = 30
                        role = roles(c, False, False)
                        priority = "important" if tea_important else "essential"
                        lateness = 30 if late_ok else 0
                    else:
                        window = (c.bed_start, c.bed_start + 60)
                        duration = 45 if c.double_up else 30
                        role = roles(c, c.bed_meds, c.double_up)
                        lateness = 15 if late_ok and not c.bed_meds else 0
                    v: dict[str, Any] = {
                        "id": vid, "client": c.id,
                        "earliest_start": self.iso(day, window[0]),
                        "latest_start": self.iso(day, window[1]),
                        "duration_minutes": duration, "roles": role,
                        "volunteer_ok": False, "priority": priority,
                    }
                    if lateness:
                        v["max_lateness_minutes"] = lateness
                    visits.append(v)
                if c.meds and "lunch" in ids:
                    deps.append({"first": ids["am"], "then": ids["lunch"],
                                 "min_gap_minutes": 240, "max_gap_minutes": 360})
                if day in social_days:
                    kind, skills, duration = rng.choice(SOCIAL_KINDS)
                    start = rng.choice((13 * 60, 13 * 60 + 30, 14 * 60))
                    visits.append({
                        "id": f"{c.id}-{dn}-{kind}", "client": c.id,
                        "earliest_start": self.iso(day, start),
                        "latest_start": self.iso(day, start + rng.choice((60, 90))),
                        "duration_minutes": duration,
                        "roles": [{"skills": list(skills)}],
                        "volunteer_ok": True,
                        "priority": "important" if rng.random() < 0.3 else "optional",
                        "max_lateness_minutes": 30,
                    })
        return visits, deps

    def team_size(self, visits: list[dict[str, Any]]) -> dict[str, int]:
        """Staff per shift pattern, from the daily peaks of care work (travel included).

        A carer works 5 days of 7. Mornings (07:00-10:00 starts) are the peak; early staff
        also cover lunch, late staff tea and bed; split staff add morning capacity (their
        evenings are limited by the 11-hour rest before the next morning).
        """
        load = {"am": 0.0, "lunch": 0.0, "evening": 0.0}
        hoist = {"am": 0.0, "lunch": 0.0, "evening": 0.0}
        for v in visits:
            if v["volunteer_ok"]:
                continue
            call = v["id"].rsplit("-", 1)[1]
            key = {"am": "am", "lunch": "lunch"}.get(call, "evening")
            minutes = (v["duration_minutes"] + TRAVEL_PER_VISIT) * len(v["roles"]) / 7
            load[key] += minutes
            if any("hoist" in r["skills"] for r in v["roles"]):
                hoist[key] += minutes
        # Small teams need more slack: one day off in the wrong place empties a shift.
        on_duty = 7 / 5 * (STAFF_MARGIN + 1.0 / self.n_clients ** 0.75)
        morning = load["am"] / MORNING_CAPACITY * on_duty
        lunch = load["lunch"] / LUNCH_CAPACITY * on_duty
        evening = load["evening"] / EVENING_CAPACITY * on_duty
        split = math.floor(morning * SPLIT_SHARE)
        # At least three on each of the early and late teams: two on duty every day.
        early = max(math.ceil(morning - split), math.ceil(lunch), 3)
        late = max(math.ceil(evening - split * SPLIT_EVENING), 3)
        # Hoist holders: half of each team, more where double-ups need them (two carers
        # must be free at the same minute, hence the extra slack).
        hoist_am = hoist["am"] / MORNING_CAPACITY * on_duty * 1.3
        hoist_pm = hoist["evening"] / EVENING_CAPACITY * on_duty * 1.3
        size = {"early": early, "split": split, "late": late}
        need = {"early": hoist_am * early / (early + split), "split": hoist_am * split / (early + split),
                "late": hoist_pm}
        self.hoist_holders = {t: min(n, max(math.ceil(n / 2), math.ceil(need[t]))) for t, n in size.items()}
        return size

    def make_carers(self, n_areas: int,
                    visits: list[dict[str, Any]]) -> tuple[list[_Carer], list[_Carer]]:
        rng = self.rng
        staff: list[_Carer] = []
        for shift, size in self.team_size(visits).items():
            if size == 0:
                continue
            # Skills by quota within each shift team, so small teams are not left short. Hoist
            # and dementia holders are spread evenly over the day-off rotation (so some are on
            # duty every day) and hold medication too (the experienced ones).
            n_hoist = self.hoist_holders[shift]
            n_dementia = min(size, max(2, round(0.4 * size)))
            holders: dict[str, set[int]] = {
                "hoist": {k * size // n_hoist for k in range(n_hoist)},
                "dementia": {(k * size // n_dementia + 1) % size for k in range(n_dementia)},
            }
            experienced = holders["hoist"] | holders["dementia"]
            others = [j for j in range(size) if j not in experienced]
            extra_meds = max(0, round(0.7 * size) - len(experienced))
            holders["medication"] = experienced | set(rng.sample(others, min(len(others), extra_meds)))
            for skill, share in (("driving", 0.6), ("companionship", 0.5), ("shopping", 0.2)):
                holders[skill] = set(rng.sample(range(size), round(share * size)))
            for j in range(size):
                gender = "female" if rng.random() < 0.78 else "male"
                first, last = self.person(gender)
                # Areas in proportion to their clients; homes a little further out.
                area = rng.choices(range(n_areas), weights=self.area_weights)[0]
                lat, lon = self.place_near(area, self.radius_km * 1.8)
                skills = {"personal_care"} | {s for s, who in holders.items() if j in who}
                # Two consecutive days off, staggered so every day is staffed alike.
                off = (j * 7 // size + self.seed) % 7
                days = tuple(d for d in range(7) if d not in (off, (off + 1) % 7))
                staff.append(_Carer(id=self.unique_id(f"{first}-{last}"), name=f"{first} {last}",
                                    kind="staff", area=area, lat=lat, lon=lon, gender=gender,
                                    skills=skills, shift=shift, days=days))
        volunteers: list[_Carer] = []
        for _ in range(max(1, round(self.n_clients / 5))):
            gender = "female" if rng.random() < 0.65 else "male"
            first, last = self.person(gender)
            area = rng.choices(range(n_areas), weights=self.area_weights)[0]
            lat, lon = self.place_near(area, self.radius_km)
            skills = {"companionship"}
            if rng.random() < 0.6:
                skills.add("shopping")
            walker = rng.random() < 0.4
            if not walker and rng.random() < 0.8:
                skills.add("driving")
            days = tuple(sorted(rng.sample(range(7), rng.choice((2, 3, 4)))))
            v = _Carer(id=self.unique_id(f"{first}-{last}"), name=f"{first} {last}",
                       kind="volunteer", area=area, lat=lat, lon=lon, gender=gender,
                       skills=skills, shift="walk" if walker else "drive", days=days)
            volunteers.append(v)
        return staff, volunteers

    def relate(self, cls: list[_Client], carers: list[_Carer],
               visits: list[dict[str, Any]]) -> None:
        """Preferences, exclusions and history: carers from the client's own area."""
        rng = self.rng
        staff = [c for c in carers if c.kind == "staff"]
        by_area: dict[int, list[_Carer]] = {}
        for c in staff:
            by_area.setdefault(c.area, []).append(c)
        needs: dict[str, set[str]] = {}
        for v in visits:
            if not v["volunteer_ok"]:
                needs.setdefault(v["client"], set()).update(*(r["skills"] for r in v["roles"]))
        for cl in cls:
            local = by_area.get(cl.area) or staff
            suitable = [c for c in local if needs.get(cl.id, set()) <= c.skills]
            if cl.female_only:
                female = [c for c in staff if c.gender == "female"
                          and needs.get(cl.id, set()) <= c.skills]
                if len(female) >= 6:
                    suitable = [c for c in suitable if c.gender == "female"]
                else:
                    cl.female_only = False
            if suitable and rng.random() < 0.3:
                cl.extra["preferred_carers"] = sorted(
                    c.id for c in rng.sample(suitable, min(len(suitable), rng.choice((1, 2)))))
            if suitable and rng.random() < 0.6:
                hist = rng.sample(suitable, min(len(suitable), rng.choice((1, 2, 3))))
                cl.extra["history"] = {c.id: rng.choice((120, 240, 480, 900, 1500)) for c in hist}
            if rng.random() < 0.06:
                known = set(cl.extra.get("preferred_carers", [])) | set(cl.extra.get("history", {}))
                others = [c for c in local if c.id not in known]
                if others:
                    cl.extra["excluded_carers"] = [rng.choice(others).id]

    # -- JSON -------------------------------------------------------------------------
    def carer_dict(self, c: _Carer) -> dict[str, Any]:
        rng = self.rng
        out: dict[str, Any] = {
            "id": c.id, "name": c.name, "kind": c.kind, "skills": sorted(c.skills),
            "location": {"lat": c.lat, "lon": c.lon}, "gender": c.gender,
        }
        if c.kind == "staff":
            parts = SHIFTS[c.shift]
            out["availability"] = [{"start": self.iso(d, s), "end": self.iso(d, e)}
                                   for d in c.days for s, e in parts]
            out["max_minutes_per_day"] = 600
            out["max_minutes_per_week"] = 2880
            if rng.random() < 0.85:
                out["contracted_minutes"] = 60 * round(self.contract_mean * rng.uniform(0.8, 1.25) / 60)
            out["hourly_cost"] = round(12 + rng.random() * 2, 2)
        else:
            if c.shift == "walk":
                out["speed_kmh"] = 5
            start = rng.choice((12 * 60 + 30, 13 * 60))
            out["availability"] = [{"start": self.iso(d, start), "end": self.iso(d, start + 240)}
                                   for d in c.days]
            out["max_minutes_per_day"] = 240
            out["max_minutes_per_week"] = 600
        return out

    def client_dict(self, c: _Client) -> dict[str, Any]:
        out: dict[str, Any] = {"id": c.id, "name": c.name, "location": {"lat": c.lat, "lon": c.lon}}
        if c.female_only:
            out["gender_preference"] = "female"
        for key in ("excluded_carers", "preferred_carers", "history"):
            if key in c.extra:
                out[key] = c.extra[key]
        return out
