"use strict";
// The student page's Practise tab: a quiz built from the course materials (/api/study/quiz), one item at a
// time, graded by the server (/api/study/answer), with the source sentence, a link to it, the next review and
// the student's mastery (/api/study/progress). Loaded by chat.js when the tab first opens. Every server string
// enters the page as textContent.
const MentorPractise = (() => {
  const STUDENT = "mentor.student"; // the server-issued, signed student id, kept like the conversations
  const QUIZ_ITEMS = 10;
  const KINDS = {
    term_from_definition: "Term from definition",
    choose_the_term: "Choose the term",
    fill_the_code: "Fill the code",
    what_does_this_print: "What does this print?",
  };
  const $ = (selector, root) => (root || document).querySelector(selector);
  const state = { items: [], index: 0, right: 0, answered: false, ready: null, mastery: {} };

  function studentId() {
    try {
      return localStorage.getItem(STUDENT);
    } catch (err) {
      return null;
    }
  }

  function keepStudentId(id) {
    try {
      localStorage.setItem(STUDENT, id);
    } catch (err) {
      // storage unavailable: the next quiz gets a new id (progress then starts over)
    }
  }

  function forgetStudentId() {
    try {
      localStorage.removeItem(STUDENT);
    } catch (err) {
      // nothing kept
    }
  }

  // FastAPI's 422 is a list of errors ({msg}); the study routes' 4xx a sentence: either way, words to show.
  async function problem(response) {
    try {
      const body = await response.json();
      if (typeof body.detail === "string") return body.detail;
      if (Array.isArray(body.detail)) return body.detail.map((e) => String(e.msg || "").replace(/^Value error, /, "")).join(" ");
    } catch (err) {
      // not JSON
    }
    return `${response.status} ${response.statusText}`;
  }

  async function call(path, body) {
    const init = body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    };
    const response = await MentorApi.request(path, init);
    if (!response.ok) {
      const error = new Error(await problem(response));
      error.status = response.status;
      throw error;
    }
    return response.json();
  }

  function status(text, isError) {
    const node = $("#quiz-status");
    node.textContent = text;
    node.classList.toggle("error-text", Boolean(isError));
  }

  // ---- starting a quiz --------------------------------------------------------------------------
  function loadModules(preferred) {
    if (!state.ready) {
      state.ready = MentorApi.json("/api/modules").then(({ modules }) => {
        const select = $("#quiz-module");
        for (const name of modules) select.append(new Option(name, name));
        if (!modules.length) select.append(new Option("No modules yet", ""));
      }).catch(() => {
        state.ready = null; // asked again when the tab next opens
      });
    }
    return state.ready.then(() => {
      const select = $("#quiz-module");
      if (preferred && [...select.options].some((o) => o.value === preferred)) select.value = preferred;
    });
  }

  function request() {
    const scope = $('#quiz-setup input[name="scope"]:checked').value;
    const body = { scope, n: QUIZ_ITEMS };
    if (scope === "module") body.module = $("#quiz-module").value;
    if (scope === "topic") body.topic = $("#quiz-topic").value.trim();
    const id = studentId();
    if (id) body.student_id = id; // so this student's due reviews come first
    return body;
  }

  async function start(event) {
    event.preventDefault();
    const body = request();
    if (body.scope === "topic" && !body.topic) {
      status("Write a topic to practise (e.g. list comprehensions).", true);
      $("#quiz-topic").focus();
      return;
    }
    const button = $("#quiz-start");
    button.disabled = true;
    status("Building your quiz…");
    try {
      let quiz;
      try {
        quiz = await call("/api/study/quiz", body);
      } catch (err) {
        if (err.status !== 403 || !body.student_id) throw err;
        forgetStudentId(); // an id this server did not issue (its secret changed): start over with a new one
        delete body.student_id;
        quiz = await call("/api/study/quiz", body);
      }
      keepStudentId(quiz.student_id);
      if (!quiz.items.length) throw new Error("This quiz has no questions.");
      Object.assign(state, { items: quiz.items, index: 0, right: 0 });
      const reviews = quiz.items.filter((i) => i.review).length;
      status(`${quiz.items.length} questions${reviews ? `, ${reviews} of them due for review` : ""}.`);
      show();
      refreshMastery();
    } catch (err) {
      $("#quiz-item").hidden = true;
      status(`No quiz: ${err.message}`, true);
    } finally {
      button.disabled = false;
    }
  }

  // ---- one item ---------------------------------------------------------------------------------
  function show() {
    const item = state.items[state.index];
    state.answered = false;
    const article = $("#quiz-item");
    article.hidden = false;
    article.dataset.itemId = item.id;
    article.dataset.kind = item.kind;
    $("#quiz-count").textContent = `Question ${state.index + 1} of ${state.items.length}`;
    $("#quiz-kind").textContent = KINDS[item.kind] || item.kind;
    $("#quiz-where").textContent = item.review ? `${item.module} · review` : item.module;
    $("#quiz-prompt").textContent = item.prompt;
    $("#quiz-body").textContent = item.body || "";
    $("#quiz-body").hidden = !item.body;
    $("code", $("#quiz-code")).textContent = item.code || "";
    $("#quiz-code").hidden = !item.code;

    const options = $("#quiz-options");
    for (const old of options.querySelectorAll("label")) old.remove();
    const choosing = item.options && item.options.length > 0;
    options.hidden = !choosing;
    for (const [i, option] of (item.options || []).entries()) {
      const label = document.createElement("label");
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = "quiz-option";
      radio.value = option;
      radio.required = true;
      radio.id = `quiz-option-${i}`;
      label.append(radio, document.createTextNode(` ${option}`));
      options.append(label);
    }
    const text = $("#quiz-text");
    text.value = "";
    text.required = !choosing;
    // Output is compared with its spaces and line breaks normalised: one line of input is enough.
    $("#quiz-text-hint").textContent = item.kind === "what_does_this_print"
      ? "Several lines of output: type them on one line, separated by spaces."
      : item.kind === "fill_the_code" ? "One name, keyword or operator, exactly as in code." : "A word or a few words.";
    $("#quiz-text-row").hidden = choosing;
    for (const field of $("#quiz-answer").elements) field.disabled = false;
    $("#quiz-check").hidden = false;
    $("#quiz-feedback").hidden = true;
    $("#quiz-next").textContent = state.index + 1 < state.items.length ? "Next" : "Finish";
    const first = choosing ? $("#quiz-option-0") : text;
    first.focus({ preventScroll: true });
    article.scrollIntoView({ block: "start" });
  }

  function answerGiven() {
    const checked = $('#quiz-options input[name="quiz-option"]:checked');
    return $("#quiz-options").hidden ? $("#quiz-text").value.trim() : checked ? checked.value : "";
  }

  function when(iso) {
    const date = new Date(iso);
    const minutes = Math.round((date.getTime() - Date.now()) / 60000);
    const relative = minutes < 1 ? "now" : minutes < 90 ? `in ${minutes} minute${minutes === 1 ? "" : "s"}`
      : minutes < 48 * 60 ? `in ${Math.round(minutes / 60)} hours` : `in ${Math.round(minutes / 1440)} days`;
    return `${relative} (${date.toLocaleString()})`;
  }

  function percent(value) {
    return `${Math.round((value || 0) * 100)} %`;
  }

  async function check(event) {
    event.preventDefault();
    if (state.answered) return;
    const item = state.items[state.index];
    const answer = answerGiven();
    if (!answer) {
      status("Give an answer first (or a guess: a miss comes back for review soon).", true);
      return;
    }
    const id = studentId();
    const fields = [...$("#quiz-answer").elements];
    fields.forEach((f) => { f.disabled = true; });
    try {
      const graded = await call("/api/study/answer", { student_id: id, item_id: item.id, answer });
      state.answered = true;
      $("#quiz-check").hidden = true; // answered: the feedback's Next goes on
      if (graded.correct) state.right += 1;
      const before = state.mastery[item.module] || 0;
      showFeedback(graded, item, before);
      status(graded.correct ? "Right." : "Not quite.");
      refreshMastery(item.module);
    } catch (err) {
      fields.forEach((f) => { f.disabled = false; });
      status(`Not graded: ${err.message}`, true);
    }
  }

  function showFeedback(graded, item, before) {
    const box = $("#quiz-feedback");
    const verdict = $("#quiz-verdict");
    verdict.textContent = graded.correct ? "Right" : "Not quite";
    verdict.className = `badge ${graded.correct ? "grounded" : "error"}`;
    box.dataset.correct = String(graded.correct);
    $("#quiz-expected").textContent = graded.expected;
    $("#quiz-quote").textContent = graded.quote;
    const link = $("#quiz-cite");
    link.textContent = graded.citation.location || graded.citation.source;
    link.href = graded.citation.href;
    const change = graded.module_mastery === before ? "" : ` (was ${percent(before)})`;
    $("#quiz-review").textContent = `Next review ${when(graded.next_review)}. Your mastery of ${item.module}: `
      + `${percent(graded.module_mastery)}${change}.`;
    box.hidden = false;
    verdict.tabIndex = -1;
    verdict.focus({ preventScroll: true }); // read out first; Tab then reaches the source and Next
    box.scrollIntoView({ block: "nearest" });
  }

  function next() {
    if (state.index + 1 < state.items.length) {
      state.index += 1;
      show();
      return;
    }
    $("#quiz-item").hidden = true;
    status(`Done: ${state.right} of ${state.items.length} right. Missed questions come back for review first.`);
    $("#quiz-start").focus();
  }

  // ---- mastery ----------------------------------------------------------------------------------
  async function refreshMastery(current) {
    const id = studentId();
    if (!id) return;
    try {
      const progress = await call(`/api/study/progress?student_id=${encodeURIComponent(id)}`);
      const rows = progress.by_module.filter((m) => m.answered > 0 || m.module === current);
      const body = $("#quiz-mastery tbody");
      body.replaceChildren(...rows.map((m) => {
        state.mastery[m.module] = m.mastery;
        const tr = document.createElement("tr");
        tr.dataset.module = m.module;
        for (const text of [m.module, `${m.answered} of ${m.items}`, String(m.right), percent(m.mastery)]) {
          const td = document.createElement("td");
          td.textContent = text;
          tr.append(td);
        }
        return tr;
      }));
      $("#quiz-mastery").hidden = rows.length === 0;
    } catch (err) {
      // the quiz goes on; mastery shows after the next answer
    }
  }

  let bound = false;
  // Called by chat.js each time the tab opens, with the module the Ask tab's filter is on.
  function open(moduleName) {
    if (!bound) {
      bound = true;
      $("#quiz-setup").addEventListener("submit", start);
      $("#quiz-answer").addEventListener("submit", check);
      $("#quiz-next").addEventListener("click", next);
      // Typing a topic or choosing a module selects its scope.
      $("#quiz-topic").addEventListener("input", () => { $('#quiz-setup input[value="topic"]').checked = true; });
      $("#quiz-module").addEventListener("change", () => { $('#quiz-setup input[value="module"]').checked = true; });
      refreshMastery();
    }
    return loadModules(moduleName);
  }

  return { open };
})();
