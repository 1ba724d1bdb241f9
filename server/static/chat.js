"use strict";
// The student page: streams an answer from /api/chat/stream, then shows the server-rendered, sanitised
// answer (/api/render) with its sources. Text from the model or a document only ever enters the page as
// textContent, or as HTML that the server sanitised; the page's Content-Security-Policy forbids any
// script but this file and api.js.
const MentorChat = (() => {
  const STORE = "mentor.conversations";
  const CURRENT = "mentor.current"; // the open conversation's id, reopened on reload
  const MAX_CONVERSATIONS = 30;
  const MAX_MESSAGES = 60;
  const $ = (selector, root) => (root || document).querySelector(selector);
  const state = { conversations: load(), current: null, busy: false, count: 0, stop: null, answered: {} };

  // ---- conversations kept in this browser (continued server-side by their id) -----------------------
  function load() {
    try {
      const value = JSON.parse(localStorage.getItem(STORE) || "[]");
      return Array.isArray(value) ? value : [];
    } catch (err) {
      return [];
    }
  }

  function save() {
    state.conversations.sort((a, b) => b.updated - a.updated);
    state.conversations = state.conversations.slice(0, MAX_CONVERSATIONS);
    for (const c of state.conversations) c.messages = c.messages.slice(-MAX_MESSAGES);
    try {
      localStorage.setItem(STORE, JSON.stringify(state.conversations));
    } catch (err) {
      // storage full: drop the other conversations' rendered excerpts (their text stays) and try once more
      for (const c of state.conversations) {
        if (c !== state.current) for (const m of c.messages) delete m.excerpts;
      }
      try {
        localStorage.setItem(STORE, JSON.stringify(state.conversations));
      } catch (again) {
        // still full: keep working, the server still holds the conversation
      }
    }
    remember();
    renderHistory();
  }

  function remember() {
    try {
      if (state.current) localStorage.setItem(CURRENT, state.current.id);
      else localStorage.removeItem(CURRENT);
    } catch (err) {
      // storage unavailable: a reload starts a new conversation
    }
  }

  function renderHistory() {
    const list = $("#conversations");
    list.replaceChildren();
    for (const conversation of state.conversations) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "conversation-link";
      if (state.current && state.current.id === conversation.id) button.setAttribute("aria-current", "true");
      const title = document.createElement("span");
      title.textContent = conversation.title;
      const when = document.createElement("small");
      when.textContent = new Date(conversation.updated).toLocaleString();
      button.append(title, when);
      button.addEventListener("click", () => open(conversation));
      item.append(button);
      const answered = state.answered[conversation.id];
      if (answered) item.append(answeredLink(answered[0]));
      list.append(item);
    }
  }

  // A question the materials failed that an instructor has answered since (asked for when the page opens).
  function answeredLink(found) {
    const link = element("a", "answered", "✓ answered by your instructor");
    link.href = found.href;
    link.target = "_blank";
    link.rel = "noopener";
    link.title = `${found.title}: ${found.question}`;
    return link;
  }

  const norm = (text) => text.toLowerCase().replace(/\s+/g, " ").trim();
  function markAnswered() {
    const found = (state.current && state.answered[state.current.id]) || [];
    for (const node of document.querySelectorAll("#messages .question")) {
      const match = found.find((f) => norm(f.question) === norm(node.textContent));
      if (match && !$(".answered", node)) node.append(answeredLink(match));
    }
  }

  async function checkAnswered() {
    const ids = state.conversations.map((c) => c.id);
    if (!ids.length) return;
    try {
      const { answered } = await MentorApi.post("/api/conversations/answered", { conversation_ids: ids });
      for (const f of answered) (state.answered[f.conversation_id] ||= []).push(f);
    } catch (err) {
      return; // no marks: the conversations work as before
    }
    renderHistory();
    markAnswered();
  }

  function clearMessages() {
    const messages = $("#messages");
    messages.replaceChildren($("#empty-state") || document.createElement("p"));
  }

  function open(conversation) {
    if (state.busy) return; // an answer is being written into the open one
    state.current = conversation;
    $("#module").value = conversation.module || "";
    clearMessages();
    $("#empty-state").hidden = conversation.messages.length > 0;
    for (const message of conversation.messages) {
      if (message.role === "user") addQuestion(message.text);
      else if (message.stopped) showStopped(newAnswer(), message.text);
      else showAnswer(newAnswer(), message);
    }
    markAnswered();
    remember();
    renderHistory();
    toggleHistory(false);
    showAsk();
  }

  function startNew() {
    if (state.busy) return;
    state.current = null;
    clearMessages();
    $("#empty-state").hidden = false;
    remember();
    renderHistory();
    showAsk();
    $("#question").focus();
  }

  async function ensureConversation(question) {
    if (state.current) return state.current;
    // Issued by the server (128 random bits, signed): only whoever holds it continues the conversation.
    const { conversation_id: id } = await MentorApi.post("/api/conversations", {});
    state.current = { id, title: question.slice(0, 80), module: $("#module").value, updated: Date.now(), messages: [] };
    state.conversations.unshift(state.current);
    remember();
    return state.current;
  }

  // ---- messages ------------------------------------------------------------------------------
  function addQuestion(text) {
    $("#empty-state").hidden = true;
    const node = document.createElement("article");
    node.className = "message question";
    const body = document.createElement("p");
    body.textContent = text;
    node.append(body);
    $("#messages").append(node);
    node.scrollIntoView({ block: "end" });
  }

  function newAnswer() {
    const node = $("#answer-template").content.firstElementChild.cloneNode(true);
    node.id = `answer-${++state.count}`;
    $("#messages").append(node);
    return node;
  }

  function setBadge(node, text, kind) {
    const badge = $(".badge", node);
    badge.textContent = text;
    badge.className = `badge ${kind || ""}`;
  }

  function locationOf(source) {
    const parts = [];
    if (source.page) parts.push(`page ${source.page}`);
    if (source.slide) parts.push(`slide ${source.slide}`);
    if (source.cell) parts.push(`cell ${source.cell}`);
    if (source.anchor) parts.push(`#${source.anchor}`);
    if (source.line_start) {
      const end = source.line_end > source.line_start ? `-${source.line_end}` : "";
      parts.push(`line${end ? "s" : ""} ${source.line_start}${end}`);
    }
    return parts.join(", ");
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function renderSources(node, final, links, excerpts) {
    const panel = $(".sources", node);
    const list = $("ol", panel);
    list.replaceChildren();
    const sources = final.sources || [];
    panel.hidden = sources.length === 0;
    const refused = final.route === "course" && !final.grounded;
    const label = final.weak_matches ? "Closest material (weak matches)" : refused ? "Closest sources" : "Sources";
    $("summary", panel).textContent = `${label} (${sources.length})`;
    panel.open = true;
    for (const source of sources) {
      const item = element("li", "source");
      item.id = `${node.id}-source-${source.n}`;
      item.value = source.n;
      const head = element("div", "source-head");
      const link = element("a", "source-open", source.source);
      link.href = links[source.n] || "#";
      link.target = "_blank";
      link.rel = "noopener";
      link.title = "Open the original";
      head.append(element("span", "source-n", `[${source.n}]`), link);
      const where = locationOf(source);
      if (where) head.append(element("span", "source-location", where));
      head.append(element("span", "source-score", `relevance ${Number(source.score || 0).toFixed(2)}`));
      item.append(head);
      const path = [source.title, ...(source.headings ? source.headings.split(" > ") : [])]
        .filter((part, i, all) => part && all.indexOf(part) === i);
      if (path.length) item.append(element("p", "source-path", path.join(" › ")));
      const excerpt = element("blockquote", "excerpt");
      if (excerpts && excerpts[source.n] !== undefined) {
        excerpt.innerHTML = excerpts[source.n]; // sanitised by the server (/api/excerpts)
        addCopyButtons(excerpt);
      } else {
        excerpt.textContent = source.snippet || source.text || "";
        excerpt.classList.add("plain");
      }
      item.append(excerpt);
      list.append(item);
    }
  }

  // A Copy button on each code block (answers and excerpts): the code as text, to paste into an editor.
  function addCopyButtons(root) {
    for (const pre of root.querySelectorAll("pre")) {
      if (pre.parentElement.classList.contains("code-block")) continue;
      const wrap = element("div", "code-block");
      pre.replaceWith(wrap);
      const button = element("button", "copy", "Copy");
      button.type = "button";
      button.setAttribute("aria-label", "Copy code");
      button.addEventListener("click", () => copy(pre.innerText.replace(/\n$/, ""), button));
      wrap.append(button, pre);
    }
  }

  async function copy(text, button) {
    let done = false;
    try {
      await navigator.clipboard.writeText(text);
      done = true;
    } catch (err) {
      // no clipboard API here (or no permission): a hidden textarea and the copy command
      const area = element("textarea", "visually-hidden");
      area.value = text;
      document.body.append(area);
      area.select();
      try {
        done = document.execCommand("copy");
      } catch (failed) {
        done = false;
      }
      area.remove();
      button.focus();
    }
    button.textContent = done ? "Copied" : "Copy failed";
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  }

  function renderRemoved(node, final) {
    const removed = (final.support || []).filter((s) => !s.supported);
    const panel = $(".removed", node);
    panel.hidden = removed.length === 0;
    const list = $("ul", panel);
    list.replaceChildren(...removed.map((s) => element("li", "unsupported", s.text)));
  }

  function badgeFor(final) {
    if (final.route === "chat") return ["Small talk: not from the course materials", "neutral"];
    if (!final.grounded) return ["Not in the course materials", "refused"];
    const v = final.verified;
    const checked = v && v.sentences ? ` · ${v.supported} of ${v.sentences} sentences found in the notes` : "";
    return [`Grounded in the course materials${checked}`, "grounded"];
  }

  function bindCitations(node) {
    for (const chip of node.querySelectorAll("a.cite")) {
      chip.addEventListener("click", () => {
        const target = document.getElementById(`${node.id}-source-${chip.dataset.n}`);
        if (!target) return;
        for (const other of node.querySelectorAll(".source.highlight")) other.classList.remove("highlight");
        $(".sources", node).open = true;
        target.classList.add("highlight");
        target.scrollIntoView({ block: "nearest" });
      });
    }
  }

  // A refusal under a module filter says so, names the modules whose notes match, and retries without it.
  function renderFilter(node, stored) {
    const note = $(".filter-note", node);
    const filter = stored.filter;
    note.hidden = !filter;
    if (!filter) return;
    const where = filter.elsewhere || [];
    const text = where.length
      ? `The module filter is on (${filter.module}): the closest material is in ${where.join(", ")}.`
      : `The module filter is on (${filter.module}), and no other module matches closely either.`;
    const button = element("button", "search-all", "Search all modules");
    button.type = "button";
    button.addEventListener("click", () => {
      $("#module").value = "";
      submit(filter.question);
    });
    note.replaceChildren(element("span", "", text + " "), button);
  }

  // HINTS_FIRST: an exercise given back in place of its solution offers the solution, asked in this conversation
  // (the graph answers a request that names the exercise with its whole worked solution).
  function renderSolutionAsk(node, final) {
    if (!final.held_back) return;
    const button = element("button", "show-solution", "Show the solution");
    button.type = "button";
    button.addEventListener("click", () => submit(`Show me the solution to “${final.held_back}”`));
    const row = element("p", "solution-ask");
    row.append(button);
    $(".answer-body", node).after(row);
  }

  // One finished answer: `stored` is {final, html, links, excerpts, filter, feedback}; html was sanitised
  // by the server.
  function showAnswer(node, stored) {
    const { final } = stored;
    $(".answer-body", node).innerHTML = stored.html;
    addCopyButtons($(".answer-body", node));
    const [text, kind] = badgeFor(final);
    setBadge(node, text, kind);
    renderFilter(node, stored);
    renderSolutionAsk(node, final);
    renderRemoved(node, final);
    renderSources(node, final, stored.links || {}, stored.excerpts);
    bindCitations(node);
    setupFeedback(node, stored);
    node.dataset.state = "done";
    node.dataset.route = final.route || "";
    node.dataset.grounded = String(Boolean(final.grounded));
  }

  // A refusal for want of any note above the relevance floor comes without sources: show the nearest anyway.
  // Under a module filter, also ask which other modules' notes match (`filter`).
  async function withClosest(final, question, moduleName) {
    const refused = final.route === "course" && !final.grounded;
    const hasSources = (final.sources || []).length > 0;
    if (!refused || (hasSources && !moduleName)) return { final, filter: null };
    try {
      const closest = await MentorApi.post("/api/closest", { question, module: moduleName || null });
      const filter = moduleName ? { module: moduleName, elsewhere: closest.elsewhere || [], question } : null;
      if (hasSources) return { final, filter };
      return { final: Object.assign({}, final, { sources: closest.sources, weak_matches: true }), filter };
    } catch (err) {
      return { final, filter: null };
    }
  }

  async function excerptsOf(final) {
    const support = (final.support || []).filter((s) => s.supported && s.n);
    const sources = (final.sources || []).map((s) => ({
      n: s.n, source: s.source || "", text: (s.text || s.snippet || "").slice(0, 20000),
      cited: support.filter((x) => x.n === s.n).map((x) => x.text).slice(0, 20),
    }));
    if (!sources.length) return {};
    try {
      const { excerpts } = await MentorApi.post("/api/excerpts", { sources });
      return Object.fromEntries(excerpts.map((e) => [e.n, e.html]));
    } catch (err) {
      return undefined; // shown as plain text instead
    }
  }

  async function renderFinal(node, streamed, question, moduleName) {
    const { final, filter } = await withClosest(streamed, question, moduleName);
    const sources = (final.sources || []).map((s) => ({
      n: s.n, source: s.source, page: s.page || 0, slide: s.slide || 0, cell: s.cell || 0,
      anchor: s.anchor || "", headings: s.headings || "", line_start: s.line_start || 0, line_end: s.line_end || 0,
    }));
    const [rendered, excerpts] = await Promise.all([
      MentorApi.post("/api/render", { answer: final.answer || "", sources }),
      excerptsOf(final),
    ]);
    const links = {};
    for (const link of rendered.links) links[link.n] = link.href;
    const stored = { role: "assistant", final, html: rendered.html, links, excerpts, filter, feedback: null };
    showAnswer(node, stored);
    return stored;
  }

  // ---- feedback -----------------------------------------------------------------------------
  function setupFeedback(node, stored) {
    const box = $(".feedback", node);
    const answerId = stored.final.answer_id;
    box.hidden = !answerId;
    if (!answerId) return;
    const status = $(".feedback-status", box);
    const form = $(".comment", box);
    const votes = box.querySelectorAll(".vote");
    const mark = (rating) => {
      for (const vote of votes) vote.setAttribute("aria-pressed", String(Number(vote.dataset.rating) === rating));
    };
    if (stored.feedback) mark(stored.feedback.rating);
    const send = async (rating, comment) => {
      try {
        await MentorApi.post("/api/feedback", { answer_id: answerId, rating, comment });
        stored.feedback = { rating, comment };
        status.textContent = comment ? "Thanks, your comment was sent." : "Thanks for the feedback.";
        save();
      } catch (err) {
        status.textContent = `Feedback not sent: ${err.message}`;
      }
    };
    for (const vote of votes) {
      vote.addEventListener("click", () => {
        const rating = Number(vote.dataset.rating);
        mark(rating);
        form.hidden = false;
        form.scrollIntoView({ block: "nearest" }); // html's scroll-padding keeps it above the composer
        send(rating, "");
      });
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const pressed = box.querySelector('.vote[aria-pressed="true"]');
      send(pressed ? Number(pressed.dataset.rating) : -1, form.comment.value.trim());
    });
  }

  // ---- streaming ----------------------------------------------------------------------------
  // Server-sent events over fetch (EventSource can't POST or send the key header).
  async function* events(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) yield { name, data: JSON.parse(data.join("\n")) };
      }
    }
  }

  // Stopped by the student: what was written so far stays, marked as stopped (not an error).
  function showStopped(node, text) {
    setBadge(node, "Stopped: this answer was not finished or checked", "stopped");
    const body = $(".answer-body", node);
    const partial = element("p", "streaming-text", text || "");
    body.replaceChildren(partial);
    node.dataset.state = "stopped";
  }

  function showError(node, message) {
    setBadge(node, "Something went wrong", "error");
    $(".answer-body", node).replaceChildren(element("p", "error-text", message));
    node.dataset.state = "error";
  }

  // A conversation id the server will not continue: one it did not issue (404), or kept from before it issued
  // signed ones (422 on conversation_id).
  async function notIssued(response) {
    try {
      const body = await response.clone().json();
      if (response.status === 404) return /conversation_id/.test(String(body.detail));
      return Array.isArray(body.detail) && body.detail.some((e) => (e.loc || []).includes("conversation_id"));
    } catch (err) {
      return false;
    }
  }

  async function ask(question, signal) {
    const started = performance.now();
    addQuestion(question);
    const node = newAnswer();
    setBadge(node, "Looking in your course materials…", "pending");
    node.scrollIntoView({ block: "end" });
    const conversation = await ensureConversation(question);
    const moduleName = $("#module").value;
    conversation.module = moduleName; // reopened (or reloaded) with the filter its last question used
    const requested = performance.now();
    const send = () => MentorApi.request("/api/chat/stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ message: question, conversation_id: conversation.id, module: moduleName || null }),
      signal,
    });
    const text = $(".streaming-text", node);
    let final = null;
    const stopped = () => {
      showStopped(node, text.textContent);
      const partial = { role: "assistant", stopped: true, text: text.textContent };
      conversation.messages.push({ role: "user", text: question }, partial);
      conversation.updated = Date.now();
      save();
    };
    try {
      let response = await send();
      if ((response.status === 404 || response.status === 422) && (await notIssued(response))) {
        // An id this browser kept from before the server issued signed ones: the server can't continue it, so
        // this question starts it anew under an id it issues (the page keeps the earlier messages shown).
        conversation.id = (await MentorApi.post("/api/conversations", {})).conversation_id;
        save();
        response = await send();
      }
      if (!response.ok) {
        showError(node, await MentorApi.detail(response));
        return;
      }
      for await (const event of events(response)) {
        if (event.name === "token") {
          if (!text.textContent) {
            // Time to first token as the stream delivered it, and as the student saw it (from pressing Enter
            // to the first token painted): bench/web.py compares the two.
            node.dataset.streamFirstTokenMs = String(Math.round(performance.now() - requested));
            setBadge(node, "Writing…", "pending");
            requestAnimationFrame(() => {
              node.dataset.firstTokenMs = String(Math.round(performance.now() - started));
            });
          }
          text.append(event.data);
        } else if (event.name === "final") {
          node.dataset.streamedChars = String(text.textContent.length); // shown before the final replaced it
          final = event.data;
          showStop(false); // written and checked: nothing left to stop
        } else if (event.name === "error") {
          showError(node, event.data.detail || "The answer could not be completed.");
          return;
        }
      }
    } catch (err) {
      if (err.name !== "AbortError") throw err;
      stopped();
      return;
    }
    if (signal.aborted && !final) {
      stopped();
      return;
    }
    if (!final) {
      showError(node, "The answer stream ended early.");
      return;
    }
    const stored = await renderFinal(node, final, question, moduleName);
    conversation.messages.push({ role: "user", text: question }, stored);
    conversation.updated = Date.now();
    save();
  }

  function toggleHistory(show) {
    const nav = $("#history");
    const wasOpen = nav.classList.contains("open");
    const open = show === undefined ? !wasOpen : show;
    nav.classList.toggle("open", open);
    $("#toggle-history").setAttribute("aria-expanded", String(open));
    if (open && !wasOpen && getComputedStyle($("#close-history")).display !== "none") $("#close-history").focus();
    if (!open && wasOpen && nav.contains(document.activeElement)) $("#toggle-history").focus();
  }

  function showStop(visible) {
    $("#stop").hidden = !visible;
    $("#send").hidden = visible;
  }

  // Asks a question (from the box, or a "Search all modules" retry); Stop aborts its stream.
  async function submit(question) {
    if (!question || state.busy) return;
    state.busy = true;
    const controller = new AbortController();
    state.stop = controller;
    showStop(true);
    try {
      await ask(question, controller.signal);
    } catch (err) {
      const node = $("#messages").lastElementChild;
      if (node && node.classList.contains("answer")) {
        if (err.name === "AbortError") showStopped(node, "");
        else showError(node, err.message);
      }
    } finally {
      state.busy = false;
      state.stop = null;
      showStop(false);
      $("#question").focus();
    }
  }

  // The sticky question box's height, as the page's scroll padding: nothing scrolled or focused into view
  // ends up under it (WCAG 2.4.11).
  function trackComposer() {
    const composer = $("#composer");
    const set = () => {
      document.documentElement.style.setProperty("--composer-height", `${Math.ceil(composer.offsetHeight)}px`);
      document.documentElement.style.setProperty("--topbar-height", `${Math.ceil($(".topbar").offsetHeight)}px`);
    };
    set();
    if (window.ResizeObserver) new ResizeObserver(set).observe(composer);
    window.addEventListener("resize", set);
  }

  async function loadModules() {
    try {
      const { modules } = await MentorApi.json("/api/modules");
      const select = $("#module");
      for (const name of modules) select.append(new Option(name, name));
      if (state.current) select.value = state.current.module || "";
    } catch (err) {
      // the picker stays at "All modules"
    }
  }

  // ---- the Ask / Practise tabs (WAI-ARIA tabs: arrow keys, Home and End move between them) -------------
  // practise.js is loaded when the Practise tab first opens: a student who only asks never downloads it.
  let practise = null;
  function loadPractise() {
    if (!practise) {
      practise = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = "/static/practise.js";
        script.onload = resolve;
        script.onerror = () => {
          practise = null;
          reject(new Error("The practice page could not be loaded."));
        };
        document.head.append(script);
      });
    }
    return practise;
  }

  function selectTab(tab, focus) {
    const tabs = [...document.querySelectorAll('[role="tab"]')];
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    }
    if (focus) tab.focus();
    if (tab.id === "tab-practise") {
      loadPractise().then(() => MentorPractise.open($("#module").value)).catch((err) => {
        $("#quiz-status").textContent = err.message;
      });
    }
  }

  // A conversation opened or started from the header or the list is shown on the Ask tab.
  function showAsk() {
    const ask = $("#tab-ask");
    if (ask.getAttribute("aria-selected") !== "true") selectTab(ask, false);
  }

  function setupTabs() {
    const tabs = [...document.querySelectorAll('[role="tab"]')];
    for (const tab of tabs) {
      tab.addEventListener("click", () => selectTab(tab, false));
      tab.addEventListener("keydown", (event) => {
        const i = tabs.indexOf(tab);
        const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[event.key];
        if (next === undefined) return;
        event.preventDefault();
        selectTab(tabs[(next + tabs.length) % tabs.length], true);
      });
    }
  }

  function init() {
    setupTabs();
    const form = $("#composer");
    const box = $("#question");
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const question = box.value.trim();
      if (!question || state.busy) return;
      box.value = "";
      submit(question);
    });
    $("#stop").addEventListener("click", () => {
      if (state.stop) state.stop.abort();
    });
    $("#new-conversation").addEventListener("click", startNew);
    $("#toggle-history").addEventListener("click", () => toggleHistory());
    $("#close-history").addEventListener("click", () => toggleHistory(false));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && $("#history").classList.contains("open")) toggleHistory(false);
    });
    trackComposer();
    const id = (() => {
      try {
        return localStorage.getItem(CURRENT);
      } catch (err) {
        return null;
      }
    })();
    const current = state.conversations.find((c) => c.id === id);
    if (current) open(current); // a reload keeps the open conversation
    else renderHistory();
    loadModules();
    checkAnswered();
  }

  document.addEventListener("DOMContentLoaded", init);
  // Shows a final answer exactly as the stream's final event is shown (tests feed it hostile replies).
  return {
    showFinal: (final, question, moduleName) => renderFinal(newAnswer(), final, question || "", moduleName || ""),
  };
})();
