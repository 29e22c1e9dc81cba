/* Agent console: live queue over /ws/console/, transcripts, claim / reply / return / resolve.
 * All user, bot and agent text is set with textContent: nothing is ever parsed as HTML. */
(function () {
  "use strict";
  var root = document.getElementById("console");
  var agentId = Number(root.dataset.agentId);
  var conversations = {};      // id -> summary
  var transcripts = {};        // id -> {lastSeq, seen}
  var current = null, tab = "queue", socket = null, retry = 0;
  var $ = function (id) { return document.getElementById(id); };

  function connect() {
    socket = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws/console/");
    socket.onopen = function () { retry = 0; setConn("Online", true); if (current) openConversation(current); };
    socket.onmessage = function (ev) { handle(JSON.parse(ev.data)); };
    socket.onclose = function () {
      setConn("Reconnecting…", false);
      setTimeout(connect, Math.min(10000, 500 * Math.pow(2, retry++)));
    };
  }
  function send(frame) { if (socket && socket.readyState === 1) socket.send(JSON.stringify(frame)); }
  function setConn(text, ok) { var c = $("conn"); c.textContent = text; c.classList.toggle("online", ok); }

  function handle(f) {
    switch (f.type) {
      case "snapshot":
        conversations = {};
        f.conversations.forEach(function (c) { conversations[c.id] = c; });
        renderList(); break;
      case "conversation":
        var isNew = !conversations[f.conversation.id] && f.conversation.status === "queued";
        conversations[f.conversation.id] = f.conversation;
        if (isNew) notifyNewChat(f.conversation);
        renderList();
        if (current === f.conversation.id) renderHead(); break;
      case "transcript": renderTranscript(f); break;
      case "message": if (f.conversation === current) appendMessage(f); break;
      case "typing": if (f.conversation === current) $("customer-typing").hidden = !f.active; break;
      case "error": $("console-error").textContent = f.message; break;
      case "ack": $("console-error").textContent = ""; break;
    }
  }

  // ---- Lists ----
  function inTab(c) {
    if (tab === "mine") return c.status === "assigned" && c.assigned_agent_id === agentId;
    return c.status === "queued";
  }
  function renderList() {
    var list = $("conversation-list");
    list.textContent = "";
    var all = Object.values(conversations);
    $("count-queue").textContent = all.filter(function (c) { return c.status === "queued"; }).length;
    $("count-mine").textContent = all.filter(function (c) { return c.status === "assigned" && c.assigned_agent_id === agentId; }).length;
    all.filter(inTab)
      .sort(function (a, b) { return (a.enqueued_at || "").localeCompare(b.enqueued_at || ""); })
      .forEach(function (c) {
        var li = document.createElement("li");
        li.dataset.id = c.id;
        li.dataset.testid = "conversation";
        if (c.id === current) li.classList.add("active");
        var meta = document.createElement("div"); meta.className = "meta";
        var reason = document.createElement("span"); reason.textContent = (c.reason || "").replace(/_/g, " ");
        var wait = document.createElement("span"); wait.className = "wait"; wait.dataset.since = c.enqueued_at || "";
        meta.append(reason, wait);
        var preview = document.createElement("div"); preview.className = "preview"; preview.textContent = c.last_message;
        li.append(meta, preview);
        li.addEventListener("click", function () { openConversation(c.id); });
        list.appendChild(li);
      });
    tickWaits();
  }
  function tickWaits() {
    document.querySelectorAll(".wait").forEach(function (w) {
      if (!w.dataset.since) return;
      var s = Math.max(0, Math.round((Date.now() - Date.parse(w.dataset.since)) / 1000));
      w.textContent = s < 60 ? s + "s" : Math.floor(s / 60) + "m " + (s % 60) + "s";
      w.className = "wait" + (s > 300 ? " wait-old" : s > 60 ? " wait-mid" : "");
    });
  }
  setInterval(tickWaits, 1000);
  document.querySelectorAll(".tabs button").forEach(function (b) {
    b.addEventListener("click", function () {
      tab = b.dataset.tab;
      document.querySelectorAll(".tabs button").forEach(function (o) { o.setAttribute("aria-selected", o === b ? "true" : "false"); });
      renderList();
    });
  });
  function notifyNewChat(c) {
    if (window.Notification && Notification.permission === "granted") new Notification("New chat waiting", { body: c.last_message || "" });
  }

  // ---- Conversation ----
  // Opening another chat redraws from scratch; reopening the same one (after a reconnect)
  // asks only for what was missed.
  function openConversation(id) {
    if (id !== current || !transcripts[id]) {
      transcripts = {};
      transcripts[id] = { lastSeq: 0, seen: {} };
      $("transcript").textContent = "";
    }
    current = id;
    send({ type: "open", conversation: id, last_seq: transcripts[id].lastSeq });
    $("empty").hidden = true; $("chat-view").hidden = false;
    renderList(); renderHead();
  }
  function renderHead() {
    var c = conversations[current];
    if (!c) return;
    $("chat-title").textContent = "Conversation " + c.id.slice(0, 8) + " · " + c.status;
    var mine = c.status === "assigned" && c.assigned_agent_id === agentId;
    $("claim").disabled = c.status !== "queued";
    $("resolve").disabled = !(mine || c.status === "queued");
    $("return-to-bot").disabled = !(mine || c.status === "queued");
    $("reply").disabled = !mine;
  }
  function renderTranscript(f) {
    var id = f.conversation.id;
    conversations[id] = f.conversation;
    if (id !== current) return;
    f.messages.forEach(appendMessage);
    renderContext(f);
    renderHead();
  }
  function appendMessage(m) {
    var t = transcripts[current];
    if (!t || t.seen[m.seq]) return;
    t.seen[m.seq] = true;
    t.lastSeq = Math.max(t.lastSeq, m.seq);
    var li = document.createElement("li");
    li.className = m.sender;
    li.dataset.seq = m.seq;
    if (m.sender !== "system") {
      var who = document.createElement("span"); who.className = "who";
      who.textContent = { customer: "Customer", bot: "Bot", agent: m.agent_name || "Agent" }[m.sender];
      li.appendChild(who);
    }
    li.appendChild(document.createTextNode(m.text || ""));
    var buttons = (m.data && (m.data.buttons || m.data.quick_replies)) || [];
    if (buttons.length) {
      var b = document.createElement("div"); b.className = "buttons";
      b.textContent = "Buttons: " + buttons.map(function (x) { return x.title; }).join(" · ");
      li.appendChild(b);
    }
    var log = $("transcript");
    var after = Array.prototype.find.call(log.children, function (o) { return Number(o.dataset.seq) > m.seq; });
    log.insertBefore(li, after || null);
    li.scrollIntoView({ block: "end" });
  }
  function renderContext(f) {
    var box = $("context");
    box.textContent = "";
    var ticket = f.ticket;
    section(box, "Handoff", ticket ? [["Reason", ticket.reason_label], ["Summary", ticket.summary || "—"]] : [["Status", "No handoff"]]);
    var ctx = (ticket && ticket.bot_context) || {};
    section(box, "Bot's last intents", (ctx.latest_intents || []).map(function (i) {
      return [i.name, (Math.round(i.confidence * 1000) / 10) + "%"];
    }));
    section(box, "Slots", Object.entries(ctx.slots || {}).map(function (kv) { return [kv[0], JSON.stringify(kv[1])]; }));
    if (ctx.active_flow) section(box, "Active flow", [["Flow", ctx.active_flow]]);
    section(box, "Customer", Object.entries(f.customer_metadata || {}).filter(function (kv) {
      return kv[1] !== null && kv[1] !== "";
    }).map(function (kv) {
      return [kv[0], typeof kv[1] === "string" ? kv[1] : JSON.stringify(kv[1])];
    }));
  }
  function section(box, title, rows) {
    var h = document.createElement("h3"); h.textContent = title; box.appendChild(h);
    var dl = document.createElement("dl");
    if (!rows.length) { var dd0 = document.createElement("dd"); dd0.textContent = "—"; dl.appendChild(dd0); }
    rows.forEach(function (r) {
      var dt = document.createElement("dt"); dt.textContent = r[0];
      var dd = document.createElement("dd"); dd.textContent = r[1];
      dl.append(dt, dd);
    });
    box.appendChild(dl);
  }

  $("claim").addEventListener("click", function () { send({ type: "claim", conversation: current }); });
  $("resolve").addEventListener("click", function () { send({ type: "resolve", conversation: current }); });
  $("return-to-bot").addEventListener("click", function () { send({ type: "return_to_bot", conversation: current }); });
  $("composer").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = $("reply"), text = input.value.trim();
    if (!text || !current) return;
    var id = crypto.randomUUID ? crypto.randomUUID().replace(/-/g, "") : String(Date.now());
    send({ type: "reply", conversation: current, client_id: id, text: text });
    send({ type: "typing", conversation: current, active: false });
    clearTimeout(typingTimer);
    input.value = "";
  });
  var typingTimer = null;
  $("reply").addEventListener("input", function () {
    send({ type: "typing", conversation: current, active: true });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { send({ type: "typing", conversation: current, active: false }); }, 1500);
  });
  // A heartbeat: the hub re-queues the chats of an agent whose console falls silent.
  setInterval(function () { send({ type: "ping" }); }, 20000);
  if (window.Notification && Notification.permission === "default") Notification.requestPermission();
  connect();
})();
