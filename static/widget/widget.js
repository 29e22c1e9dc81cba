/* Handoff Hub chat widget: embed with one <script src=".../static/widget/widget.js"> tag.
 * Data attributes: data-hub-url, data-title, data-color, data-greeting, data-position,
 * data-site (the site key that picks which assistant version answers).
 * Everything users or bots write is rendered as text (never as HTML). */
(function () {
  "use strict";
  var script = document.currentScript;
  var cfg = {
    hubUrl: (script && script.dataset.hubUrl) || (script ? new URL(script.src).origin : location.origin),
    title: (script && script.dataset.title) || "Chat with us",
    color: (script && script.dataset.color) || "#1f6feb",
    greeting: (script && script.dataset.greeting) || "",
    position: (script && script.dataset.position) || "right",
    locale: ((script && script.dataset.locale) || navigator.language || "en").slice(0, 2),
    // Seconds of customer silence after the bot spoke before the bot may check in (0: off).
    silenceTimeout: Number((script && script.dataset.silenceTimeout) || 0),
    site: (script && script.dataset.site) || undefined,
  };
  // Every string the widget shows, per language; the host page picks one with data-locale.
  var STRINGS = {
    en: { open: "Open chat", close: "Close chat", end: "End chat", placeholder: "Type a message…",
          send: "Send", message: "Message", connecting: "Connecting…", reconnecting: "Reconnecting…",
          bot: "Virtual assistant", queued: "Waiting for an agent…", assigned: "Chatting with our team",
          resolved: "Conversation resolved", closed: "Chat ended", assistant: "Assistant", agent: "Agent",
          sending: "Sending…", delivered: "Delivered", notSent: "Not sent", typing: "Typing…",
          rate: "How was this conversation?", comment: "Anything to add? (optional)",
          thanks: "Thanks for your feedback!", position: "You are number {n} in the queue.",
          noAgents: "No agents are online right now — we'll answer as soon as someone is back.",
          soon: "An agent will be with you any moment.", wait: "Estimated wait: about {m} min.",
          stars: "{n} out of 5" },
    de: { open: "Chat öffnen", close: "Chat schließen", end: "Chat beenden", placeholder: "Nachricht eingeben…",
          send: "Senden", message: "Nachricht", connecting: "Verbinde…", reconnecting: "Verbindung wird wiederhergestellt…",
          bot: "Virtueller Assistent", queued: "Warte auf einen Mitarbeiter…", assigned: "Im Gespräch mit unserem Team",
          resolved: "Gespräch abgeschlossen", closed: "Chat beendet", assistant: "Assistent", agent: "Mitarbeiter",
          sending: "Wird gesendet…", delivered: "Zugestellt", notSent: "Nicht gesendet", typing: "Schreibt…",
          rate: "Wie war dieses Gespräch?", comment: "Möchten Sie noch etwas sagen? (optional)",
          thanks: "Danke für Ihr Feedback!", position: "Sie sind Nummer {n} in der Warteschlange.",
          noAgents: "Gerade ist niemand erreichbar — wir antworten, sobald jemand da ist.",
          soon: "Gleich ist jemand für Sie da.", wait: "Geschätzte Wartezeit: etwa {m} Min.",
          stars: "{n} von 5" },
  };
  function t(key, values) {
    var text = (STRINGS[cfg.locale] || STRINGS.en)[key] || STRINGS.en[key];
    return text.replace(/\{(\w+)\}/g, function (m, k) { return values && k in values ? values[k] : m; });
  }
  var STORE_KEY = "handoffhub:" + cfg.hubUrl;
  var state = loadState();
  state.lastSeq = 0; // a fresh page shows nothing yet: restore the whole history
  var socket = null, helloDone = false, retry = 0, pending = {}, listeners = {};
  // Seqs seen above state.lastSeq (which is the highest seq with no gap below it): live events
  // and the replay may overlap or arrive out of order, and must each show exactly once.
  var seen = {};

  function loadState() {
    try { return JSON.parse(localStorage.getItem(STORE_KEY)) || { token: null, lastSeq: 0 }; }
    catch (e) { return { token: null, lastSeq: 0 }; }
  }
  function saveState() { try { localStorage.setItem(STORE_KEY, JSON.stringify(state)); } catch (e) {} }
  function emit(name, data) { (listeners[name] || []).forEach(function (fn) { fn(data); }); }
  function uid() { return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/-/g, ""); }

  // ---- DOM (inside a shadow root so the host page's CSS can't break us) ----
  var host = document.createElement("div");
  host.id = "handoff-hub-widget";
  document.body.appendChild(host);
  var root = host.attachShadow({ mode: "open" });
  var css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = cfg.hubUrl + "/static/widget/widget.css";
  root.appendChild(css);
  var wrap = el("div", "hh-wrap hh-" + cfg.position);
  wrap.style.setProperty("--hh-color", cfg.color);
  root.appendChild(wrap);
  var launcher = el("button", "hh-launcher");
  launcher.type = "button";
  launcher.setAttribute("aria-label", t("open"));
  // An inline SVG speech bubble: no icon font or emoji font needed on the host page.
  var svgNS = "http://www.w3.org/2000/svg";
  var icon = document.createElementNS(svgNS, "svg");
  icon.setAttribute("viewBox", "0 0 24 24"); icon.setAttribute("width", "28"); icon.setAttribute("height", "28");
  icon.setAttribute("aria-hidden", "true");
  var path = document.createElementNS(svgNS, "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
  icon.appendChild(path);
  launcher.appendChild(icon);
  var panel = el("section", "hh-panel");
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", cfg.title);
  panel.hidden = true;
  var header = el("header", "hh-header");
  var titleEl = el("h2", "hh-title"); titleEl.textContent = cfg.title;
  var statusEl = el("p", "hh-status"); statusEl.setAttribute("data-testid", "hh-status");
  var closeBtn = el("button", "hh-close"); closeBtn.type = "button"; closeBtn.textContent = "×";
  closeBtn.setAttribute("aria-label", t("close"));
  var endBtn = el("button", "hh-end"); endBtn.type = "button"; endBtn.textContent = t("end");
  header.append(titleEl, statusEl, endBtn, closeBtn);
  var log = el("ol", "hh-log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("data-testid", "hh-log");
  var typingEl = el("p", "hh-typing"); typingEl.hidden = true;
  var queueEl = el("p", "hh-queue"); queueEl.hidden = true;
  queueEl.setAttribute("role", "status"); queueEl.setAttribute("data-testid", "hh-queue");
  var ratingEl = el("div", "hh-rating"); ratingEl.hidden = true;
  ratingEl.setAttribute("data-testid", "hh-rating");
  var ratingLabel = el("p"); ratingLabel.textContent = t("rate");
  ratingEl.appendChild(ratingLabel);
  [1, 2, 3, 4, 5].forEach(function (n) {
    var star = el("button", "hh-star"); star.type = "button"; star.textContent = "★";
    star.setAttribute("aria-label", t("stars", { n: n }));
    star.addEventListener("click", function () { sendFrame({ type: "rate", score: n, comment: ratingComment.value }); });
    ratingEl.appendChild(star);
  });
  var ratingComment = el("input", "hh-comment"); ratingComment.placeholder = t("comment");
  ratingComment.setAttribute("aria-label", "Comment"); ratingComment.maxLength = 2000;
  ratingEl.appendChild(ratingComment);
  var form = el("form", "hh-composer");
  var input = el("input", "hh-input");
  input.type = "text"; input.maxLength = 4000; input.placeholder = t("placeholder");
  input.setAttribute("aria-label", t("message"));
  var sendBtn = el("button", "hh-send"); sendBtn.type = "submit"; sendBtn.textContent = t("send");
  form.append(input, sendBtn);
  panel.append(header, queueEl, log, typingEl, ratingEl, form);
  wrap.append(panel, launcher);

  function el(tag, cls) { var e = document.createElement(tag); if (cls) e.className = cls; return e; }

  launcher.addEventListener("click", function () { panel.hidden ? open() : close(); });
  closeBtn.addEventListener("click", close);
  endBtn.addEventListener("click", function () { sendFrame({ type: "end" }); showRating(); });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (text) { send(text); input.value = ""; }
  });
  var typingTimer = null;
  input.addEventListener("input", function () {
    sendFrame({ type: "typing", active: true });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { sendFrame({ type: "typing", active: false }); }, 1500);
  });

  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    if (!socket) connect();
    if (cfg.greeting && !log.children.length) renderSystem(cfg.greeting);
    input.focus();
  }
  function close() { panel.hidden = true; launcher.setAttribute("aria-expanded", "false"); }

  // ---- Connection: hello with our token and last seq; the hub replays what we missed ----
  function connect() {
    var url = cfg.hubUrl.replace(/^http/, "ws") + "/ws/chat/";
    socket = new WebSocket(url);
    helloDone = false;
    setStatus(t("connecting"), "connecting");
    socket.onopen = function () {
      retry = 0;
      socket.send(JSON.stringify({
        // start: a new chat lets the assistant speak first (its pattern_session_start).
        type: "hello", token: state.token, last_seq: state.lastSeq, site: cfg.site, start: !state.token,
        identity: script && script.dataset.userId ? { id: script.dataset.userId, hash: script.dataset.userHash } : undefined,
        metadata: { page_url: location.href, user: window.HandoffHubUser || null },
      }));
    };
    socket.onmessage = function (ev) { handle(JSON.parse(ev.data)); };
    socket.onclose = function () {
      helloDone = false;
      setStatus(t("reconnecting"), "reconnecting");
      var delay = Math.min(10000, 500 * Math.pow(2, retry++));
      setTimeout(connect, delay);
    };
  }
  function sendFrame(frame) {
    if (socket && socket.readyState === 1 && helloDone) { socket.send(JSON.stringify(frame)); return true; }
    return false;
  }
  // The hub could not store a message (or start the chat) just now: nothing was kept, so
  // the same frame is sent again shortly; the client id makes a late duplicate harmless.
  var retryTimer = null;
  function retryLater(ref) {
    if (!helloDone) { if (socket) socket.close(); return; }
    if (ref && pending[ref]) pending[ref].li.classList.add("hh-retrying");
    if (retryTimer) return;
    retryTimer = setTimeout(function () { retryTimer = null; flushPending(); }, 1500 + Math.random() * 1000);
  }
  function flushPending() {
    Object.keys(pending).forEach(function (id) { sendFrame(pending[id].frame); });
  }

  function handle(frame) {
    switch (frame.type) {
      case "welcome":
        if (state.token !== frame.token) { state.token = frame.token; state.lastSeq = 0; saveState(); }
        helloDone = true;
        setStatus(statusText(frame.status), frame.status);
        flushPending();
        break;
      case "message": renderMessage(frame); break;
      case "ack": markDelivered(frame.client_id, frame.seq); break;
      case "status":
        setStatus(statusText(frame.status), frame.status); emit("status", frame);
        if (frame.status === "resolved") showRating();
        break;
      case "queue": showQueue(frame); emit("queue-position", frame); break;
      case "rated": ratingEl.textContent = t("thanks"); break;
      case "typing": typingEl.hidden = !frame.active; typingEl.textContent = frame.active ? t("typing") : ""; break;
      case "error":
        if (frame.code === "invalid_token") { state = { token: null, lastSeq: 0 }; seen = {}; saveState(); log.textContent = ""; socket.close(); }
        else if (frame.code === "try_again") { retryLater(frame.ref); }
        else if (frame.ref && pending[frame.ref]) { markFailed(frame.ref, frame.message); }
        break;
    }
  }

  function statusText(status) {
    return ["bot", "queued", "assigned", "resolved", "closed"].indexOf(status) >= 0 ? t(status) : "";
  }
  function setStatus(text, kind) {
    statusEl.textContent = text; wrap.dataset.status = kind;
    if (kind !== "queued") queueEl.hidden = true;
  }
  function showQueue(f) {
    queueEl.hidden = false;
    var wait = f.eta_seconds == null ? t("noAgents")
      : f.eta_seconds === 0 ? t("soon")
      : t("wait", { m: Math.max(1, Math.round(f.eta_seconds / 60)) });
    queueEl.textContent = t("position", { n: f.position }) + " " + wait;
  }
  function showRating() {
    ratingEl.hidden = false;
  }

  // ---- Rendering ----
  function renderMessage(m) {
    if (m.seq <= state.lastSeq || seen[m.seq]) return;
    if (m.sender === "customer" && m.client_id && pending[m.client_id]) {
      markDelivered(m.client_id, m.seq); return;
    }
    markSeen(m.seq);
    if (m.sender === "system") { renderSystem(m.text, m.seq); if (m.data && m.data.event === "agent_joined") emit("agent-assigned", m.data); if (m.data && m.data.event === "queued") emit("handoff", m.data); return; }
    if (m.sender === "agent") { typingEl.hidden = true; }
    if (m.data && m.data.hidden) return;  // protocol events (e.g. silence) are not shown
    var li = el("li", "hh-msg hh-" + m.sender);
    if (m.sender !== "customer") {
      var who = el("span", "hh-who");
      who.textContent = m.sender === "agent" ? (m.agent_name || t("agent")) : t("assistant");
      li.appendChild(who);
    }
    // Bot and agent text may use a little markdown; the customer's own text stays verbatim.
    var body = el("p", "hh-text");
    if (m.sender === "customer") body.textContent = (m.data && m.data.title) || m.text || "";
    else renderRichText(body, m.text || "");
    li.appendChild(body);
    var data = m.data || {};
    if (m.sender === "bot") { applyUserInput(data); armSilenceTimer(); }
    if (data.custom) emit("custom", data.custom);  // custom payloads are for the host page
    if (data.image) { var img = el("img", "hh-image"); img.src = safeUrl(data.image); img.alt = ""; li.appendChild(img); }
    var buttons = data.buttons || data.quick_replies || [];
    if (buttons.length) {
      var row = el("div", "hh-buttons");
      buttons.forEach(function (b) {
        var btn = el("button", "hh-button"); btn.type = "button"; btn.textContent = b.title || b.payload;
        btn.addEventListener("click", function () { send(b.payload || b.title, b.title); });
        row.appendChild(btn);
      });
      li.appendChild(row);
    }
    place(li, m.seq);
    emit("message", m);
  }
  function renderSystem(text, seq) {
    var li = el("li", "hh-msg hh-system"); li.textContent = text; place(li, seq);
  }
  function markSeen(seq) {
    seen[seq] = true;
    while (seen[state.lastSeq + 1]) { delete seen[state.lastSeq + 1]; state.lastSeq += 1; }
    saveState();
  }
  // Keep the log in seq order even when a message arrives late.
  function place(li, seq) {
    if (seq) {
      li.dataset.seq = seq;
      var items = log.children;
      for (var i = 0; i < items.length; i++) {
        var other = Number(items[i].dataset.seq || 0);
        if (other > seq) { log.insertBefore(li, items[i]); return; }
      }
    }
    log.appendChild(li);
    li.scrollIntoView({ block: "end" });
  }
  function safeUrl(url) { return /^(https?:|\/)/i.test(url) ? url : ""; }

  // A little safe markdown: **bold**, *italic*, [text](https://…) and bare https links.
  // Built from text nodes and elements, never from HTML strings.
  var INLINE = /(?<![\w*])\*\*(?!\s)([^*\n]+?)\*\*(?![\w*])|(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])|\[([^\]\n]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>"]+)/g;
  function renderRichText(container, text) {
    var last = 0, match;
    INLINE.lastIndex = 0;
    while ((match = INLINE.exec(text))) {
      container.appendChild(document.createTextNode(text.slice(last, match.index)));
      if (match[1]) { var b = el("strong"); b.textContent = match[1]; container.appendChild(b); }
      else if (match[2]) { var i = el("em"); i.textContent = match[2]; container.appendChild(i); }
      else { link(container, match[3] || match[5], match[4] || match[5]); }
      last = INLINE.lastIndex;
    }
    container.appendChild(document.createTextNode(text.slice(last)));
  }
  function link(container, label, url) {
    if (!/^https?:\/\//i.test(url)) { container.appendChild(document.createTextNode(label)); return; }
    var a = el("a"); a.href = url; a.textContent = label; a.target = "_blank"; a.rel = "noopener noreferrer";
    container.appendChild(a);
  }
  // Rasa bots may ask the channel to hide or disable the text input (e.g. "pick a button").
  function applyUserInput(data) {
    var wish = (data.metadata && data.metadata.userInput) || (data.custom && data.custom.userInput);
    form.hidden = wish === "hide";
    input.disabled = sendBtn.disabled = wish === "disable";
  }

  var silenceTimer = null;
  function armSilenceTimer() {
    clearTimeout(silenceTimer);
    if (cfg.silenceTimeout > 0) {
      silenceTimer = setTimeout(function () { sendFrame({ type: "silence", client_id: uid() }); },
                                cfg.silenceTimeout * 1000);
    }
  }
  input.addEventListener("input", function () { clearTimeout(silenceTimer); });

  function send(text, shown) {
    clearTimeout(silenceTimer);
    var id = uid();
    var li = el("li", "hh-msg hh-customer hh-pending");
    li.dataset.clientId = id;
    var body = el("p", "hh-text"); body.textContent = shown || text; li.appendChild(body);
    var st = el("span", "hh-delivery"); st.textContent = t("sending"); li.appendChild(st);
    log.appendChild(li);
    li.scrollIntoView({ block: "end" });
    pending[id] = { frame: { type: "message", client_id: id, text: text, title: shown }, li: li };
    sendFrame(pending[id].frame);
  }
  function markDelivered(clientId, seq) {
    var p = pending[clientId];
    if (!p) return;
    delete pending[clientId];
    p.li.classList.remove("hh-pending", "hh-retrying");
    p.li.dataset.seq = seq;
    p.li.querySelector(".hh-delivery").textContent = t("delivered");
    markSeen(seq);
  }
  function markFailed(clientId, reason) {
    var p = pending[clientId];
    delete pending[clientId];
    p.li.classList.add("hh-failed");
    p.li.querySelector(".hh-delivery").textContent = reason || t("notSent");
  }

  window.HandoffHub = {
    open: open, close: close, send: function (t) { open(); send(t); },
    reset: function () { state = { token: null, lastSeq: 0 }; seen = {}; saveState(); log.textContent = ""; if (socket) socket.close(); },
    on: function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); },
    setSilenceTimeout: function (seconds) { cfg.silenceTimeout = Number(seconds) || 0; },
  };
  if (state.token) open(); // a chat in progress reopens across reloads
})();
