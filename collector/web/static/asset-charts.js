/* Upkeep asset overview: interactive charts of any series (uPlot, served from /ui/static).
   Each <figure class="chart" data-series=ID data-unit=UNIT> inside #charts is drawn from
   /ui/assets/ASSET/series/ID/data?range=R; the range links redraw every chart; a series
   row's "Chart" button adds its chart; the search box filters the rows as you type.
   No inline script (the page's Content-Security-Policy forbids it). */
(function () {
  "use strict";
  var BIN = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  var RATE = ["B/s", "kB/s", "MB/s", "GB/s", "TB/s"];
  function short(v) {
    var a = Math.abs(v);
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return String(Number(v.toFixed(1)));
    return String(Number(v.toFixed(2)));
  }
  function scaled(v, names, step) {
    var i = 0, a = Math.abs(v);
    while (a >= step && i < names.length - 1) { a /= step; i++; }
    return (v < 0 ? "-" : "") + short(a) + " " + names[i];
  }
  function duration(s) {
    s = Math.abs(s);
    var units = [["day", 86400], ["hour", 3600], ["minute", 60]];
    for (var i = 0; i < units.length; i++) {
      if (s >= units[i][1] * (i === 2 ? 1 : 2)) {
        var n = Math.floor(s / units[i][1]);
        return n + " " + units[i][0] + (n === 1 ? "" : "s");
      }
    }
    return Math.floor(s) + " s";
  }
  function human(v, unit, states) {
    if (v === null || v === undefined) return "-";
    if (states && states[String(v)] !== undefined) return states[String(v)];
    switch (unit) {
      case "bytes": return scaled(v, BIN, 1024);
      case "bytes_per_second": return scaled(v, RATE, 1000);
      case "percent": return short(v) + " %";
      case "seconds": return Math.abs(v) < 1 ? short(v * 1000) + " ms" : duration(v);
      case "celsius": return short(v) + " °C";
      case "volts": return short(v) + " V";
      case "watts": return short(v) + " W";
      case "hertz": return short(v) + " Hz";
      case "per_second": return short(v) + " /s";
      default: return short(v);
    }
  }

  var panel = document.getElementById("charts");
  if (!panel || typeof uPlot === "undefined") return;
  var asset = panel.getAttribute("data-asset");
  var range = panel.getAttribute("data-range") || "7d";
  var plots = new Map();

  function draw(figure) {
    var id = figure.getAttribute("data-series");
    var unit = figure.getAttribute("data-unit") || "";
    figure.setAttribute("data-state", "loading");
    fetch("/ui/assets/" + asset + "/series/" + id + "/data?range=" + range, {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (body) {
      var old = plots.get(figure);
      if (old) { old.destroy(); plots.delete(figure); }
      var box = figure.querySelector(".plot");
      if (!box) { box = document.createElement("div"); box.className = "plot"; figure.appendChild(box); }
      var msg = figure.querySelector(".chart-empty");
      if (msg) msg.remove();
      figure.setAttribute("data-points", String(body.t.length));
      figure.setAttribute("data-source", body.source);
      if (!body.t.length) {
        msg = document.createElement("p");
        msg.className = "chart-empty empty";
        msg.textContent = "No data in the last " + range + ".";
        figure.appendChild(msg);
        figure.setAttribute("data-state", "empty");
        return;
      }
      var fmt = function (u, v) { return human(v, unit, body.states); };
      var width = Math.max(300, Math.min(figure.clientWidth || 600, 1200));
      var opts = {
        width: width, height: 220,
        scales: { x: { time: true } },
        axes: [{}, { values: function (u, vals) { return vals.map(function (v) { return human(v, unit, body.states); }); }, size: 80 }],
        series: [
          {},
          { label: "average", stroke: "#1f5fa8", width: 1.5, value: fmt },
          { label: "min", stroke: "#9db4d0", width: 1, value: fmt },
          { label: "max", stroke: "#9db4d0", width: 1, value: fmt }
        ],
        cursor: { drag: { x: true, y: false } }
      };
      plots.set(figure, new uPlot(opts, [body.t, body.avg, body.min, body.max], box));
      figure.setAttribute("data-state", "drawn");
    }).catch(function (err) {
      figure.setAttribute("data-state", "error");
      var p = document.createElement("p");
      p.className = "error";
      p.textContent = "Could not load the chart: " + err.message;
      figure.appendChild(p);
    });
  }

  function drawAll() { panel.querySelectorAll("figure.chart").forEach(draw); }

  document.querySelectorAll(".ranges a[data-range]").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      range = a.getAttribute("data-range");
      panel.setAttribute("data-range", range);
      document.querySelectorAll(".ranges a").forEach(function (b) {
        b.classList.toggle("current", b === a);
        if (b === a) b.setAttribute("aria-current", "true"); else b.removeAttribute("aria-current");
      });
      drawAll();
    });
  });

  document.querySelectorAll("button.show-chart").forEach(function (button) {
    button.addEventListener("click", function () {
      var id = button.getAttribute("data-series");
      var existing = panel.querySelector('figure.chart[data-series="' + id + '"]');
      if (existing) { existing.scrollIntoView({ block: "center" }); return; }
      var fig = document.createElement("figure");
      fig.className = "chart";
      fig.setAttribute("data-series", id);
      fig.setAttribute("data-unit", button.getAttribute("data-unit") || "");
      var cap = document.createElement("figcaption");
      cap.textContent = button.getAttribute("data-title");
      fig.appendChild(cap);
      panel.insertBefore(fig, panel.firstChild);
      draw(fig);
      fig.scrollIntoView({ block: "center" });
    });
  });

  var search = document.getElementById("series-search");
  if (search) {
    search.addEventListener("input", function () {
      var needle = search.value.trim().toLowerCase();
      document.querySelectorAll("tr.series-row").forEach(function (row) {
        row.hidden = needle !== "" && row.getAttribute("data-search").indexOf(needle) < 0;
      });
    });
  }

  drawAll();
})();
