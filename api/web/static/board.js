// The week board: drag a visit block onto another carer's row to move it (plain JavaScript,
// pointer events, so a mouse, a pen or a test driver can do it). The change goes to the same
// checked hand edit as the form on the visit's page; a refusal lists every broken rule.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) { return; }
  var csrf = board.getAttribute("data-csrf");
  var result = document.getElementById("move-result");
  var drag = null;
  var suppressClick = false;

  function cellAt(x, y) {
    var el = document.elementFromPoint(x, y);
    while (el && el !== document.body) {
      if (el.classList && el.classList.contains("cell")) { return el; }
      el = el.parentNode;
    }
    return null;
  }

  function clearTargets() {
    var marked = board.querySelectorAll(".drop-target");
    for (var i = 0; i < marked.length; i++) { marked[i].classList.remove("drop-target"); }
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

  function move(block, toCarer) {
    var from = block.getAttribute("data-from");
    var carers = block.getAttribute("data-carers").split(",").filter(Boolean);
    if (carers.indexOf(toCarer) >= 0) { return; }
    var next = carers.map(function (c) { return c === from ? toCarer : c; });
    var body = new FormData();
    body.append("csrf_token", csrf);
    next.forEach(function (c) { body.append("carer_ids", c); });
    body.append("start", block.getAttribute("data-start"));
    var url = "/web/rotas/" + block.getAttribute("data-rota") + "/visits/" +
      block.getAttribute("data-visit") + "/move";
    show(true, "Checking the change…", []);
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
      var cell = cellAt(e.clientX, e.clientY);
      if (cell) { cell.classList.add("drop-target"); }
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
    var cell = cellAt(e.clientX, e.clientY);
    if (cell && cell.getAttribute("data-carer") !== d.block.getAttribute("data-from")) {
      move(d.block, cell.getAttribute("data-carer"));
    }
  });
  board.addEventListener("click", function (e) {
    if (suppressClick) { e.preventDefault(); suppressClick = false; }
  }, true);
})();
