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
})();
// Slice 3: a checkbox with data-check-all="name" checks every checkbox of
// that name in its form.
document.addEventListener("change", function (e) {
  var name = e.target.getAttribute && e.target.getAttribute("data-check-all");
  if (!name || !e.target.form) return;
  var boxes = e.target.form.querySelectorAll('input[type=checkbox][name="' + name + '"]');
  for (var i = 0; i < boxes.length; i++) boxes[i].checked = e.target.checked;
});
