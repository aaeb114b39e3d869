// DISINFOX pages: small progressive enhancements. Every page works without this script.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Search forms: leave empty and default fields out of the address, so it stays short.
  document.querySelectorAll("form[data-clean]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var off = [];
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || el.disabled) return;
        var def = el.getAttribute("data-default");
        if (el.value === "" || (def !== null && el.value === def)) {
          el.disabled = true;
          off.push(el);
        }
      });
      // Enabled again for a page restored by the back button.
      window.setTimeout(function () { off.forEach(function (el) { el.disabled = false; }); }, 0);
    });
  });

  // Confirm before destructive forms (delete, revoke).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  });

  // The developer page's examples: the address this page was opened at, in place of the
  // server's configured public URL.
  document.querySelectorAll(".base-url").forEach(function (el) {
    el.textContent = window.location.origin;
  });

  // Copy the text of an element (the STIX bundle, a new API key).
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var id = button.getAttribute("data-copy");
      var source = document.getElementById(id);
      var done = document.getElementById(id + "-copied");
      if (!source) return;
      var text = source.textContent;
      var shown = function () { if (done) done.hidden = false; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(shown, fallback);
      } else {
        fallback();
      }
      function fallback() {
        var area = document.createElement("textarea");
        area.value = text;
        document.body.appendChild(area);
        area.select();
        try { if (document.execCommand("copy")) shown(); } finally { area.remove(); }
      }
    });
  });

  // Multi-value fields: add one more input like the last one.
  document.querySelectorAll("[data-multi]").forEach(function (set) {
    var add = set.querySelector("[data-add]");
    if (!add) return;
    add.addEventListener("click", function () {
      var inputs = set.querySelectorAll("input");
      var last = inputs[inputs.length - 1];
      if (!last) return;
      var copy = last.cloneNode(false);
      copy.value = "";
      copy.removeAttribute("aria-invalid");
      last.insertAdjacentElement("afterend", copy);
      copy.focus();
    });
  });

  // The technique picker: filter by DISARM id or name, count the selection.
  document.querySelectorAll("[data-picker]").forEach(function (picker) {
    var search = picker.querySelector("[data-picker-search]");
    var total = picker.querySelector("[data-picker-count]");
    var groups = picker.querySelectorAll("details[data-tactic]");
    function count() {
      var n = picker.querySelectorAll("input[type=checkbox]:checked").length;
      if (total) total.textContent = n + " selected";
      groups.forEach(function (g) {
        var k = g.querySelectorAll("input:checked").length;
        var c = g.querySelector("[data-tactic-count]");
        if (c) c.textContent = k ? k + " selected" : "";
      });
    }
    picker.addEventListener("change", count);
    if (!search) return;
    search.addEventListener("input", function () {
      var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      groups.forEach(function (g) {
        var any = false;
        g.querySelectorAll("li[data-text]").forEach(function (li) {
          var text = li.getAttribute("data-text").toLowerCase();
          var hit = words.every(function (w) { return text.indexOf(w) >= 0; });
          li.hidden = !hit;
          any = any || hit;
        });
        g.hidden = !any;
        if (words.length) g.open = any;
        else g.open = g.querySelectorAll("input:checked").length > 0;
      });
    });
    search.addEventListener("keydown", function (e) {
      if (e.key === "Enter") e.preventDefault();
    });
  });
})();
