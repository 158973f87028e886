// Live updates for the dashboard: polls /api/dashboard and rebuilds the sections with textContent only
// (never innerHTML), so a file name is always text. Without JavaScript the page simply does not refresh.
"use strict";
(function () {
  var INTERVAL = 5000;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function stateCell(r) {
    var s = el("span", "state " + r.group);
    var icon = el("span", "icon", r.icon);
    icon.setAttribute("aria-hidden", "true");
    s.appendChild(icon);
    s.appendChild(document.createTextNode(" " + r.label));
    return s;
  }

  function jobTable(rows, empty) {
    if (!rows.length) return el("p", "empty", empty);
    var table = el("table", "jobs");
    var head = table.appendChild(el("thead")).appendChild(el("tr"));
    ["File", "Folder", "Numbers", "State", "When"].forEach(function (h) { head.appendChild(el("th", "", h)); });
    var body = table.appendChild(el("tbody"));
    rows.forEach(function (r) {
      var tr = body.appendChild(el("tr"));
      var file = tr.appendChild(el("td", "file"));
      var a = file.appendChild(el("a", "", r.name));
      a.href = r.href;
      if (r.reason && r.group === "bad") file.appendChild(el("div", "reason", r.reason));
      tr.appendChild(el("td", "", r.folder));
      tr.appendChild(el("td", "num", r.numbers));
      tr.appendChild(el("td")).appendChild(stateCell(r));
      tr.appendChild(el("td", "age", r.age));
    });
    return table;
  }

  function folderRows(folders) {
    var body = el("tbody");
    folders.forEach(function (f) {
      var tr = body.appendChild(el("tr", f.up ? "up" : "down"));
      var a = tr.appendChild(el("td")).appendChild(el("a", "", f.name));
      a.href = "/jobs?folder=" + encodeURIComponent(f.name);
      [f.status, f.waiting, f.in_flight, f.failed].forEach(function (v) { tr.appendChild(el("td", "", String(v))); });
    });
    return body;
  }

  function replace(id, node) {
    var box = document.getElementById(id);
    if (!box) return;
    while (box.firstChild) box.removeChild(box.firstChild);
    box.appendChild(node);
  }

  function render(d) {
    var banner = document.getElementById("sending");
    banner.className = "banner " + (d.sending.ok ? "ok" : "paused");
    document.getElementById("sending-text").textContent = (d.sending.ok ? "✓ " : "⏸ ") + d.sending.text;
    document.getElementById("sending-until").textContent = d.sending.until;
    var table = document.getElementById("folders");
    table.replaceChild(folderRows(d.folders), table.tBodies[0]);
    replace("failures", jobTable(d.failures, "No failures in the last 24 hours."));
    replace("recent", jobTable(d.recent, "No jobs yet."));
    document.getElementById("updated").textContent = d.updated;
  }

  function poll() {
    fetch("/api/dashboard", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (d) { render(d); document.getElementById("live").className = ""; })
      .catch(function () { document.getElementById("live").className = "hidden"; })
      .then(function () { setTimeout(poll, INTERVAL); });
  }

  document.addEventListener("DOMContentLoaded", function () { setTimeout(poll, INTERVAL); });
})();
