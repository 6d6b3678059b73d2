// Live progress of a batch: polls /batch/{id}/progress once a second until the batch has finished.
(function () {
  "use strict";
  var card = document.getElementById("progress-card");
  if (!card) { return; }
  var url = card.getAttribute("data-progress-url");
  function set(id, value) {
    var node = document.getElementById(id);
    if (node) { node.textContent = String(value); }
  }
  function update(snap) {
    var bar = document.getElementById("progress");
    bar.value = snap.percent;
    bar.textContent = snap.percent + " %";
    ["percent", "finished", "total", "issued", "skipped", "failed"].forEach(function (key) { set(key, snap[key]); });
    set("state", card.getAttribute("data-word-" + snap.state) || snap.state);
    var problem = snap.error || snap.stopped;
    var box = document.getElementById("batch-error");
    box.hidden = !problem;
    box.textContent = problem || "";
    document.getElementById("manifest").hidden = snap.state !== "finished";
    card.setAttribute("data-state", snap.state);
    return snap.state === "running";
  }
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (snap) { if (update(snap)) { window.setTimeout(poll, 1000); } })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  if (card.getAttribute("data-state") === "running") { poll(); }
}());
