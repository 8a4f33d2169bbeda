// callpay checkout page behaviour. Loaded as a file (the CSP allows no inline script); every page
// also works without it: forms post normally, the call page refreshes itself, the result page has a link.
(function () {
  'use strict';
  var main = document.getElementById('checkout');
  if (!main) return;
  var step = main.getAttribute('data-step');
  var pageUrl = main.getAttribute('data-page-url');

  countdown();
  oneSubmitPerForm();
  if (step === 'calling') followCall();
  if (step === 'result') returnSoon();

  function pad(n) {
    return n < 10 ? '0' + n : String(n);
  }

  /** Time left, counted from the server's figure (the phone's clock may be wrong). */
  function countdown() {
    var out = document.querySelector('[data-testid="expires"]');
    var left = Number(main.getAttribute('data-expires-in'));
    if (!out || !isFinite(left)) return;
    var started = Date.now();
    var timer = setInterval(function () {
      var s = Math.max(0, left - Math.floor((Date.now() - started) / 1000));
      out.textContent = Math.floor(s / 60) + ':' + pad(s % 60);
      if (s === 0) {
        clearInterval(timer);
        // The server shows the payment as expired now; a call in progress keeps going.
        if ((step === 'login' || step === 'password') && pageUrl) location.replace(pageUrl);
      }
    }, 1000);
  }

  function oneSubmitPerForm() {
    var forms = document.querySelectorAll('form');
    for (var i = 0; i < forms.length; i++) {
      forms[i].addEventListener('submit', function (event) {
        var form = event.currentTarget;
        if (form.getAttribute('data-sent')) {
          event.preventDefault();
          return;
        }
        form.setAttribute('data-sent', '1');
        form.setAttribute('aria-busy', 'true');
      });
    }
  }

  function followCall() {
    var statusLine = document.getElementById('progress');
    var holder = document.getElementById('checkout-strings');
    var strings = holder ? holder.dataset : {};
    var outcomes = { busy: 'busy', no_answer: 'noAnswer', rejected: 'rejected', failed: 'failed' };
    var finished = false;

    function say(text) {
      if (text && statusLine && statusLine.textContent !== text) statusLine.textContent = text;
    }

    function describe(e) {
      switch (e && e.type) {
        case 'dialing': return strings.dialing;
        case 'ringing': return strings.ringing;
        case 'answered': return strings.answered;
        case 'not_answered': {
          var what = strings[outcomes[e.outcome]] || strings.failed;
          if (e.retryInMs === null || e.retryInMs === undefined) return what;
          return what + (strings.gap || '') + String(strings.retryIn).replace('{seconds}', String(Math.round(e.retryInMs / 1000)));
        }
        case 'pin':
          return e.result === 'ok' ? strings.pinOk : e.result === 'wrong' ? strings.pinWrong : strings.pinLocked;
        default:
          return null;
      }
    }

    /** Once the call step is over, the server renders the result (and the way back to the merchant). */
    function onStatus(s) {
      if (!finished && s && s.step && s.step !== 'calling') {
        finished = true;
        location.replace(pageUrl);
      }
    }

    function poll() {
      if (finished) return;
      fetch(main.getAttribute('data-status-url'), { cache: 'no-store', credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s) return;
          var events = (s.progress || []).filter(function (e) { return e.type !== 'status'; });
          if (events.length) say(describe(events[events.length - 1]));
          onStatus(s);
        })
        .catch(function () { /* try again at the next tick */ })
        .then(function () { if (!finished) setTimeout(poll, 2000); });
    }

    if (!window.EventSource) return poll();
    var source = new EventSource(main.getAttribute('data-events-url'));
    source.addEventListener('progress', function (m) {
      try { say(describe(JSON.parse(m.data))); } catch (_) { /* ignore a malformed event */ }
    });
    source.addEventListener('status', function (m) {
      try { onStatus(JSON.parse(m.data)); } catch (_) { /* ignore a malformed event */ }
      if (finished) source.close();
    });
    // The stream ended (time up, server stopping) or never opened: poll /status every 2 s instead.
    source.onerror = function () {
      source.close();
      if (!finished) setTimeout(poll, 2000);
    };
  }

  function returnSoon() {
    var link = document.querySelector('[data-testid="return"]');
    if (!link) return;
    var note = document.getElementById('returning');
    if (note) note.hidden = false;
    setTimeout(function () { location.assign(link.href); }, 3000);
  }
})();
