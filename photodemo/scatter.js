/* photodemo's plot: luminance by year from #plot-data, drawn into #chart as plain SVG (no library).
   Text from the data (URLs, years) reaches the page only through textContent and attributes, never
   as markup; a photo opens only where page.py's link_target gave it a link (data.links says where
   not). Any numbers draw in bounded time: non-finite values are left out, loops are counted. */
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";
  var MAX_TICKS = 50;
  var data = JSON.parse(document.getElementById("plot-data").textContent);
  var chart = document.getElementById("chart");
  var tip = document.getElementById("tip");

  // Geometry in viewBox units; the SVG scales to the column's width (and to paper when printed).
  var W = 1000, H = 520;
  var M = { left: 66, right: 16, top: 34, bottom: 50 };
  var hasUnknown = typeof data.unknown === "number" && isFinite(data.unknown);
  var stripW = hasUnknown ? 62 : 0, gap = hasUnknown ? 26 : 0;
  var plotL = M.left, plotR = W - M.right - stripW - gap, plotT = M.top, plotB = H - M.bottom;
  var stripL = plotR + gap, stripR = stripL + stripW;

  function el(name, attrs, parent, text) {
    var node = document.createElementNS(SVGNS, name);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function finite(v) { return typeof v === "number" && isFinite(v); }

  function niceStep(span, count) {
    var raw = span / count, power = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10)), m = raw / power;
    var step = power * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10);
    return finite(step) && step > 0 ? step : 1;
  }

  // Ticks counted, not stepped to: near 1e20, v + step === v and a stepping loop never ends.
  function ticks(lo, hi, count) {
    var step = niceStep(hi - lo, count), out = [];
    var first = Math.ceil(lo / step - 1e-9), n = Math.floor(hi / step + 1e-9) - first;
    if (!finite(first) || !finite(n)) n = -1;
    for (var k = 0; k <= Math.min(n, MAX_TICKS); k++) out.push(+((first + k) * step).toFixed(9));
    return { values: out, step: step };
  }

  function fmt(n) { return Number(n).toLocaleString("en-US"); }

  // -- domains ------------------------------------------------------------------------------------
  data.trend = data.trend.filter(function (row) { return finite(row[0]) && finite(row[1]); });
  if (!finite(data.unknown)) data.unknown = null;
  if (data.mode !== "scatter") {
    data.cells = data.cells.filter(function (cell) {
      return (cell[0] === null || finite(cell[0])) && finite(cell[1]) && finite(cell[2]);
    });
  }
  var years = data.trend.map(function (row) { return row[0]; });
  var lumLo = Infinity, lumHi = -Infinity, i;
  if (data.mode === "scatter") {
    for (i = 0; i < data.y.length; i++) {
      if (!finite(data.y[i])) continue;
      if (data.y[i] < lumLo) lumLo = data.y[i];
      if (data.y[i] > lumHi) lumHi = data.y[i];
    }
  } else {
    data.cells.forEach(function (cell) {
      lumLo = Math.min(lumLo, cell[1] / data.bins);
      lumHi = Math.max(lumHi, (cell[1] + 1) / data.bins);
    });
  }
  if (!isFinite(lumLo)) { lumLo = 0; lumHi = 1; }
  // Snap the luminance axis to its own tick step, so that both ends carry a label.
  var yStep = niceStep(Math.max(lumHi - lumLo, 0.2), 5);
  var yLo = Math.floor(lumLo / yStep + 1e-9) * yStep, yHi = Math.ceil(lumHi / yStep - 1e-9) * yStep;
  if (yHi - yLo < 0.2) { yHi = yLo + 0.2; }
  var xLo = years.length ? years[0] : 1900, xHi = years.length ? years[years.length - 1] : 2000;
  var pad = Math.max(1, (xHi - xLo) * 0.015);
  xLo -= pad; xHi += pad;
  if (!finite(xHi - xLo) || xHi <= xLo) { xLo = 1900; xHi = 2000; }  // years past any float's reach

  function sx(year) { return plotL + (year - xLo) / (xHi - xLo) * (plotR - plotL); }
  function sy(lum) { return plotB - (lum - yLo) / (yHi - yLo) * (plotB - plotT); }

  // -- frame: grid, axes, labels --------------------------------------------------------------------
  var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "class": "chart",
                        preserveAspectRatio: "xMidYMid meet" });
  el("title", {}, svg, "Luminance (" + (data.metric || "unknown metric") + ") of each photo by year");
  var frame = el("g", { "class": "frame" }, svg);
  var yTicks = ticks(yLo, yHi, 5);
  yTicks.values.forEach(function (v) {
    el("line", { x1: plotL, x2: hasUnknown ? stripR : plotR, y1: sy(v), y2: sy(v), "class": "grid" }, frame);
    el("text", { x: plotL - 8, y: sy(v), "class": "tick y" }, frame, v.toFixed(yTicks.step < 0.1 ? 2 : 1));
  });
  var xTicks = ticks(xLo, xHi, 10);
  xTicks.values.forEach(function (v) {
    if (Math.round(v) !== v || !years.length) return;  // no year ticks on an axis with no years
    el("line", { x1: sx(v), x2: sx(v), y1: plotB, y2: plotB + 5, "class": "axis" }, frame);
    el("text", { x: sx(v), y: plotB + 19, "class": "tick x" }, frame, String(v));
  });
  el("line", { x1: plotL, x2: plotR, y1: plotB, y2: plotB, "class": "axis" }, frame);
  el("line", { x1: plotL, x2: plotL, y1: plotT, y2: plotB, "class": "axis" }, frame);
  el("text", { x: (plotL + plotR) / 2, y: H - 8, "class": "label" }, frame, "Year taken");
  el("text", { x: 0, y: 0, "class": "label", transform: "translate(16 " + (plotT + plotB) / 2 + ") rotate(-90)" },
     frame, "Average luminance (" + (data.metric || "unknown metric") + ")");
  if (hasUnknown) {
    el("rect", { x: stripL, y: plotT, width: stripW, height: plotB - plotT, "class": "strip" }, frame);
    el("line", { x1: stripL, x2: stripR, y1: plotB, y2: plotB, "class": "axis" }, frame);
    el("text", { x: (stripL + stripR) / 2, y: plotB + 19, "class": "tick x" }, frame, "year");
    el("text", { x: (stripL + stripR) / 2, y: plotB + 33, "class": "tick x" }, frame, "unknown");
  }
  if (!years.length) {
    el("text", { x: (plotL + plotR) / 2, y: (plotT + plotB) / 2, "class": "empty" }, frame,
       data.photos ? "No photo has a known year" : "No photo was analyzed: see the failures below");
  }

  // -- marks ----------------------------------------------------------------------------------------
  var marks = el("g", { "class": "marks" }, svg);
  var plotted = 0, plottedKnown = 0, plottedUnknown = 0, markCount = 0;
  var targets = [];  // per mark: what the tooltip says and where a click goes
  var grid = {};  // viewBox cell (12 units) -> mark indices, for nearest-point hover
  var CELL = 12;

  function golden(k) { return (k * 0.6180339887498949) % 1; }

  function linkOf(k) {  // page.py listed every URL that is not its own link
    return Object.prototype.hasOwnProperty.call(data.links, String(k)) ? data.links[String(k)]
      : data.prefix + data.u[k];
  }

  if (data.mode === "scatter") {
    var fragment = document.createDocumentFragment();
    for (i = 0; i < data.y.length; i++) {
      var year = data.x[i], cx;
      if (!finite(data.y[i]) || (year !== null && !finite(year))) continue;
      if (year === null) {
        cx = stripL + 8 + golden(i) * (stripW - 16);
        plottedUnknown++;
      } else {
        // Spread a year's photos across most of its width: they would hide each other on one line.
        cx = sx(year + (golden(i) - 0.5) * 0.7);
        plottedKnown++;
      }
      var cy = sy(data.y[i]);
      el("circle", { cx: cx.toFixed(1), cy: cy.toFixed(1), r: 2.6, "class": year === null ? "pt u" : "pt" },
         fragment);
      var key = Math.floor(cx / CELL) + "," + Math.floor(cy / CELL);
      (grid[key] || (grid[key] = [])).push(markCount);
      targets.push({ x: cx, y: cy, k: i });
      markCount++;
    }
    marks.appendChild(fragment);
    plotted = plottedKnown + plottedUnknown;
  } else {
    var most = 1;
    data.cells.forEach(function (cell) { most = Math.max(most, cell[2]); });
    var dense = document.createDocumentFragment();
    data.cells.forEach(function (cell) {
      var year = cell[0], lo = cell[1] / data.bins, hi = (cell[1] + 1) / data.bins;
      var x0 = year === null ? stripL + 4 : sx(year - 0.5), x1 = year === null ? stripR - 4 : sx(year + 0.5);
      var shade = 0.12 + 0.88 * Math.log(1 + cell[2]) / Math.log(1 + most);
      el("rect", { x: x0.toFixed(2), y: sy(hi).toFixed(2), width: Math.max(x1 - x0, 0.6).toFixed(2),
                   height: (sy(lo) - sy(hi)).toFixed(2), "fill-opacity": shade.toFixed(3),
                   "class": "cell", "data-k": targets.length }, dense);
      targets.push({ cell: cell });
      plotted += cell[2];
      if (year === null) plottedUnknown += cell[2]; else plottedKnown += cell[2];
      markCount++;
    });
    marks.appendChild(dense);
  }

  // The per-year mean: the trend the tutorial's plot left to the eye.
  var trend = el("g", { "class": "trend" }, svg);
  // A year of one or two photos has a mean that swings with chance: it gets a hollow mark of its
  // own, off the line. data.trendMin is page.trend_min's (0 when too few years are well sampled
  // to draw a line without them).
  var joined = data.trend.filter(function (row) { return row[2] >= data.trendMin; });
  if (joined.length > 1) {
    el("polyline", { points: joined.map(function (row) {
      return sx(row[0]).toFixed(1) + "," + sy(row[1]).toFixed(1);
    }).join(" "), "class": "mean" }, trend);
  }
  data.trend.forEach(function (row) {
    var sparse = joined.indexOf(row) < 0;
    el("circle", { cx: sx(row[0]).toFixed(1), cy: sy(row[1]).toFixed(1), r: sparse ? 3 : 2.2,
                   "class": sparse ? "mean-dot sparse" : "mean-dot" }, trend);
  });
  if (hasUnknown) {
    el("line", { x1: stripL + 4, x2: stripR - 4, y1: sy(data.unknown), y2: sy(data.unknown), "class": "mean" }, trend);
  }

  // Legend, above the plot's top-left corner.
  var legend = el("g", { "class": "legend", transform: "translate(" + plotL + " 14)" }, svg);
  if (data.mode === "scatter") {
    el("circle", { cx: 4, cy: 0, r: 4, "class": "key-pt" }, legend);
    el("text", { x: 12, y: 0 }, legend, "one photo (" + fmt(plotted) + ")");
  } else {
    el("rect", { x: 0, y: -5, width: 10, height: 10, "class": "key-cell", "fill-opacity": 0.6 }, legend);
    el("text", { x: 14, y: 0 }, legend, "photos per year and luminance band (" + fmt(plotted) + ")");
  }
  var second = data.mode === "scatter" ? 150 : 330;
  el("line", { x1: second, x2: second + 22, y1: 0, y2: 0, "class": "mean" }, legend);
  el("text", { x: second + 28, y: 0 }, legend, "mean of each year");

  var highlight = el("circle", { r: 5.5, "class": "hl", visibility: "hidden" }, svg);
  chart.textContent = "";
  chart.appendChild(svg);

  // -- hover and click --------------------------------------------------------------------------------
  var current = null;

  function toViewBox(event) {
    var point = svg.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    var matrix = svg.getScreenCTM();
    return matrix ? point.matrixTransform(matrix.inverse()) : null;
  }

  function nearest(p) {
    var best = null, bestD = 9 * 9, gx = Math.floor(p.x / CELL), gy = Math.floor(p.y / CELL);
    for (var dx = -1; dx <= 1; dx++) {
      for (var dy = -1; dy <= 1; dy++) {
        var bucket = grid[(gx + dx) + "," + (gy + dy)];
        if (!bucket) continue;
        for (var b = 0; b < bucket.length; b++) {
          var t = targets[bucket[b]], d = (t.x - p.x) * (t.x - p.x) + (t.y - p.y) * (t.y - p.y);
          if (d < bestD) { bestD = d; best = t; }
        }
      }
    }
    return best;
  }

  function line(text, cls) {
    var div = document.createElement("div");
    if (cls) div.className = cls;
    div.textContent = text;
    tip.appendChild(div);
  }

  function show(target, event) {
    tip.textContent = "";
    if (target.cell) {
      var cell = target.cell;
      line(cell[0] === null ? "year unknown" : String(cell[0]), "year");
      line("luminance " + (cell[1] / data.bins).toFixed(2) + "–" + ((cell[1] + 1) / data.bins).toFixed(2));
      line(fmt(cell[2]) + (cell[2] === 1 ? " photo" : " photos"));
    } else {
      var k = target.k, link = linkOf(k);
      line(data.x[k] === null ? "year unknown" : String(data.x[k]), "year");
      line("luminance " + data.y[k].toFixed(6));
      line(data.prefix + data.u[k], "url");
      line(link ? "click to open the photo" : "no link: not an http, https or file URL", "hint");
      highlight.setAttribute("cx", target.x);
      highlight.setAttribute("cy", target.y);
      highlight.setAttribute("visibility", "visible");
    }
    tip.hidden = false;
    var x = event.clientX + 14, y = event.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth - 8) x = Math.max(8, event.clientX - tip.offsetWidth - 14);
    if (y + tip.offsetHeight > window.innerHeight - 8) y = Math.max(8, event.clientY - tip.offsetHeight - 14);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }

  function hide() {
    current = null;
    tip.hidden = true;
    highlight.setAttribute("visibility", "hidden");
    svg.style.cursor = "";
  }

  svg.addEventListener("mousemove", function (event) {
    var target = null;
    if (data.mode === "scatter") {
      var p = toViewBox(event);
      target = p ? nearest(p) : null;
    } else if (event.target.hasAttribute && event.target.hasAttribute("data-k")) {
      target = targets[Number(event.target.getAttribute("data-k"))];
    }
    if (!target) return hide();
    current = target;
    svg.style.cursor = target.cell || !linkOf(target.k) ? "" : "pointer";
    show(target, event);
  });
  svg.addEventListener("mouseleave", hide);
  svg.addEventListener("click", function () {
    if (!current || current.cell) return;
    var link = linkOf(current.k);
    if (link) window.open(link, "_blank", "noopener,noreferrer");
  });

  // Printing: the per-year table is worth having on paper, so open it.
  window.addEventListener("beforeprint", function () {
    var details = document.querySelectorAll("details");
    for (var d = 0; d < details.length; d++) details[d].open = true;
  });

})();
