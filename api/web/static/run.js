// The progress view: polls the run (GET /web/runs/{id}/status, the same answer as GET /runs/{id})
// and draws the objective and the bound, and the visits covered, over time until the solve ends.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) { return; }
  var run = box.getAttribute("data-run");
  var week = box.getAttribute("data-week");
  var points = [];
  var t0 = Date.now();

  function text(id, value) { document.getElementById(id).textContent = value; }

  function draw() {
    var values = [];
    points.forEach(function (p) {
      if (p.o !== null) { values.push(p.o); }
      if (p.b !== null) { values.push(p.b); }
    });
    if (!values.length) { return; }
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    var tMax = Math.max(1, points[points.length - 1].t);
    function xy(t, v) {
      var y = hi === lo ? 60 : 110 - (v - lo) / (hi - lo) * 100;
      return (10 + t / tMax * 300).toFixed(1) + "," + y.toFixed(1);
    }
    document.getElementById("run-line-objective").setAttribute("points",
      points.filter(function (p) { return p.o !== null; }).map(function (p) { return xy(p.t, p.o); }).join(" "));
    document.getElementById("run-line-bound").setAttribute("points",
      points.filter(function (p) { return p.b !== null; }).map(function (p) { return xy(p.t, p.b); }).join(" "));
    var counted = points.filter(function (p) { return p.c !== null && p.n; });
    if (counted.length) {
      var total = counted[counted.length - 1].n;
      document.getElementById("run-line-covered").setAttribute("points", counted.map(function (p) {
        return (10 + p.t / tMax * 300).toFixed(1) + "," + (70 - p.c / total * 60).toFixed(1);
      }).join(" "));
      text("run-covered-range", "0 at the bottom, all " + total + " at the top");
    }
  }

  function poll() {
    fetch("/web/runs/" + run + "/status", { headers: { "Accept": "application/json" },
                                            credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401) {   // the session ended: sign in again, then come back here
          window.location = "/web/login?next=" + encodeURIComponent(window.location.pathname);
          throw new Error("signed out");
        }
        return r.json();
      })
      .then(function (s) {
        text("run-status", s.status);
        text("run-objective", s.objective === null ? "not yet" : s.objective.toFixed(1));
        text("run-bound", s.best_bound === null ? "none proven yet" : s.best_bound.toFixed(1));
        text("run-gap", s.gap_text);
        if (s.covered_visits !== null && s.covered_visits !== undefined) {
          text("run-covered", s.covered_visits + " of " + s.total_visits);
        }
        points.push({ t: (Date.now() - t0) / 1000, o: s.objective, b: s.best_bound,
                      c: s.covered_visits === undefined ? null : s.covered_visits, n: s.total_visits });
        draw();
        if (s.status === "succeeded") {
          text("run-unassigned", String(s.unassigned_count));
          var link = document.getElementById("open-draft");
          link.href = "/web/board?week_start=" + week + "&rota_id=" + s.rota_id;
          document.getElementById("run-done").hidden = false;
          link.focus();
        } else if (s.status === "failed") {
          var err = document.getElementById("run-error");
          err.textContent = s.error || "the solve failed";
          err.hidden = false;
        } else {
          setTimeout(poll, 500);
        }
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  var status = document.getElementById("run-status").textContent;
  if (status !== "succeeded" && status !== "failed") { poll(); }
})();
