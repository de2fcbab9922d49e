// The board: drag a card onto another column to move the lead there. Each card also has a stage menu and a Move
// button, so the board works from the keyboard and without this script.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  ready(function () {
    var board = document.querySelector(".board");
    if (!board) { return; }
    var moveUrl = board.getAttribute("data-move-url");
    var token = document.querySelector("input[name=csrfmiddlewaretoken]");
    var dragged = null;
    board.querySelectorAll(".lead-card[draggable=true]").forEach(function (card) {
      card.addEventListener("dragstart", function (event) {
        dragged = card;
        card.classList.add("dragging");
        event.dataTransfer.setData("text/plain", card.getAttribute("data-lead"));
        event.dataTransfer.effectAllowed = "move";
      });
      card.addEventListener("dragend", function () { card.classList.remove("dragging"); dragged = null; });
    });
    board.querySelectorAll(".column").forEach(function (column) {
      var stage = column.getAttribute("data-stage");
      if (!stage) { return; }  // "No stage" takes no drops
      column.addEventListener("dragover", function (event) { event.preventDefault(); column.classList.add("over"); });
      column.addEventListener("dragleave", function () { column.classList.remove("over"); });
      column.addEventListener("drop", function (event) {
        event.preventDefault();
        column.classList.remove("over");
        var lead = event.dataTransfer.getData("text/plain") || (dragged && dragged.getAttribute("data-lead"));
        if (!lead || !token) { return; }
        var body = new FormData();
        body.append("lead", lead);
        body.append("stage", stage);
        body.append("csrfmiddlewaretoken", token.value);
        fetch(moveUrl, { method: "POST", body: body, headers: { "Accept": "application/json" }, credentials: "same-origin" })
          .then(function (response) {
            if (response.ok) { window.location.reload(); return; }
            return response.json().then(function (answer) {
              window.alert(answer.detail + " " + Object.values(answer.fields || {}).join(" "));
            });
          })
          .catch(function () { window.alert("The move did not reach Ladder; try again."); });
      });
    });
  });
})();
