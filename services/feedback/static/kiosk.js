/* Kiosk mode on a practice tablet. On the neutral screen: ask every 3 s whether a questionnaire was handed
   to this tablet, and open it. On a form or its thank-you page (data-kiosk-home set): go back to the neutral
   screen after 5 minutes without a touch or key, or 60 s after a thank-you without crisis information (with
   crisis information shown, only the idle limit or the "Done" button). Nothing here stores anything. */
(function () {
  "use strict";
  var screen = document.getElementById("kiosk-screen");
  if (screen) {
    var poll = function () {
      fetch(screen.dataset.next, { cache: "no-store", credentials: "omit" }).then(function (r) {
        if (r.status === 200) {
          return r.json().then(function (body) { window.location.replace(body.url); });
        }
        document.getElementById("kiosk-status").textContent = r.status === 204 ? "Waiting…" : "This tablet is not set up.";
      }).catch(function () {}).then(function () { setTimeout(poll, 3000); });
    };
    poll();
    return;
  }
  var home = document.body.dataset.kioskHome;
  if (!home) { return; }
  var idleMs = 5 * 60 * 1000;
  var timer;
  var lock = function () { window.location.replace(home); };
  var touch = function () { clearTimeout(timer); timer = setTimeout(lock, idleMs); };
  ["pointerdown", "keydown", "input", "scroll"].forEach(function (e) { document.addEventListener(e, touch, { passive: true }); });
  touch();
  var after = document.body.dataset.kioskReturnAfter;
  if (after) { setTimeout(lock, parseInt(after, 10) * 1000); }
  window.attuneKioskIdleMs = idleMs; /* read by the browser test */
})();
