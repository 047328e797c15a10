// The upload page: each file goes up with its own progress bar (through the server, or a large
// one straight to S3 when the page says so), then its pipeline stages arrive on the
// account's event stream (one stream for the whole batch).
(function () {
  "use strict";
  var rows = {};      // flight id -> row
  var early = {};     // events that arrived before their upload's answer
  var form, words, texts, table;

  function csrf() { return document.querySelector('meta[name="csrf-token"]').content; }

  function patternRegex(pattern) {
    var fields = [];
    var source = pattern.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{(\w+)\}/g, function (_, name) {
      fields.push(name);
      if (name === "date") { return "(\\d{4}-?\\d{2}-?\\d{2})"; }
      return name === "any" ? "(.*?)" : "([^_]+?)";
    });
    return { regex: new RegExp("^" + source + "(?:\\.[A-Za-z0-9.]+)?$"), fields: fields };
  }

  function detailsFor(file) {
    var mode = form.querySelector('input[name="mode"]:checked').value;
    if (mode === "batch") {
      return { registration: form.registration.value.trim(), flight_number: form.flight_number.value.trim() };
    }
    var p = patternRegex(form.pattern.value), match = p.regex.exec(file.name);
    if (!match) { return null; }
    var out = {};
    p.fields.forEach(function (name, i) {
      var value = match[i + 1];
      if (name === "date") { value = value.replace(/^(\d{4})-?(\d{2})-?(\d{2})$/, "$1-$2-$3") + "T00:00:00Z"; name = "departure_at"; }
      if (name !== "any") { out[name] = value; }
    });
    return out;
  }

  function addRow(file, details) {
    var tr = document.createElement("tr");
    var name = document.createElement("th"); name.scope = "row"; name.textContent = file.name;
    var reg = document.createElement("td"); reg.textContent = (details && details.registration) || "—";
    var sent = document.createElement("td");
    var bar = document.createElement("progress"); bar.max = file.size || 1; bar.value = 0;
    bar.setAttribute("aria-label", texts.sending + " " + file.name);
    sent.appendChild(bar);
    var stage = document.createElement("td"); stage.className = "stage"; stage.setAttribute("aria-live", "polite");
    tr.append(name, reg, sent, stage);
    table.tBodies[0].appendChild(tr);
    table.hidden = false;
    return { tr: tr, bar: bar, stage: stage };
  }

  function showStage(row, status, data, message) {
    row.stage.textContent = "";
    var badge = document.createElement("span");
    badge.className = "badge stage " + status;
    badge.dataset.status = status;
    badge.textContent = words[status] || status;
    row.stage.appendChild(badge);
    if (status === "failed") {
      var why = document.createElement("p"); why.className = "error";
      why.textContent = ((data && data.code) ? data.code + ": " : "") + (message || "");
      row.stage.appendChild(why);
    }
    if (row.flightId && (status === "processed" || status === "failed")) {
      var link = document.createElement("a"); link.href = "/flights/" + row.flightId; link.textContent = texts.open;
      row.stage.append(" ", link);
    }
  }

  function created(row, answer) {
    row.flightId = answer.id;
    rows[answer.id] = row;
    showStage(row, answer.processing_status);
    (early[answer.id] || []).forEach(function (ev) { showStage(row, ev.status, ev.data, ev.message); });
  }

  // One JSON call to our API with the session's CSRF token; `done(answer)` on `ok`.
  function api(url, body, ok, row, done) {
    var xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    xhr.setRequestHeader("Content-Type", "application/json");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onload = function () {
      var answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (err) { answer = {}; }
      if (xhr.status === ok) { done(answer); }
      else { showStage(row, "failed", { code: answer.code || String(xhr.status) }, answer.detail || texts.failed); }
    };
    xhr.onerror = function () { showStage(row, "failed", { code: "network" }, texts.failed); };
    xhr.send(JSON.stringify(body));
  }

  // A large file with an S3 store: the record first, then the API's presigned multipart
  // grant, each part PUT straight to S3 (the bar counts the bytes of every part), then
  // `upload-complete` with the parts' ETags (the bucket's CORS must expose `ETag`).
  function sendDirect(file, details, row) {
    var record = {};
    Object.keys(details).forEach(function (k) { if (details[k]) { record[k] = details[k]; } });
    api("/api/flight/create", record, 201, row, function (flight) {
      created(row, flight);
      var grant = { file_name: file.name, size: file.size, multipart: true };
      api("/api/flight/" + flight.id + "/upload-url", grant, 200, row, function (g) {
        var sent = {}, etags = [], next = 0;
        row.bar.max = file.size;
        function progress() {
          row.bar.value = Object.keys(sent).reduce(function (a, k) { return a + sent[k]; }, 0);
        }
        function part() {
          if (next >= g.parts.length) {
            api("/api/flight/" + flight.id + "/upload-complete", { parts: etags }, 200, row,
                function (done) { row.bar.value = row.bar.max; showStage(row, done.processing_status); });
            return;
          }
          var p = g.parts[next++], start = (p.part_number - 1) * g.part_size;
          var xhr = new XMLHttpRequest();
          xhr.open("PUT", p.url);
          xhr.upload.onprogress = function (e) { sent[p.part_number] = e.loaded; progress(); };
          xhr.onload = function () {
            var etag = xhr.getResponseHeader("ETag");
            if (xhr.status !== 200 || !etag) {
              showStage(row, "failed", { code: etag ? "s3-" + xhr.status : "s3-etag-hidden" }, texts.failed);
              return;
            }
            sent[p.part_number] = Math.min(g.part_size, file.size - start);
            progress();
            etags.push({ part_number: p.part_number, etag: etag });
            part();
          };
          // The browser hides why a cross-origin request failed: a bucket without a CORS rule
          // for our origin looks like this (as does a store it cannot reach).
          xhr.onerror = function () { showStage(row, "failed", { code: "store-refused" }, texts["store-refused"]); };
          xhr.send(file.slice(start, start + g.part_size));
        }
        part();
      });
    });
  }

  function send(file, details, row) {
    var directFrom = Number(form.dataset.directFrom || 0);
    if (directFrom && file.size >= directFrom) { sendDirect(file, details, row); return; }
    var body = new FormData();
    Object.keys(details).forEach(function (k) { if (details[k]) { body.append(k, details[k]); } });
    body.append("file", file, file.name);  // the record's fields first: checked before the bytes
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/flight/create");
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = function (e) { if (e.lengthComputable) { row.bar.max = e.total; row.bar.value = e.loaded; } };
    xhr.onload = function () {
      var answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (err) { answer = {}; }
      if (xhr.status === 201) {
        row.bar.value = row.bar.max;
        created(row, answer);
      } else {
        showStage(row, "failed", { code: answer.code || String(xhr.status) }, answer.detail || texts.failed);
      }
    };
    xhr.onerror = function () { showStage(row, "failed", { code: "network" }, texts.failed); };
    xhr.send(body);
  }

  function listen() {
    var stream = new EventSource("/api/events");
    stream.addEventListener("status", function (e) {
      var ev = JSON.parse(e.data), row = rows[ev.flight_id];
      if (row) { showStage(row, ev.status, ev.data, ev.message); }
      else { (early[ev.flight_id] = early[ev.flight_id] || []).push(ev); }
    });
  }

  function start(files) {
    var error = document.getElementById("upload-error");
    error.textContent = "";
    if (!files.length) { error.textContent = texts["no-files"]; return; }
    Array.prototype.forEach.call(files, function (file) {
      var details = detailsFor(file), row = addRow(file, details);
      if (!details) { showStage(row, "failed", { code: "file-name" }, texts["no-registration"]); return; }
      send(file, details, row);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    form = document.getElementById("upload-form");
    if (!form) { return; }
    words = JSON.parse(form.dataset.words);
    texts = JSON.parse(form.dataset.texts);
    table = document.getElementById("uploads");
    listen();
    form.addEventListener("submit", function (e) { e.preventDefault(); start(form.files.files); });
    var drop = document.getElementById("drop");
    drop.addEventListener("dragover", function (e) { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", function () { drop.classList.remove("over"); });
    drop.addEventListener("drop", function (e) {
      e.preventDefault(); drop.classList.remove("over"); start(e.dataTransfer.files);
    });
  });
})();
