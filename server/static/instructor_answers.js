"use strict";
// The instructor's answers on /instructor: an "Answer" button on each missing-material row opens a form
// (Markdown, scope, Save draft / Publish); the list below shows every answer with Edit, Publish and Retract, and
// for a published one how many answers to students cited it and how those were rated.
// Questions and answers are shown as textContent, except an answer's `html`, which the server sanitised.
const InstructorAnswers = (() => {
  const $ = (selector) => document.querySelector(selector);
  const API = "/api/instructor/answers";
  let editing = null; // the id of the answer the form edits, or null for a new one
  let modulesLoaded = null;
  let filesLoaded = null;

  function options(selector, names) {
    const select = $(selector);
    for (const name of names) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      select.append(option);
    }
  }

  function loadModules() {
    if (!modulesLoaded) {
      modulesLoaded = MentorApi.json("/api/modules").then((data) => options("#answer-module", data.modules))
        .catch(() => { modulesLoaded = null; });
    }
    if (!filesLoaded) { // the course's files an answer may link (the ingest records', answers left out)
      filesLoaded = MentorApi.json("/api/instructor/files").then((data) => options("#answer-file", data.files))
        .catch(() => { filesLoaded = null; });
    }
    return Promise.all([modulesLoaded, filesLoaded]);
  }

  let asked = ""; // the student's question a new answer is written for (the row's Answer button)

  async function open(answer) {
    await loadModules();
    editing = answer.answer_id || null;
    asked = answer.asked || "";
    $("#answer-question").value = answer.question || "";
    $("#answer-body").value = answer.body || "";
    $("#answer-module").value = answer.module || "";
    $("#answer-file").value = answer.file || ""; // a file no longer ingested has no option: none
    $("#answer-error").textContent = "";
    $("#answer-dialog-title").textContent = editing ? "Edit your answer" : "Answer a question";
    $("#answer-dialog").showModal();
    $("#answer-body").focus();
  }

  function button(label, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }

  // The cell instructor.js puts at the end of each "what the materials are missing" row; `file`: the row's
  // closest material, which the form offers as the file to link (the instructor may choose another, or none).
  function answerCell(question, file) {
    const td = document.createElement("td");
    const b = button("Answer", () => open({ question, asked: question, file }));
    b.setAttribute("aria-label", `Answer: ${question}`);
    td.append(b);
    return td;
  }

  function send(method, path, body) {
    const init = { method };
    if (body) {
      init.headers = { "Content-Type": "application/json" };
      init.body = JSON.stringify(body);
    }
    return MentorApi.json(path, init);
  }

  async function save(publish) {
    const body = {
      question: $("#answer-question").value,
      body: $("#answer-body").value,
      module: $("#answer-module").value,
      file: $("#answer-file").value,
    };
    const error = $("#answer-error");
    if (!body.question.trim() || !body.body.trim()) {
      error.textContent = "Write the question and your answer first.";
      return;
    }
    const buttons = ["#answer-draft", "#answer-publish"].map((s) => $(s));
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const saved = editing ? await send("PUT", `${API}/${editing}`, body) : await send("POST", API, { ...body, asked });
      if (publish && saved.state !== "published") await send("POST", `${API}/${saved.answer_id}/publish`, {});
      $("#answer-dialog").close();
      const published = publish || saved.state === "published";
      await refresh(published ? "Published: students asking this now get your answer." : "Draft saved.");
    } catch (err) {
      error.textContent = `Not saved: ${err.message}`;
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  async function act(answer, action) {
    const status = $("#answers-status");
    try {
      if (action === "publish") await send("POST", `${API}/${answer.answer_id}/publish`, {});
      else await send("DELETE", `${API}/${answer.answer_id}`);
      await refresh(action === "publish" ? "Published." : "Retracted: it is no longer in the materials.");
    } catch (err) {
      status.textContent = `Failed: ${err.message}`;
    }
  }

  function text(value) {
    const td = document.createElement("td");
    td.textContent = value;
    return td;
  }

  function answerRow(answer) {
    const tr = document.createElement("tr");
    const html = document.createElement("td");
    html.className = "answer-html";
    html.innerHTML = answer.html; // sanitised by the server (views/render.py), as every answer the pages show
    const actions = document.createElement("td");
    actions.append(button("Edit", () => open(answer)));
    if (answer.state !== "published") actions.append(button("Publish", () => act(answer, "publish")));
    if (answer.state !== "retracted") actions.append(button("Retract", () => act(answer, "retract")));
    const state = answer.state === "published" && answer.source ? `published (${answer.source})` : answer.state;
    const u = answer.usage; // null unless published (and the interaction log on)
    const used = u ? `cited in ${u.cited} answer${u.cited === 1 ? "" : "s"} · ${u.helpful} helpful / ${u.not_helpful} not` : "–";
    if (answer.file) {
      const also = document.createElement("p");
      also.className = "hint";
      also.textContent = `See also: ${answer.file}`;
      html.append(also);
    }
    tr.append(text(answer.question), text(answer.module || "whole course"), text(state), html, text(used),
      text(new Date(answer.updated * 1000).toLocaleString()), actions);
    return tr;
  }

  async function refresh(message) {
    const status = $("#answers-status");
    const body = $("#answers tbody");
    try {
      const data = await MentorApi.json(API);
      body.replaceChildren(...data.answers.map(answerRow));
      if (!data.answers.length) {
        const tr = document.createElement("tr");
        const td = text("No answers yet: answer a question above.");
        td.colSpan = 7;
        td.className = "hint";
        tr.append(td);
        body.append(tr);
      }
      status.textContent = message || "";
    } catch (err) {
      status.textContent = `Could not load your answers: ${err.message}`;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#answer-cancel").addEventListener("click", () => $("#answer-dialog").close());
    $("#answer-draft").addEventListener("click", () => save(false));
    $("#answer-publish").addEventListener("click", () => save(true));
    refresh();
  });

  return { answerCell, refresh };
})();
