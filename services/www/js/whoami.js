// Fills the table on whoami.html from the server's /whoami answer.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  function put(id, text) { document.getElementById(id).textContent = text; }
  fetch("/whoami", { cache: "no-store" })
    .then(function (r) { return r.json(); })
    .then(function (w) {
      put("client", w.client_ip + ":" + w.client_port);
      put("server", w.server_ip + ":" + w.server_port);
      put("hostname", w.hostname);
      put("worker", "pid " + w.pid + ", " + w.thread);
      put("index", String(w.request_index));
    })
    .catch(function (e) { put("client", "error: " + e); });
});
