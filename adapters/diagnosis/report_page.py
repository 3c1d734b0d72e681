"""The report page's style and its one inline script: zoom by dragging across a lane (or the
buttons), and pages of lanes for `--all`. No server and nothing fetched: the page is one file."""

from __future__ import annotations

from typing import Final

__all__ = ["ALL_SHOWN", "CSS", "LANES_SHOWN", "PAGE_SIZE", "SCRIPT"]

LANES_SHOWN: Final = 12  # lanes by default: the longest stalls
PAGE_SIZE: Final = 50  # lanes to a page with --all
# Lanes at most with --all: a year's log holds hundreds of thousands of recordings, each lane
# of a stall explained at every change. The longest stalls first, then the calm ones; the rest
# are counted on the page and left to `why --all` and `status`.
ALL_SHOWN: Final = 10 * PAGE_SIZE

CSS: Final = """
*{box-sizing:border-box}
body{font:13px/1.35 system-ui,-apple-system,"Segoe UI",sans-serif;margin:16px;color:#222}
h1{font-size:19px;margin:0 0 2px}h2{font-size:15px;margin:16px 0 6px}
.meta{color:#555;margin:0 0 4px}
.note{background:#fff6d6;border:1px solid #e8d48a;padding:3px 8px;margin:4px 0}
.legend{margin:4px 0;display:flex;flex-direction:column;gap:1px;font-size:12px}
.key{display:inline-flex;align-items:center;gap:3px;margin-right:9px}
.tools{margin:4px 0;display:flex;gap:6px;align-items:center;font-size:12px}
.tools button{font:inherit;padding:1px 8px}
.chart{display:grid;grid-template-columns:170px minmax(300px,680px) minmax(200px,1fr);column-gap:10px;
row-gap:2px;align-items:center;position:relative;user-select:none}
svg.plot,svg.axis{width:100%}
.row{display:contents}.lane-label{font:12px/1.2 ui-monospace,Menlo,Consolas,monospace;overflow:hidden}
.lane-label small{font-family:system-ui,sans-serif;color:#666}
.lane-why{font-size:12px;line-height:1.25;max-height:31px;overflow:hidden;color:#333}
.lane-why b{font-weight:600}.plot{display:block;background:#fafafa;border:1px solid #eee;cursor:crosshair}
.axis text{font-size:11px;fill:#333}.axis .date{font-weight:600}
.more{grid-column:1/-1;color:#555;padding:3px 0}
.chart.paged .row.off{display:none}
#selection{position:absolute;top:0;bottom:0;background:rgba(30,100,200,.15);border:1px solid #1e64c8;
display:none;pointer-events:none}
.why-item{border-top:1px solid #eee;padding:5px 0}.why-item h3{font-size:13px;margin:0;
font-family:ui-monospace,Menlo,Consolas,monospace}.why-item .reason{color:#555}.why-item p{margin:2px 0}
"""

