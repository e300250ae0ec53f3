// Feuille de soins: the amounts recomputed as one types (the "Calculer" button does the same without script).
(function () {
  "use strict";
  var form = document.getElementById("feuille");
  var target = document.getElementById("calcul");
  if (!form || !target || !window.fetch || !window.FormData) { return; }
  var timer = null;
  function compute() {
    var data = new FormData(form);
    fetch(form.getAttribute("data-calcul"), { method: "POST", body: data, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html !== null) { target.innerHTML = html; } })
      .catch(function () { /* the button still works */ });
  }
  function later() { window.clearTimeout(timer); timer = window.setTimeout(compute, 400); }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
})();
