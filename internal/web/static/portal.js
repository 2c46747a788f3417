// Sluice portal: small improvements only; every action works without it.
(function () {
  "use strict";
  // Copy buttons: data-copy names the input whose value to copy.
  document.addEventListener("click", function (e) {
    var b = e.target.closest("[data-copy]");
    if (!b) return;
    var input = document.getElementById(b.getAttribute("data-copy"));
    if (!input) return;
    var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { input.select(); });
    } else {
      input.select();
      try { document.execCommand("copy"); done(); } catch (_) {}
    }
  });
  // Confirmations: a form with data-confirm asks first; a yes fills its
  // "again" field, so that the server does not ask a second time.
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute("data-confirm");
    if (!msg) return;
    if (!window.confirm(msg)) { e.preventDefault(); return; }
    if (e.target.elements.again) e.target.elements.again.value = "1";
  });
  // Slice 2, flows: the definition editor. The gutter follows the
  // text as it changes, and #step-ID or #L12 (and the problem links)
  // put the cursor on that line.
  var src = document.getElementById("source");
  var gutter = document.querySelector(".editor .gutter");
  if (src && gutter) {
    var selectLine = function (n) {
      var lines = src.value.split("\n"), start = 0;
      if (n < 1 || n > lines.length) return;
      for (var i = 0; i < n - 1; i++) start += lines[i].length + 1;
      src.focus({ preventScroll: true });
      src.setSelectionRange(start, start + lines[n - 1].length);
      var prev = gutter.querySelector(".here");
      if (prev) prev.classList.remove("here");
      var li = document.getElementById("L" + n);
      if (li) { li.classList.add("here"); li.scrollIntoView({ block: "center" }); }
    };
    var lineOf = function (hash) {
      var el = hash && document.getElementById(decodeURIComponent(hash.slice(1)));
      if (!el) return 0;
      var li = el.closest("li");
      return li && li.id ? parseInt(li.id.slice(1), 10) : 0;
    };
    var sync = function () {
      var n = src.value.split("\n").length, have = gutter.children.length;
      if (n > 20000) return;
      for (; have < n; have++) {
        var li = document.createElement("li");
        li.id = "L" + (have + 1);
        li.textContent = String(have + 1);
        gutter.appendChild(li);
      }
      for (; have > n; have--) gutter.removeChild(gutter.lastElementChild);
      src.rows = Math.max(n + 2, 12);
    };
    src.addEventListener("input", sync);
    document.addEventListener("click", function (e) {
      var a = e.target.closest("[data-line]");
      if (!a) return;
      e.preventDefault();
      selectLine(parseInt(a.getAttribute("data-line"), 10));
    });
    var n = lineOf(location.hash);
    if (n) selectLine(n);
  }
})();
// Slice 3: a checkbox with data-check-all="name" checks every checkbox of
// that name in its form.
document.addEventListener("change", function (e) {
  var name = e.target.getAttribute && e.target.getAttribute("data-check-all");
  if (!name || !e.target.form) return;
  var boxes = e.target.form.querySelectorAll('input[type=checkbox][name="' + name + '"]');
  for (var i = 0; i < boxes.length; i++) boxes[i].checked = e.target.checked;
});