# Places every shape again for a new window: the same arithmetic as svg.Window.x_of.
SCRIPT: Final = r"""
(function () {
  "use strict";
  var chart = document.getElementById("chart");
  if (!chart) { return; }
  var W = Number(chart.getAttribute("data-plot-width"));
  var fit = [Number(chart.getAttribute("data-t0")), Number(chart.getAttribute("data-t1"))];
  var whole = [Number(chart.getAttribute("data-log-t0")), Number(chart.getAttribute("data-log-t1"))];
  var win = fit.slice();
  var STEPS = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];
  function x(t) { return Math.min(Math.max((t - win[0]) / Math.max(win[1] - win[0], 1) * W, 0), W); }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function axis() {
    var svg = chart.querySelector("svg.axis"), ns = "http://www.w3.org/2000/svg";
    if (!svg) { return; }
    svg.querySelectorAll("g.tick").forEach(function (g) { g.remove(); });
    var span = Math.max(win[1] - win[0], 1), step = STEPS[STEPS.length - 1], day = "";
    for (var i = 0; i < STEPS.length; i++) { if (span / STEPS[i] <= 8) { step = STEPS[i]; break; } }
    for (var t = (Math.floor(win[0] / step) + 1) * step; t <= win[1]; t += step) {
      var d = new Date(t * 1000), px = x(t).toFixed(1), g = document.createElementNS(ns, "g");
      var date = d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
      g.setAttribute("class", "tick");
      g.innerHTML = '<line x1="' + px + '" y1="28" x2="' + px + '" y2="34" stroke="#333"/>' +
        '<text x="' + px + '" y="25" text-anchor="middle">' + pad(d.getUTCHours()) + ":" +
        pad(d.getUTCMinutes()) + "</text>" + (date !== day ?
        '<text x="' + px + '" y="10" text-anchor="middle" class="date">' + date + "</text>" : "");
      day = date;
      svg.appendChild(g);
    }
  }
  // The plots take the width their column has (narrower than PLOT_W in a narrow window): each
  // drawing is laid out again for that width, never scaled, so marks and text keep their size.
  function fitWidth() {
    var first = chart.querySelector("svg.plot"), w = first ? first.clientWidth : 0;
    if (w <= 0) { return; }
    W = w;
    chart.querySelectorAll("svg.plot, svg.axis").forEach(function (svg) {
      svg.setAttribute("viewBox", "0 0 " + w + " " + svg.getAttribute("height"));
    });
    chart.querySelectorAll("svg.axis line.baseline").forEach(function (l) { l.setAttribute("x2", w); });
  }
  function draw() {
    chart.querySelectorAll("[data-s]").forEach(function (el) {
      var s = Number(el.getAttribute("data-s")), e = Number(el.getAttribute("data-e"));
      var a = x(s), w = (e > win[0] && s < win[1]) ? Math.max(x(e) - a, 0.8) : 0;
      el.setAttribute("x", a.toFixed(1));
      el.setAttribute("width", w.toFixed(1));
    });
    chart.querySelectorAll("[data-t]").forEach(function (el) {
      var t = Number(el.getAttribute("data-t")), px = x(t);
      el.style.display = (t < win[0] || t > win[1]) ? "none" : "";
      if (el.tagName.toLowerCase() === "circle") { el.setAttribute("cx", px.toFixed(1)); }
      else { el.setAttribute("x", (px - 1).toFixed(1)); }
    });
    axis();
    var shown = document.getElementById("window");
    if (shown) {
      shown.textContent = new Date(win[0] * 1000).toISOString().slice(0, 19) + "Z to " +
        new Date(win[1] * 1000).toISOString().slice(0, 19) + "Z";
    }
  }
  function zoom(a, b) { if (b - a >= 60) { win = [a, b]; draw(); } }
  function on(id, f) { var b = document.getElementById(id); if (b) { b.addEventListener("click", f); } }
  on("fit", function () { zoom(fit[0], fit[1]); });
  on("whole", function () { zoom(whole[0], whole[1]); });
  on("out", function () {
    var mid = (win[0] + win[1]) / 2, half = win[1] - win[0];
    zoom(Math.max(whole[0], mid - half), Math.min(whole[1], mid + half));
  });
  var box = document.getElementById("selection"), start = null, plot = null;
  function timeAt(ev) {
    var r = plot.getBoundingClientRect(), f = Math.min(Math.max((ev.clientX - r.left) / r.width, 0), 1);
    return win[0] + f * (win[1] - win[0]);
  }
  chart.addEventListener("mousedown", function (ev) {
    plot = ev.target.closest ? ev.target.closest("svg.plot") : null;
    if (!plot) { return; }
    start = ev.clientX;
    ev.preventDefault();
  });
  window.addEventListener("mousemove", function (ev) {
    if (start === null || !box) { return; }
    var c = chart.getBoundingClientRect();
    box.style.display = "block";
    box.style.left = (Math.min(start, ev.clientX) - c.left) + "px";
    box.style.width = Math.abs(ev.clientX - start) + "px";
  });
  window.addEventListener("mouseup", function (ev) {
    if (start === null) { return; }
    var r = plot.getBoundingClientRect(), a = start, b = ev.clientX;
    if (box) { box.style.display = "none"; }
    start = null;
    if (Math.abs(b - a) < 4) { return; }
    var ta = win[0] + Math.min(Math.max((Math.min(a, b) - r.left) / r.width, 0), 1) * (win[1] - win[0]);
    zoom(ta, timeAt({clientX: Math.max(a, b)}));
  });
  var size = Number(chart.getAttribute("data-page-size") || 0);
  if (size > 0) {
    var rows = chart.querySelectorAll(".row.lane-row"), pages = Math.max(1, Math.ceil(rows.length / size));
    var page = 0, label = document.getElementById("page");
    var show = function (p) {
      page = Math.min(Math.max(p, 0), pages - 1);
      rows.forEach(function (row, i) { row.classList.toggle("off", Math.floor(i / size) !== page); });
      if (label) { label.textContent = "page " + (page + 1) + " of " + pages; }
    };
    chart.classList.add("paged");
    on("prev", function () { show(page - 1); });
    on("next", function () { show(page + 1); });
    show(0);
  }
  fitWidth();
  draw();
  window.addEventListener("resize", function () { fitWidth(); draw(); });
}());
"""
