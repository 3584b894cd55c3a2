/* Runs first: every script error, failed resource load, unhandled rejection or console.error
 * is written into the hidden #report-errors element (data-count="N"), so a headless browser's
 * dumped DOM shows whether the page ran cleanly. */
(function () {
  "use strict";
  var errors = [];
  function flush() {
    var el = document.getElementById("report-errors");
    if (!el) return;
    el.textContent = errors.join("\n");
    el.setAttribute("data-count", String(errors.length));
  }
  window.__stampedeRecord = function (message) {
    errors.push(String(message));
    flush();
  };
  window.onerror = function (message, source, line, column) {
    window.__stampedeRecord(message + " (" + line + ":" + column + ")");
  };
  window.addEventListener("error", function (e) {
    if (e.target && e.target !== window) {
      window.__stampedeRecord("failed to load " + (e.target.src || e.target.href || e.target.tagName));
    }
  }, true);
  window.addEventListener("unhandledrejection", function (e) {
    window.__stampedeRecord("unhandled rejection: " + ((e.reason && e.reason.message) || e.reason));
  });
  var consoleError = console.error;
  console.error = function () {
    window.__stampedeRecord("console.error: " + Array.prototype.join.call(arguments, " "));
    return consoleError.apply(console, arguments);
  };
  document.addEventListener("DOMContentLoaded", flush);
})();
