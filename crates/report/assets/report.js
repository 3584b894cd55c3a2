/* stampede HTML report: draws the charts (uPlot) from the embedded data and sorts tables.
 * Each chart container gets data-drawn="1" and data-points="N" (values plotted) once drawn,
 * and #report-status records how many charts were drawn: the browser test reads both. */
(function () {
  "use strict";

  function trim(v) {
    return v.toFixed(2).replace(/\.?0+$/, "");
  }

  function fmtMs(v) {
    if (v == null || !isFinite(v)) return "–";
    if (v === 0) return "0";
    if (v < 1) return trim(v * 1000) + "µs";
    if (v < 1000) return trim(v) + "ms";
    return trim(v / 1000) + "s";
  }

  function fmtNum(v) {
    if (v == null || !isFinite(v)) return "–";
    if (Math.abs(v) >= 10000) return trim(v / 1000) + "k";
    if (Math.abs(v) >= 100) return v.toFixed(0);
    return trim(v);
  }

  function fmtSecs(v) {
    if (v == null) return "–";
    var s = Math.round(v);
    var m = Math.floor(s / 60);
    var r = s % 60;
    if (m === 0) return r + "s";
    return r === 0 ? m + "m" : m + "m" + (r < 10 ? "0" : "") + r + "s";
  }

  var UNITS = {
    ms: fmtMs,
    rps: function (v) { return v == null ? "–" : fmtNum(v) + "/s"; },
    count: fmtNum,
    percent: function (v) { return v == null ? "–" : trim(v) + "%"; },
    bytes: function (v) {
      if (v == null) return "–";
      var u = ["B", "kB", "MB", "GB", "TB"], i = 0;
      while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
      return trim(v) + " " + u[i];
    }
  };

  function drawMarks(u, marks) {
    var ctx = u.ctx, dpr = window.devicePixelRatio || 1;
    var left = u.bbox.left, right = u.bbox.left + u.bbox.width, top = u.bbox.top;
    ctx.save();
    ctx.strokeStyle = "#94a3b8";
    ctx.fillStyle = "#64748b";
    ctx.lineWidth = dpr;
    ctx.setLineDash([5 * dpr, 4 * dpr]);
    ctx.font = (10.5 * dpr) + "px system-ui, sans-serif";
    ctx.textBaseline = "top";
    // Labels go on the first of three rows where they do not overlap an earlier one; a
    // boundary whose label fits nowhere keeps its line (the Stages table names it).
    var rowEnds = [-1e9, -1e9, -1e9];
    marks.forEach(function (m) {
      var x = Math.round(u.valToPos(m.at, "x", true));
      if (x < left || x > right) return;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + u.bbox.height);
      ctx.stroke();
      var w = ctx.measureText(m.label).width;
      var onLeft = x + w + 6 * dpr > right;
      var from = onLeft ? x - w - 4 * dpr : x + 4 * dpr;
      for (var row = 0; row < rowEnds.length; row++) {
        if (from > rowEnds[row] + 6 * dpr) {
          rowEnds[row] = from + w;
          var y = top + (3 + row * 13) * dpr;
          ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
          ctx.fillRect(from - 2 * dpr, y - 1 * dpr, w + 4 * dpr, 12 * dpr);
          ctx.fillStyle = "#64748b";
          ctx.textAlign = "left";
          ctx.fillText(m.label, from, y);
          break;
        }
      }
    });
    ctx.restore();
  }

  function chartWidth(el) {
    return Math.max(260, Math.floor(el.getBoundingClientRect().width));
  }

  function drawChart(spec, data) {
    var el = document.querySelector('[data-chart="' + spec.id + '"]');
    if (!el) throw new Error("no container for chart " + spec.id);
    var fmt = UNITS[spec.unit] || fmtNum;
    var points = 0;
    var columns = [data.t];
    var series = [{ label: "run time", value: function (u, v) { return fmtSecs(v); } }];
    spec.series.forEach(function (s) {
      s.values.forEach(function (v) { if (v != null) points++; });
      columns.push(s.values);
      series.push({
        label: s.label,
        stroke: s.color,
        width: s.width || 2,
        fill: s.fill || undefined,
        dash: s.dash || undefined,
        spanGaps: false,
        value: function (u, v) { return fmt(v); }
      });
    });
    var opts = {
      width: chartWidth(el),
      height: 240,
      scales: {
        x: { time: false, range: [0, data.x_max] },
        // Headroom above the data for the stage labels.
        y: { range: function (u, min, max) { return [0, max > 0 ? max * (data.marks.length ? 1.3 : 1.1) : 1]; } }
      },
      axes: [
        { stroke: "#64748b", grid: { stroke: "#eef2f7", width: 1 }, ticks: { stroke: "#e2e8f0" },
          values: function (u, vals) { return vals.map(fmtSecs); } },
        { stroke: "#64748b", grid: { stroke: "#eef2f7", width: 1 }, ticks: { stroke: "#e2e8f0" }, size: 64,
          values: function (u, vals) { return vals.map(fmt); } }
      ],
      series: series,
      cursor: { drag: { x: true, y: false } },
      hooks: { draw: [function (u) { drawMarks(u, data.marks); }] }
    };
    var plot = new uPlot(opts, columns, el);
    el.setAttribute("data-points", String(points));
    el.setAttribute("data-drawn", "1");
    return { el: el, plot: plot };
  }

  function drawCharts() {
    var node = document.getElementById("report-data");
    var status = document.getElementById("report-status");
    if (!node) return;
    var data = JSON.parse(node.textContent);
    var drawn = [];
    data.charts.forEach(function (spec) {
      try {
        drawn.push(drawChart(spec, data));
      } catch (e) {
        window.__stampedeRecord("chart " + spec.id + ": " + (e && e.message || e));
      }
    });
    status.setAttribute("data-charts-expected", String(data.charts.length));
    status.setAttribute("data-charts-drawn", String(drawn.length));
    status.textContent = drawn.length + " of " + data.charts.length + " charts drawn";
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        drawn.forEach(function (d) { d.plot.setSize({ width: chartWidth(d.el), height: 240 }); });
      }, 100);
    });
  }

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return "";
    var v = cell.getAttribute("data-v");
    if (v !== null) return parseFloat(v);
    return cell.textContent.trim().toLowerCase();
  }

  function makeSortable(table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, index) {
      if (!th.hasAttribute("data-sort")) return;
      th.setAttribute("tabindex", "0");
      function sort() {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a, index), y = cellValue(b, index);
          var c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
          return ascending ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
      });
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
    drawCharts();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
