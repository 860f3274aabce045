// Sésame's progressive enhancements. Every form works without this file;
// it only adds comfort: a show/hide toggle on password fields.
(function () {
  "use strict";

  function enhancePasswords(root) {
    root.querySelectorAll("[data-password-toggle]").forEach(function (btn) {
      if (btn.dataset.ready) return;
      btn.dataset.ready = "1";
      btn.hidden = false;
      var input = document.getElementById(btn.getAttribute("aria-controls"));
      btn.addEventListener("click", function () {
        var show = input.type === "password";
        input.type = show ? "text" : "password";
        btn.setAttribute("aria-pressed", show ? "true" : "false");
        btn.textContent = show ? btn.dataset.hide : btn.dataset.show;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { enhancePasswords(document); });
  document.addEventListener("htmx:load", function (e) { enhancePasswords(e.target); });
})();
