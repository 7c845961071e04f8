// The analytics page: draw each agent's daily metrics with plotly.js (served from the PyPI
// package's plotly.min.js). Each chart's element gets data-rendered="N" (its trace count) once drawn.
(function () {
  "use strict";
  function line(x, y, name, extra) {
    return Object.assign({ x: x, y: y, name: name, type: "scatter", mode: "lines+markers", connectgaps: false }, extra || {});
  }
  var DAY_MS = 86400000;
  function layout(title, yTitle, range, days) {
    // whole days on the x axis: at most ~10 ticks, never a tick inside a day
    var step = Math.max(1, Math.ceil(days / 10)) * DAY_MS;
    return {
      title: { text: title, font: { size: 14 } },
      margin: { l: 50, r: 10, t: 40, b: 40 },
      xaxis: { type: "date", tickformat: "%b %-d", dtick: step, hoverformat: "%Y-%m-%d" },
      yaxis: Object.assign({ title: { text: yTitle }, rangemode: "tozero" }, range ? { range: range } : {}),
      legend: { orientation: "h", y: -0.2 },
    };
  }
  function span(days) {
    return days.length ? (Date.parse(days[days.length - 1]) - Date.parse(days[0])) / DAY_MS + 1 : 1;
  }
  function traces(kind, s) {
    if (kind === "rates") {
      return [line(s.day, s.acceptance, "acceptance %"), line(s.day, s.rejection, "rejection %"), line(s.day, s.hit_rate, "retrieval hit rate %")];
    }
    if (kind === "latency") {
      return [line(s.day, s.p50, "p50 ms"), line(s.day, s.p95, "p95 ms")];
    }
    return [{ x: s.day, y: s.interactions, name: "interactions", type: "bar" }, { x: s.day, y: s.judged, name: "judged", type: "bar" }];
  }
  var titles = {
    rates: ["Acceptance, rejection and retrieval hit rate", "%", [0, 100]],
    latency: ["Latency (total per interaction)", "ms", null],
    volume: ["Interactions per day", "count", null],
  };
  function draw() {
    var node = document.getElementById("analytics-data");
    if (!node || typeof Plotly === "undefined") return;
    var data = JSON.parse(node.textContent);
    document.querySelectorAll(".chart[data-agent]").forEach(function (el) {
      var s = data[el.dataset.agent];
      if (!s) return;
      var t = titles[el.dataset.kind];
      var plotted = traces(el.dataset.kind, s);
      Plotly.newPlot(el, plotted, layout(t[0], t[1], t[2], span(s.day)), { responsive: true, displaylogo: false }).then(function () {
        el.dataset.rendered = String(plotted.length);
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
