// Trend charts of the aircraft page, drawn with uPlot from the JSON block on the page. Where
// an engine's reference restarted (a replacement or a refit) a dashed line marks it and the
// EWMA, limits and CUSUM break there instead of joining the old reference to the new.
(function () {
  "use strict";
  var palette = { value: "#0a58ca", ewma: "#9a6700", upper: "#cf222e", lower: "#cf222e", cusum: "#57606a" };

  function resetsPlugin(times, label) {
    return { hooks: { draw: function (u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = "#57606a";
      ctx.fillStyle = "#57606a";
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
      ctx.font = 11 * devicePixelRatio + "px system-ui";
      times.forEach(function (t) {
        var x = u.valToPos(t, "x", true);
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) { return; }
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
        ctx.fillText(label, x + 3 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
      });
      ctx.restore();
    } } };
  }

  // uPlot joins over `undefined` but breaks at `null` (with spanGaps off): flights that did
  // not measure a channel are joined over, the first flight after a reset breaks the line.
  function broken(values, breaks) {
    return values.map(function (v, i) { return breaks[i] ? null : (v === null ? undefined : v); });
  }

  // uPlot's time axis in the page's language and zone: its own table of stamps (see its
  // source), with the locale's order of day and month, clock and names.
  function timeAxis(d) {
    var md = d.day_first ? "{D}/{M}" : "{M}/{D}";
    var mdy = d.day_first ? "{D}/{M}/{YY}" : "{M}/{D}/{YY}";
    var hm = d.hour24 ? "{HH}:{mm}" : "{h}:{mm}{aa}";
    var hour = d.hour24 ? "{HH}h" : "{h}{aa}";
    var day = 86400, _ = null;
    return {
      fmtDate: function (tpl) { return uPlot.fmtDate(tpl, d); },
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), d.zone); },
      values: [
        [day * 365, "{YYYY}", _, _, _, _, _, _, 1],
        [day * 28, "{MMM}", "\n{YYYY}", _, _, _, _, _, 1],
        [day, md, "\n{YYYY}", _, _, _, _, _, 1],
        [3600, hour, "\n" + mdy, _, "\n" + md, _, _, _, 1],
        [60, hm, "\n" + mdy, _, "\n" + md, _, _, _, 1],
        [1, ":{ss}", "\n" + mdy + " " + hm, _, "\n" + md + " " + hm, _, "\n" + hm, _, 1],
      ],
      legend: (d.day_first ? "{DD}/{MM}/{YYYY} " : "{M}/{D}/{YYYY} ") + hm,
    };
  }

  function chart(target, title, x, series, labels, flights, width, resets, dates) {
    var breaks = {};
    resets.forEach(function (r) { breaks[r.index] = true; });
    var time = timeAxis(dates);
    var opts = {
      title: title, width: width, height: 220,
      fmtDate: time.fmtDate, tzDate: time.tzDate,
      axes: [{ values: time.values }, {}],
      cursor: { sync: { key: "trend" } },
      // Flights within a day of each other (one alone, or several uploaded at once without a
      // departure): a day either side, not the years uPlot pads so short a span with. It
      // pads before calling this, so the data says it; a zoom inside the data stays as asked.
      scales: { x: { time: true, range: function (u, min, max) {
        var xs = u.data[0], first = xs[0], last = xs[xs.length - 1];
        var whole = min <= first && max >= last;
        return whole && last - first < 86400 ? [first - 86400, last + 86400] : [min, max];
      } } },
      plugins: [resetsPlugin(resets.map(function (r) { return r.at; }), labels.reset)],
      series: [{ label: labels.flown, value: time.legend }].concat(series.map(function (s) {
        return { label: labels[s.key], stroke: palette[s.key], width: s.key === "value" ? 0 : 1.5,
                 dash: s.key === "upper" || s.key === "lower" ? [6, 4] : undefined,
                 points: { show: s.key === "value", size: 7 }, spanGaps: s.key === "value" };
      })),
    };
    var data = series.map(function (s) {
      return s.key === "value" ? s.values : broken(s.values, breaks);
    });
    var plot = new uPlot(opts, [x].concat(data), target);
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
    var dates = JSON.parse(box.dataset.dates);
    var width = Math.min(box.clientWidth || 800, 1100);
    Object.keys(trend.channels).sort().forEach(function (engine) {
      var resets = (trend.resets || []).filter(function (r) { return r.engine === engine; });
      Object.keys(trend.channels[engine]).sort().forEach(function (channel) {
        var h = trend.channels[engine][channel];
        var title = labels.engine.replace("{n}", engine) + " · " + (names[channel] || channel);
        var figure = document.createElement("figure");
        box.appendChild(figure);
        var keys = ["value", "ewma", "upper", "lower"];
        chart(figure, title, trend.x, keys.map(function (k) { return { key: k, values: h[k] }; }),
              labels, trend.flights, width, resets, dates);
        chart(figure, title + " · CUSUM", trend.x, [{ key: "cusum", values: h.cusum }], labels,
              trend.flights, width, resets, dates);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
})();

// The flight page: bleed pressure, precooler temperature and N2 of both engines, and
// altitude, over time, with the phases shaded and the findings marked; cursors and zoom synced across the charts.
(function () {
  "use strict";
  var colors = ["#0a58ca", "#cf222e"];

  // uPlot leaves the canvas's text alignment as its last axis set it (right-aligned for the
  // y axis): each plugin sets its own before writing.
  function writeLeft(ctx, font) {
    ctx.textAlign = "left";
    ctx.textBaseline = "alphabetic";
    ctx.font = font;
  }

  // The seconds [from, to) as canvas x, clipped to the drawing area; null when outside it.
  function span(u, from, to) {
    var x0 = u.valToPos(from, "x", true), x1 = u.valToPos(to, "x", true);
    var left = u.bbox.left, right = u.bbox.left + u.bbox.width;
    if (x1 < left || x0 > right) { return null; }
    return [Math.max(x0, left), Math.min(x1, right)];
  }

  // Each phase shaded; its name written when it fits inside the phase (a short one gets its
  // name once zoomed in; the page lists every phase in words above the plots).
  function phasesPlugin(phases, names) {
    return { hooks: { drawClear: function (u) {
      var ctx = u.ctx, dpr = devicePixelRatio;
      ctx.save();
      writeLeft(ctx, 11 * dpr + "px system-ui");
      phases.forEach(function (p, i) {
        var x = span(u, p.start_s, p.end_s);
        if (!x) { return; }
        ctx.fillStyle = i % 2 ? "rgba(127,127,127,0.10)" : "rgba(127,127,127,0.20)";
        ctx.fillRect(x[0], u.bbox.top, x[1] - x[0], u.bbox.height);
        var name = names[p.phase] || p.phase;
        if (ctx.measureText(name).width + 6 * dpr <= x[1] - x[0]) {
          ctx.fillStyle = "rgba(100,100,100,0.9)";
          ctx.fillText(name, x[0] + 3 * dpr, u.bbox.top + 16 * dpr);
        }
      });
      ctx.restore();
    } } };
  }

  // Each placed finding as a band over the seconds it was seen, with its number on top (the
  // page's list of findings gives the same spans in words). Watches are drawn first, so an
  // alert seen inside a longer watch keeps its colour; numbers that would overlap (findings
  // seen over the same seconds) go one under the other.
  function findingsPlugin(marks) {
    var fill = { alert: "rgba(207,34,46,0.18)", watch: "rgba(154,103,0,0.18)" };
    var ink = { alert: "#cf222e", watch: "#9a6700" };
    var rank = { watch: 0, alert: 1 };
    var ordered = marks.slice().sort(function (a, b) {
      return (rank[a.severity] || 0) - (rank[b.severity] || 0);
    });
    return { hooks: { draw: function (u) {
      var ctx = u.ctx, dpr = devicePixelRatio, placed = [];
      ctx.save();
      ordered.forEach(function (m) {
        var x = span(u, m.start_s, m.end_s + 1);
        if (!x) { return; }
        var width = Math.max(x[1] - x[0], Math.min(2 * dpr, u.bbox.left + u.bbox.width - x[0]));
        ctx.fillStyle = fill[m.severity] || fill.watch;
        ctx.fillRect(x[0], u.bbox.top, width, u.bbox.height);
        ctx.fillStyle = ink[m.severity] || ink.watch;
        ctx.fillRect(x[0], u.bbox.top, width, 3 * dpr);
      });
      writeLeft(ctx, "bold " + 12 * dpr + "px system-ui");
      marks.forEach(function (m) {
        var x = span(u, m.start_s, m.end_s + 1);
        if (!x) { return; }
        var at = x[0] + 2 * dpr, w = ctx.measureText(String(m.n)).width + 4 * dpr, row = 0;
        while (placed.some(function (p) { return p.row === row && at < p.at + p.w && p.at < at + w; })) { row++; }
        placed.push({ at: at, w: w, row: row });
        ctx.fillStyle = ink[m.severity] || ink.watch;
        ctx.fillText(String(m.n), at, u.bbox.top + (32 + 14 * row) * dpr);
      });
      ctx.restore();
    } } };
  }

  // The y axes' width: the locale's "40.000" ft does not fit uPlot's default 50 px; the same
  // for every chart so their time axes stay aligned under the synced cursor.
  var Y_AXIS_PX = 64;

  function draw(box, data) {
    var labels = JSON.parse(box.dataset.labels);
    var phases = JSON.parse(box.dataset.phases);
    var marks = JSON.parse(box.dataset.findings || "[]");
    var names = JSON.parse(box.dataset.phaseNames);
    var width = Math.min(box.clientWidth || 800, 1100);
    var plots = [];
    var syncing = false;
    function zoomAll(u) {
      if (syncing) { return; }
      syncing = true;
      plots.forEach(function (p) {
        if (p !== u) { p.setScale("x", { min: u.scales.x.min, max: u.scales.x.max }); }
      });
      syncing = false;
    }
    var groups = [
      ["press", ["eng1_bleed_press_psi", "eng2_bleed_press_psi"]],
      ["temp", ["eng1_precooler_out_temp_degc", "eng2_precooler_out_temp_degc"]],
      ["n2", ["eng1_n2_pct", "eng2_n2_pct"]],
      ["alt", ["alt_std_ft"]],
    ];
    groups.forEach(function (group) {
      var present = group[1].filter(function (k) { return data.series[k]; });
      if (!present.length) { return; }
      var figure = document.createElement("figure");
      box.appendChild(figure);
      var opts = {
        title: labels[group[0]], width: width, height: 200,
        cursor: { sync: { key: "flight" } },
        scales: { x: { time: false } },
        axes: [{ label: labels.time }, { size: Y_AXIS_PX }],
        plugins: [phasesPlugin(phases, names), findingsPlugin(marks)],
        hooks: { setScale: [function (u, key) { if (key === "x") { zoomAll(u); } }] },
        series: [{ label: labels.time }].concat(present.map(function (k, i) {
          var engine = k.match(/^eng(\d)/);
          return { label: engine ? labels.engine.replace("{n}", engine[1]) : labels[group[0]],
                   stroke: colors[i % colors.length], width: 1, spanGaps: false };
        })),
      };
      var values = [data.time_s].concat(present.map(function (k) { return data.series[k]; }));
      plots.push(new uPlot(opts, values, figure));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("flight-charts");
    if (!box || typeof uPlot === "undefined") { return; }
    fetch(box.dataset.series, { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { draw(box, data); } });
  });
})();
