// voicegw console: progressive enhancement only; every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Copy buttons: <button data-copy="ID"> copies the value of the input ID.
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    b.addEventListener("click", function () {
      var input = document.getElementById(b.getAttribute("data-copy"));
      var status = b.parentElement.querySelector(".copied");
      var done = function () { if (status) { status.textContent = "Copied."; } };
      input.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () {
          if (document.execCommand("copy")) { done(); }
        });
      } else if (document.execCommand("copy")) {
        done();
      }
    });
  });
  // Bucket vendor: show the chosen vendor's fields only.
  var vendor = document.getElementById("vendor");
  if (vendor) {
    var show = function () {
      document.querySelectorAll("fieldset[data-vendor]").forEach(function (f) {
        f.hidden = f.getAttribute("data-vendor") !== vendor.value;
      });
    };
    vendor.addEventListener("change", show);
    show();
  }
  // Confirm destructive forms.
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });
  // Move focus to the first problem, so screen readers hear it.
  var problem = document.getElementById("problem");
  if (problem) { problem.setAttribute("tabindex", "-1"); problem.focus(); }
});
