(function () {
  "use strict";
  // Sorting: a click on a header of a table.sortable orders its body rows by that column
  // (numbers by value from data-value, else text); a second click reverses; blanks stay last.
  function cellKey(cell) {
    var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
    if (raw === "") return null;
    var number = Number(raw);
    return isNaN(number) ? raw.toLowerCase() : number;
  }
  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th) {
      th.title = "sort by " + th.textContent.trim();
      th.addEventListener("click", function () {
        var index = th.cellIndex;
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).map(function (row, i) {
          return { row: row, key: cellKey(row.cells[index]), i: i };
        });
        rows.sort(function (x, y) {
          if (x.key === null || y.key === null) return (x.key === null) - (y.key === null) || x.i - y.i;
          return (ascending ? 1 : -1) * compare(x.key, y.key) || x.i - y.i;
        });
        rows.forEach(function (r) { body.appendChild(r.row); });
      });
    });
  });
  // Hover: elements that share a data-link value light up together (a factor's row in the
  // score table, its latent's column and its traversal).
  document.querySelectorAll("[data-link]").forEach(function (el) {
    function toggle(on) {
      var key = el.getAttribute("data-link");
      document.querySelectorAll('[data-link="' + key + '"]').forEach(function (other) {
        other.classList.toggle("linked", on);
      });
    }
    el.addEventListener("mouseenter", function () { toggle(true); });
    el.addEventListener("mouseleave", function () { toggle(false); });
  });
})();
