/* The "Print or save as PDF" button of the progress report (the print stylesheet fits it on one page). */
(function () {
  "use strict";
  var button = document.getElementById("print-report");
  if (button) { button.addEventListener("click", function () { window.print(); }); }
})();
