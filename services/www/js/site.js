// Shows the visitor's own address and port, as the server saw them, on the home page.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var target = document.getElementById("live-whoami");
  if (!target) { return; }
  fetch("/whoami", { cache: "no-store" })
    .then(function (r) { return r.json(); })
    .then(function (w) {
      target.textContent = "The server saw this page's request come from " + w.client_ip +
        ":" + w.client_port + " (request " + w.request_index + " on that connection).";
    })
    .catch(function () { target.textContent = "Could not reach /whoami."; });
});
