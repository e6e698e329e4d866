// Optional auto-refresh of the overview; the choice is remembered in this browser only.
(function () {
  "use strict";
  var box = document.getElementById("auto-refresh");
  if (!box) { return; }
  var key = "clinic-ops-refresh";
  var timer = null;
  function apply() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (box.checked) { timer = setTimeout(function () { location.reload(); }, 30000); }
  }
  box.checked = localStorage.getItem(key) === "on";
  box.addEventListener("change", function () {
    localStorage.setItem(key, box.checked ? "on" : "off");
    apply();
  });
  apply();
})();
