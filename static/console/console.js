/* Agent console: live queue over /ws/console/, transcripts, claim / reply / note / transfer /
 * return / resolve, saved replies, status. All user, bot and agent text is set with
 * textContent: nothing is ever parsed as HTML. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("console-data").textContent);
  var agentId = data.agentId;
  var conversations = {};      // id -> summary
  var transcripts = {};        // id -> {lastSeq, seen}
  var unread = {};             // id -> count of customer messages not yet seen
  var countedUpTo = {};        // id -> seq of the last customer message counted (frames overlap)
  var current = null, tab = "queue", socket = null, retry = 0, searchHits = null;
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
        renderList(); renderLoad(); break;
      case "conversation":
        var isNew = (!conversations[f.conversation.id] || conversations[f.conversation.id].status !== "queued")
          && f.conversation.status === "queued";
        if (f.conversation.last_sender === "customer") countUnread(f.conversation.id, f.conversation.last_seq);
        conversations[f.conversation.id] = f.conversation;
        if (isNew) notifyNewChat(f.conversation);
        renderList(); renderLoad();
        if (current === f.conversation.id) renderHead(); break;
      case "transcript": renderTranscript(f); break;
      case "message":
        if (f.conversation === current) appendMessage(f);
        else if (f.sender === "customer") { countUnread(f.conversation, f.seq); renderList(); }
        break;
      case "note": if (f.conversation === current) appendNote(f); break;
      case "typing": if (f.conversation === current) $("customer-typing").hidden = !f.active; break;
      case "my_status": $("my-status").value = f.status; break;
      case "agent": if (f.agent_id === agentId) $("my-status").value = f.status; break;
      case "error": $("console-error").textContent = f.message; break;
      case "ack": $("console-error").textContent = ""; break;
    }
  }

  // ---- Lists ----
  var ENDED = ["resolved", "abandoned", "closed"];
  function inTab(c) {
    if (searchHits) return searchHits.indexOf(c.id) >= 0;
    var queueFilter = $("queue-filter").value;
    if (queueFilter && c.queue !== queueFilter) return false;
    if (tab === "mine") return c.status === "assigned" && c.assigned_agent_id === agentId;
    if (tab === "all") return ENDED.indexOf(c.status) < 0;
    if (tab === "resolved") return ENDED.indexOf(c.status) >= 0;
    return c.status === "queued";
  }
  function renderList() {
    var list = $("conversation-list");
    list.textContent = "";
    var all = Object.values(conversations);
    $("count-queue").textContent = all.filter(function (c) { return c.status === "queued"; }).length;
    $("count-mine").textContent = all.filter(function (c) { return c.status === "assigned" && c.assigned_agent_id === agentId; }).length;
    all.filter(inTab)
      .sort(function (a, b) { return (a.enqueued_at || a.updated_at).localeCompare(b.enqueued_at || b.updated_at); })
      .forEach(function (c) {
        var li = document.createElement("li");
        li.dataset.id = c.id;
        if (c.id === current) li.classList.add("active");
        var meta = document.createElement("div"); meta.className = "meta";
        var reason = document.createElement("span");
        reason.textContent = (c.queue ? c.queue + " · " : "") + (c.reason || c.status).replace(/_/g, " ") +
          (c.assigned_agent && tab !== "mine" ? " · " + c.assigned_agent : "");
        if (unread[c.id]) { var badge = document.createElement("span"); badge.className = "unread"; badge.textContent = unread[c.id]; reason.appendChild(badge); }
        var wait = document.createElement("span"); wait.className = "wait";
        wait.dataset.since = c.status === "queued" ? (c.enqueued_at || "") : "";
        meta.append(reason, wait);
        var preview = document.createElement("div"); preview.className = "preview"; preview.textContent = c.last_message;
        li.append(meta, preview);
        li.addEventListener("click", function () { openConversation(c.id); });
        list.appendChild(li);
      });
    tickWaits();
  }
  function renderLoad() {
    var busy = Object.values(conversations).filter(function (c) { return c.status === "assigned" && c.assigned_agent_id === agentId; }).length;
    $("load").textContent = busy + " / " + data.capacity + " chats";
  }
  function tickWaits() {
    document.querySelectorAll(".wait").forEach(function (w) {
      if (!w.dataset.since) { w.textContent = ""; return; }
      var s = Math.max(0, Math.round((Date.now() - Date.parse(w.dataset.since)) / 1000));
      w.textContent = s < 60 ? s + "s" : Math.floor(s / 60) + "m " + (s % 60) + "s";
      w.className = "wait" + (s > 300 ? " wait-old" : s > 60 ? " wait-mid" : "");
    });
  }
  setInterval(tickWaits, 1000);
  document.querySelectorAll(".tabs button").forEach(function (b) {
    b.addEventListener("click", function () {
      tab = b.dataset.tab; searchHits = null; $("search").value = "";
      document.querySelectorAll(".tabs button").forEach(function (o) { o.setAttribute("aria-selected", o === b ? "true" : "false"); });
      renderList();
    });
  });
  if (data.supervisor) $("tab-all").hidden = false;
  var searchTimer = null;
  $("search").addEventListener("input", function () {
    clearTimeout(searchTimer);
    var term = $("search").value.trim();
    searchTimer = setTimeout(function () {
      if (!term) { searchHits = null; renderList(); return; }
      fetch("/api/conversations/?search=" + encodeURIComponent(term), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (rows) {
          searchHits = rows.map(function (r) { return r.id; });
          rows.forEach(function (r) {
            if (!conversations[r.id]) conversations[r.id] = { id: r.id, status: r.status, reason: null, last_message: "", updated_at: r.updated_at, assigned_agent: r.assigned_agent };
          });
          renderList();
        });
    }, 250);
  });
  // A customer message is counted once, whether its chat's watch or the list told of it:
  // only past what this console has already seen of the chat (all of a chat first seen now),
  // and never for the chat on screen.
  function countUnread(id, seq) {
    var known = conversations[id];
    var seen = Math.max(countedUpTo[id] || 0, known ? known.last_seq || 0 : seq);
    if (seq > seen && id !== current) unread[id] = (unread[id] || 0) + 1;
    countedUpTo[id] = Math.max(seen, seq);
  }
  function notifyNewChat(c) {
    beep();
    if (window.Notification && Notification.permission === "granted") new Notification("New chat waiting", { body: c.last_message || "" });
  }
  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var osc = ctx.createOscillator(); var gain = ctx.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.05;
      osc.connect(gain); gain.connect(ctx.destination); osc.start(); osc.stop(ctx.currentTime + 0.15);
    } catch (e) { /* no audio: fine */ }
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
    delete unread[id];
    send({ type: "open", conversation: id, last_seq: transcripts[id].lastSeq });
    $("empty").hidden = true; $("chat-view").hidden = false;
    renderList(); renderHead();
  }
  function renderHead() {
    var c = conversations[current];
    if (!c) return;
    $("chat-title").textContent = "Conversation " + c.id.slice(0, 8) + " · " + c.status;
    var mine = c.status === "assigned" && c.assigned_agent_id === agentId;
    var human = mine || c.status === "queued" || (data.supervisor && c.status === "assigned");
    $("claim").disabled = c.status !== "queued";
    $("resolve").disabled = !human;
    $("return-to-bot").disabled = !human;
    $("transfer").disabled = !human;
    $("reply").disabled = !mine && !$("note-mode").checked;
  }
  function renderTranscript(f) {
    var id = f.conversation.id;
    conversations[id] = f.conversation;
    if (id !== current) return;
    f.messages.forEach(appendMessage);
    (f.notes || []).forEach(appendNote);
    renderContext(f);
    renderHead();
  }
  function place(li, seq) {
    var log = $("transcript");
    var after = Array.prototype.find.call(log.children, function (o) { return Number(o.dataset.seq) > seq; });
    log.insertBefore(li, after || null);
    li.scrollIntoView({ block: "end" });
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
    var shown = m.data && m.data.title ? m.data.title + " (" + m.text + ")" : m.text;
    var events = { silence_timeout: "The customer went quiet.", session_start: "The customer opened the chat." };
    if (m.data && events[m.data.event]) { li.className = "system"; shown = events[m.data.event]; li.textContent = ""; }
    li.appendChild(document.createTextNode(shown || ""));
    var buttons = (m.data && (m.data.buttons || m.data.quick_replies)) || [];
    if (buttons.length) {
      var b = document.createElement("div"); b.className = "buttons";
      b.textContent = "Buttons: " + buttons.map(function (x) { return x.title; }).join(" · ");
      li.appendChild(b);
    }
    place(li, m.seq);
  }
  function appendNote(n) {
    if (document.querySelector('#transcript li.note[data-note="' + n.id + '"]')) return;
    var li = document.createElement("li"); li.className = "note"; li.dataset.note = n.id;
    // Notes sit after the message that was last when they were written.
    li.dataset.seq = String(transcripts[current] ? transcripts[current].lastSeq + 0.5 : 0);
    var who = document.createElement("span"); who.className = "who";
    who.textContent = "Private note · " + (n.author || "Agent");
    li.append(who, document.createTextNode(n.text));
    $("transcript").appendChild(li);
    li.scrollIntoView({ block: "end" });
  }
  function renderContext(f) {
    var box = $("context");
    box.textContent = "";
    var ticket = f.ticket;
    section(box, "Handoff", ticket ? [["Reason", ticket.reason_label], ["Summary", ticket.summary || "—"]] : [["Status", "No handoff"]]);
    var ctx = (ticket && ticket.bot_context) || {};
    section(box, "Bot's last intents", (ctx.latest_intents || []).map(function (i) {
      return [i.name, (Math.round(i.confidence * 1000) / 10) + "%" + (i.text ? " — “" + i.text + "”" : "")];
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

  // ---- Actions ----
  function act(type) { if (current) send({ type: type, conversation: current }); }
  $("claim").addEventListener("click", function () { act("claim"); });
  $("resolve").addEventListener("click", function () { act("resolve"); });
  $("return-to-bot").addEventListener("click", function () { act("return_to_bot"); });
  data.queues.forEach(function (q) {
    addOption("queue:" + q.id, "Queue: " + q.name);
    var o = document.createElement("option"); o.value = q.name; o.textContent = q.name; $("queue-filter").appendChild(o);
  });
  $("queue-filter").addEventListener("change", renderList);
  data.agents.forEach(function (a) { addOption("agent:" + a.id, "Agent: " + a.name); });
  function addOption(value, label) {
    var o = document.createElement("option"); o.value = value; o.textContent = label; $("transfer").appendChild(o);
  }
  $("transfer").addEventListener("change", function () {
    var v = $("transfer").value; $("transfer").value = "";
    if (!v || !current) return;
    var parts = v.split(":"), frame = { type: "transfer", conversation: current };
    frame[parts[0]] = Number(parts[1]);
    var note = window.prompt("Note for the next agent (optional):", "");
    if (note) frame.note = note;
    send(frame);
  });
  $("my-status").value = data.status;
  $("my-status").addEventListener("change", function () { send({ type: "status", status: $("my-status").value }); });
  $("note-mode").addEventListener("change", function () {
    $("composer").classList.toggle("noting", $("note-mode").checked); renderHead(); $("reply").focus();
  });
  $("composer").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = $("reply"), text = input.value.trim();
    if (!text || !current) return;
    if ($("note-mode").checked) {
      send({ type: "note", conversation: current, text: text });
    } else {
      var id = crypto.randomUUID ? crypto.randomUUID().replace(/-/g, "") : String(Date.now());
      send({ type: "reply", conversation: current, client_id: id, text: text });
      send({ type: "typing", conversation: current, active: false });
    }
    clearTimeout(typingTimer);
    input.value = ""; $("canned").hidden = true;
  });

  // ---- Saved replies: type "/" and a shortcut; {customer_name} etc. are filled in ----
  function cannedMatches(text) {
    if (text.charAt(0) !== "/") return [];
    var term = text.slice(1).toLowerCase();
    return data.canned.filter(function (c) { return c.shortcut.toLowerCase().indexOf(term) === 0; });
  }
  function fillVariables(text) {
    var c = conversations[current] || {};
    var values = { agent_name: data.agentName, customer_name: c.customer_name || "there", queue: c.queue || "" };
    return text.replace(/\{(\w+)\}/g, function (m, name) { return name in values ? values[name] : m; });
  }
  function showCanned() {
    var list = $("canned"), matches = cannedMatches($("reply").value);
    list.textContent = "";
    list.hidden = !matches.length;
    matches.forEach(function (c, i) {
      var li = document.createElement("li"); li.textContent = "/" + c.shortcut + " — " + c.text;
      if (i === 0) li.classList.add("active");
      li.addEventListener("mousedown", function (ev) { ev.preventDefault(); useCanned(c); });
      list.appendChild(li);
    });
  }
  function useCanned(c) { $("reply").value = fillVariables(c.text); $("canned").hidden = true; $("reply").focus(); }

  var typingTimer = null;
  $("reply").addEventListener("input", function () {
    showCanned();
    if ($("note-mode").checked) return;
    send({ type: "typing", conversation: current, active: true });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { send({ type: "typing", conversation: current, active: false }); }, 1500);
  });
  $("reply").addEventListener("keydown", function (ev) {
    var matches = cannedMatches($("reply").value);
    if ((ev.key === "Tab" || ev.key === "Enter") && matches.length && !$("canned").hidden) {
      ev.preventDefault(); useCanned(matches[0]);
    }
  });
  document.addEventListener("keydown", function (ev) {
    if (!ev.altKey) return;
    var keys = { c: "claim", r: "resolve", b: "return_to_bot" };
    if (keys[ev.key]) { ev.preventDefault(); act(keys[ev.key]); }
    if (ev.key === "n") { ev.preventDefault(); $("note-mode").click(); }
  });
  // A heartbeat: the hub re-queues the chats of an agent whose console falls silent.
  setInterval(function () { send({ type: "ping" }); }, 20000);
  if (window.Notification && Notification.permission === "default") Notification.requestPermission();
  connect();
})();
