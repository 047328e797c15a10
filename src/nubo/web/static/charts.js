// Trend charts of the aircraft page, drawn with uPlot from the JSON block on the page.
(function () {
  "use strict";
  var palette = { value: "#0a58ca", ewma: "#9a6700", upper: "#cf222e", lower: "#cf222e", cusum: "#57606a" };

  function chart(target, title, x, series, labels, flights, width) {
    var opts = {
      title: title, width: width, height: 220,
      cursor: { sync: { key: "trend" } },
      scales: { x: { time: true } },
      series: [{}].concat(series.map(function (s) {
        return { label: labels[s.key], stroke: palette[s.key], width: s.key === "value" ? 0 : 1.5,
                 dash: s.key === "upper" || s.key === "lower" ? [6, 4] : undefined,
                 points: { show: s.key === "value", size: 7 }, spanGaps: true };
      })),
    };
    var plot = new uPlot(opts, [x].concat(series.map(function (s) { return s.values; })), target);
    plot.over.addEventListener("click", function () {
      var idx = plot.cursor.idx;
      if (idx != null && flights[idx]) { window.location.href = "/flights/" + flights[idx]; }
    });
    return plot;
  }

  function draw() {
    var data = document.getElementById("trend-data");
    var box = document.getElementById("trend-charts");
    if (!data || !box || typeof uPlot === "undefined") { return; }
    var trend = JSON.parse(data.textContent);
    var labels = JSON.parse(box.dataset.labels);
    var names = JSON.parse(box.dataset.channels);
    var width = Math.min(box.clientWidth || 800, 1100);
    Object.keys(trend.channels).sort().forEach(function (engine) {
      Object.keys(trend.channels[engine]).sort().forEach(function (channel) {
        var h = trend.channels[engine][channel];
        var title = labels.engine.replace("{n}", engine) + " · " + (names[channel] || channel);
        var figure = document.createElement("figure");
        box.appendChild(figure);
        var keys = ["value", "ewma", "upper", "lower"];
        chart(figure, title, trend.x, keys.map(function (k) { return { key: k, values: h[k] }; }),
              labels, trend.flights, width);
        chart(figure, title + " · CUSUM", trend.x, [{ key: "cusum", values: h.cusum }], labels,
              trend.flights, width);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
})();
