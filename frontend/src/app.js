// Sésame's progressive enhancements. Every form works without this file
// (real forms, real pages); it adds the recovery dialog that stays open
// across the steps, a show/hide toggle on password fields, focus
// management, and messages when the network fails.
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

  // The dialog asks before closing while a step is in progress: the
  // server marks such a step with data-in-progress (it knows the steps).
  function stepInProgress(dialog) {
    var step = dialog.querySelector("#recovery-step");
    return !!step && step.hasAttribute("data-in-progress");
  }

  function askBeforeClosing(dialog) {
    if (!stepInProgress(dialog)) {
      dialog.close();
      return;
    }
    var box = dialog.querySelector("[data-dialog-confirm]");
    box.hidden = false;
    box.querySelector("[data-dialog-stay]").focus();
  }

  function focusHeading(dialog) {
    var h = dialog.querySelector("#recovery-title");
    if (h) h.focus({ preventScroll: false });
  }

  function setupDialog(dialog) {
    if (!dialog || dialog.dataset.ready) return;
    dialog.dataset.ready = "1";
    dialog.querySelector("[data-dialog-close]").addEventListener("click", function () {
      askBeforeClosing(dialog);
    });
    dialog.addEventListener("cancel", function (e) {
      // Escape: same question as the close button.
      e.preventDefault();
      askBeforeClosing(dialog);
    });
    dialog.querySelector("[data-dialog-stay]").addEventListener("click", function () {
      dialog.querySelector("[data-dialog-confirm]").hidden = true;
      focusHeading(dialog);
    });
    if (dialog.getAttribute("data-open") === "true") {
      // Rendered open for browsers without JavaScript; make it modal.
      if (dialog.open) dialog.close();
      dialog.showModal();
      focusHeading(dialog);
    }
  }

  document.addEventListener("click", function (e) {
    var opener = e.target.closest("[data-open-dialog]");
    if (!opener) return;
    var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
    if (dialog && !dialog.open) {
      dialog.querySelector("[data-dialog-confirm]").hidden = true;
      dialog.showModal();
    }
  });

  // After each step arrives, move focus to its heading so that screen
  // readers announce it and the keyboard starts from the top of the step.
  document.addEventListener("htmx:afterSwap", function (e) {
    var dialog = e.target.closest ? e.target.closest("dialog") : null;
    if (!dialog) dialog = document.getElementById("recovery-dialog");
    if (dialog && dialog.open && e.detail.target && e.detail.target.id === "recovery-step") {
      var first = dialog.querySelector("[aria-invalid=true]");
      if (first) first.focus(); else focusHeading(dialog);
    }
  });

  // A failed request (server error, lost network on a phone) must not look
  // like nothing happened.
  function showFailure(e, key) {
    var dialog = document.getElementById("recovery-dialog");
    var form = e.detail.elt && e.detail.elt.closest ? e.detail.elt.closest("form,section") : null;
    var where = (form && form.parentNode) || (dialog && dialog.open ? dialog : document.getElementById("main"));
    if (!where) return;
    var old = where.querySelector(".net-error");
    if (old) old.remove();
    var p = document.createElement("p");
    p.className = "alert error net-error";
    p.setAttribute("role", "alert");
    p.textContent = document.body.getAttribute(key) || "";
    where.insertBefore(p, where.firstChild);
  }
  // A submit shows that it is under way: its button is disabled (a second
  // tap would send the form twice) and says so, and a status message inside
  // the form tells screen readers, even inside the modal dialog, where a
  // live region of the page outside would be silent.
  function setBusy(form, busy) {
    if (!form || form.tagName !== "FORM") return;
    form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (btn) {
      if (busy) {
        btn.setAttribute("aria-busy", "true");
        btn.setAttribute("aria-disabled", "true");
        // After the submit has started: a disabled button is not sent.
        setTimeout(function () { btn.disabled = true; }, 0);
      } else {
        btn.removeAttribute("aria-busy");
        btn.removeAttribute("aria-disabled");
        btn.disabled = false;
      }
    });
    var status = form.querySelector(".busy-status");
    if (!status) {
      status = document.createElement("p");
      status.className = "busy-status";
      status.setAttribute("role", "status");
      form.appendChild(status);
    }
    status.textContent = busy ? (document.body.getAttribute("data-msg-busy") || "") : "";
    form.classList.toggle("is-busy", busy);
  }
  // A plain form (HTMX's have their own events below): busy until the next
  // page; a second submit meanwhile is dropped.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.hasAttribute("hx-post")) return;
    if (form.classList.contains("is-busy")) {
      e.preventDefault();
      return;
    }
    if (!e.defaultPrevented) setBusy(form, true);
  });
  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail.elt;
    if (elt && elt.tagName === "FORM") setBusy(elt, true);
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    // Only a form's own request: the live checklist's, from a field of the
    // same form, must not end the wait of a submit under way.
    var form = e.detail.elt;
    if (form && form.tagName === "FORM" && document.contains(form)) setBusy(form, false);
  });
  // Back to a page kept in the browser's cache: its buttons work again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form.is-busy").forEach(function (f) { setBusy(f, false); });
  });

  document.addEventListener("htmx:sendError", function (e) { showFailure(e, "data-msg-network"); });
  document.addEventListener("htmx:responseError", function (e) { showFailure(e, "data-msg-error"); });

  document.addEventListener("DOMContentLoaded", function () {
    enhancePasswords(document);
    setupDialog(document.getElementById("recovery-dialog"));
  });
  document.addEventListener("htmx:load", function (e) { enhancePasswords(e.target); });
})();
