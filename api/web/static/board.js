// The week board: drag a visit block onto another carer's day to give it to them at the same
// time, or onto the time line at the foot of a day (its own carer's or another's) to give it
// that start as well (plain JavaScript, pointer events, so a mouse, a pen or a test driver can
// do it). The change goes to the same checked hand edit as the form on the visit's page; a
// refusal lists every broken rule. What a drop sends is worked out by dropChange, which also
// runs under node for its unit test (tests/web/test_board_js.py).
(function (root) {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function hhmm(minutes) { return pad(Math.floor(minutes / 60)) + ":" + pad(minutes % 60); }

  // the minute of the day at `fraction` (0..1) of a day's time line from dayFrom to dayTo,
  // to the nearest 5 minutes
  function timeAt(fraction, dayFrom, dayTo) {
    var f = Math.min(1, Math.max(0, fraction));
    var m = Math.round((dayFrom + f * (dayTo - dayFrom)) / 5) * 5;
    return Math.min(dayTo - 5, Math.max(dayFrom, m));
  }

  // what dropping a block sends: {carer_ids, start} for the hand edit, or null when the drop
  // changes nothing. block: {from, carers: [ids], start: "YYYY-MM-DDTHH:MM"};
  // target: {carer, day: "YYYY-MM-DD", minutes: minute of the day, or null off the time line}
  function dropChange(block, target) {
    var carers = block.carers.slice();
    var to = String(target.carer), from = String(block.from);
    var next = carers;
    if (to !== from && carers.indexOf(to) < 0) {
      next = carers.map(function (c) { return c === from ? to : c; });
    }
    var start = block.start;
    if (target.minutes !== null && target.minutes !== undefined) {
      start = target.day + "T" + hhmm(target.minutes);
    }
    if (start === block.start && next.join(",") === carers.join(",")) { return null; }
    return { carer_ids: next, start: start };
  }

  var logic = { timeAt: timeAt, dropChange: dropChange, hhmm: hhmm };
  if (typeof module !== "undefined" && module.exports) { module.exports = logic; return; }
  root.CarerotaBoard = logic;

  var board = document.getElementById("board");
  if (!board) { return; }
  var csrf = board.getAttribute("data-csrf");
  var dayFrom = parseInt(board.getAttribute("data-day-from"), 10);
  var dayTo = parseInt(board.getAttribute("data-day-to"), 10);
  var result = document.getElementById("move-result");
  var drag = null;
  var suppressClick = false;

  function closest(el, cls) {
    while (el && el !== document.body) {
      if (el.classList && el.classList.contains(cls)) { return el; }
      el = el.parentNode;
    }
    return null;
  }

  // where a pointer at (x, y) would drop: the cell, and the minute when over its time line
  function targetAt(x, y) {
    var el = document.elementFromPoint(x, y);
    var cell = closest(el, "cell");
    if (!cell) { return null; }
    var ruler = closest(el, "ruler");
    var minutes = null;
    if (ruler) {
      var box = ruler.getBoundingClientRect();
      minutes = timeAt((x - box.left) / Math.max(1, box.width), dayFrom, dayTo);
    }
    return { cell: cell, ruler: ruler, carer: cell.getAttribute("data-carer"),
             day: cell.getAttribute("data-day"), minutes: minutes };
  }

  function clearTargets() {
    var marked = board.querySelectorAll(".drop-target");
    for (var i = 0; i < marked.length; i++) {
      marked[i].classList.remove("drop-target");
      if (marked[i].classList.contains("ruler")) { marked[i].removeAttribute("data-time"); }
    }
  }

  function show(ok, title, items) {
    result.innerHTML = "";
    result.className = ok ? "notice" : "errors";
    var p = document.createElement("p");
    p.textContent = title;
    result.appendChild(p);
    if (items && items.length) {
      var ul = document.createElement("ul");
      ul.id = "move-errors";
      items.forEach(function (text) {
        var li = document.createElement("li");
        li.textContent = text;
        ul.appendChild(li);
      });
      result.appendChild(ul);
    }
    result.setAttribute("tabindex", "-1");
    result.focus();
  }

  function blockOf(el) {
    return { from: el.getAttribute("data-from"),
             carers: el.getAttribute("data-carers").split(",").filter(Boolean),
             start: el.getAttribute("data-start") };
  }

  function send(el, change) {
    var body = new FormData();
    body.append("csrf_token", csrf);
    change.carer_ids.forEach(function (c) { body.append("carer_ids", c); });
    body.append("start", change.start);
    var url = "/web/rotas/" + el.getAttribute("data-rota") + "/visits/" +
      el.getAttribute("data-visit") + "/move";
    show(true, "Checking the change (start " + change.start.replace("T", " ") + ")…", []);
    fetch(url, { method: "POST", body: body, credentials: "same-origin",
                 headers: { "Accept": "application/json", "X-CSRF-Token": csrf } })
      .then(function (r) { return r.json().then(function (data) { return { status: r.status, data: data }; }); })
      .then(function (res) {
        if (res.data.ok) {
          var q = new URLSearchParams(window.location.search);
          q.set("rota_id", res.data.rota_id);
          q.set("message", "the change is saved");
          window.location.search = q.toString();
        } else {
          show(false, "The change was refused and nothing was saved: " + (res.data.detail || ""),
               res.data.errors || []);
        }
      })
      .catch(function (err) { show(false, "The change could not be sent: " + err, []); });
  }

  board.addEventListener("dragstart", function (e) { e.preventDefault(); });
  board.addEventListener("pointerdown", function (e) {
    var block = e.target.closest ? e.target.closest("a.visit") : null;
    if (!block || e.button !== 0) { return; }
    drag = { block: block, x: e.clientX, y: e.clientY, moving: false };
  });
  document.addEventListener("pointermove", function (e) {
    if (!drag) { return; }
    if (!drag.moving && Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 6) {
      drag.moving = true;
      drag.block.classList.add("dragging");
    }
    if (drag.moving) {
      clearTargets();
      var t = targetAt(e.clientX, e.clientY);
      if (t) {
        t.cell.classList.add("drop-target");
        if (t.ruler) {
          t.ruler.classList.add("drop-target");
          t.ruler.setAttribute("data-time", hhmm(t.minutes));
        }
      }
    }
  });
  document.addEventListener("pointerup", function (e) {
    if (!drag) { return; }
    var d = drag;
    drag = null;
    clearTargets();
    d.block.classList.remove("dragging");
    if (!d.moving) { return; }
    suppressClick = true;
    setTimeout(function () { suppressClick = false; }, 0);
    var t = targetAt(e.clientX, e.clientY);
    if (!t) { return; }
    var change = dropChange(blockOf(d.block), t);
    if (change) { send(d.block, change); }
  });
  board.addEventListener("click", function (e) {
    if (suppressClick) { e.preventDefault(); suppressClick = false; }
  }, true);
})(this);
