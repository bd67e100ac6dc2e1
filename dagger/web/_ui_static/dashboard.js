// The dashboard's own script: confirmations, the auto-refresh switch, the CSRF header
// htmx sends, and marking an edited dead letter. No data is rendered from here.
(function () {
  "use strict";
  var KEY = "dagger-ui-auto-refresh";
  window.autoRefreshOn = function () {
    var box = document.getElementById("auto-refresh");
    return !!box && box.checked;
  };
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("auto-refresh");
    if (box) {
      var chosen = sessionStorage.getItem(KEY) || box.dataset.default;
      box.checked = chosen !== "paused";
      box.addEventListener("change", function () {
        sessionStorage.setItem(KEY, box.checked ? "on" : "paused");
      });
    }
    var value = document.getElementById("letter-value");
    if (value) {
      value.addEventListener("input", function () {
        value.form.elements.edited.value = "1";
      });
    }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }, true);
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { event.detail.headers["X-CSRF-Token"] = meta.content; }
  });
})();
