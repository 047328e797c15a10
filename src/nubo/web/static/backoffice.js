// The back office's dataset page: the data file goes to the API's upload route with the
// session's CSRF token, streamed, with a progress bar; the page then reloads to show it.
(function () {
  "use strict";

  function csrf() { return document.querySelector('meta[name="csrf-token"]').content; }

  function upload(form, texts) {
    var file = form.querySelector('input[type="file"]').files[0];
    var error = document.getElementById("upload-error");
    var box = document.getElementById("upload-progress");
    var bar = document.getElementById("upload-bar");
    var percent = document.getElementById("upload-percent");
    error.textContent = "";
    if (!file) { error.textContent = texts["no-file"]; return; }
    if (file.size > Number(form.dataset.maxBytes)) { error.textContent = texts["too-large"]; return; }
    var body = new FormData();
    body.append("file", file, file.name);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.action + "?filename=" + encodeURIComponent(file.name));
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    xhr.setRequestHeader("Accept", "application/json");
    box.hidden = false;
    bar.max = file.size || 1;
    bar.value = 0;
    xhr.upload.onprogress = function (e) {
      if (!e.lengthComputable) { return; }
      bar.max = e.total; bar.value = e.loaded;
      percent.textContent = Math.floor(100 * e.loaded / e.total) + "%";
    };
    xhr.onload = function () {
      if (xhr.status === 200) {
        bar.value = bar.max;
        percent.textContent = texts.done;
        window.location.assign(window.location.pathname + "?done=uploaded");
        return;
      }
      var answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (err) { answer = {}; }
      error.textContent = texts.failed + (answer.detail ? " " + answer.detail : "");
    };
    xhr.onerror = function () { error.textContent = texts.failed; };
    xhr.send(body);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("dataset-upload");
    if (!form) { return; }
    var texts = JSON.parse(form.dataset.texts);
    form.addEventListener("submit", function (e) { e.preventDefault(); upload(form, texts); });
  });
})();
