"use strict";
// The instructor page: a summary of what students asked (/api/instructor/summary) and a CSV export; each
// missing-material row can be answered (instructor_answers.js).
// Every value is shown as textContent: questions and comments are students' text.
(() => {
  const $ = (selector) => document.querySelector(selector);
  MentorApi.setScope("instructor");

  function cell(text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function fill(table, rows, empty) {
    const body = $(`${table} tbody`);
    body.replaceChildren(...rows);
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = cell(empty, "hint");
      td.colSpan = $(`${table} thead tr`).children.length;
      tr.append(td);
      body.append(tr);
    }
  }

  function row(...cells) {
    const tr = document.createElement("tr");
    tr.append(...cells);
    return tr;
  }

  function when(iso) {
    return new Date(iso).toLocaleString();
  }

  function percent(value) {
    return value === null || value === undefined ? "–" : `${Math.round(value * 100)} %`;
  }

  function seconds(ms) {
    return ms === null || ms === undefined ? "–" : `${(ms / 1000).toFixed(1)} s`;
  }

  function renderTotals(t) {
    const cards = [
      ["Questions", t.questions],
      ["Conversations", t.conversations],
      ["Grounded rate", percent(t.grounded_rate), "course questions answered from the materials"],
      ["Not answered", t.refused],
      ["Median answer time", seconds(t.median_latency_ms)],
      ["Median first word (streamed answers)", seconds(t.median_first_token_ms)],
      ["Helpful / not helpful", `${t.thumbs_up} / ${t.thumbs_down}`],
    ];
    const list = $("#totals");
    list.replaceChildren();
    for (const [label, value, hint] of cards) {
      const box = document.createElement("dl"); // one term and its value per card
      box.className = "card";
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = String(value);
      if (hint) dd.title = hint;
      box.append(dt, dd);
      list.append(box);
    }
  }

  function closest(sources) {
    const td = document.createElement("td");
    const list = document.createElement("ul");
    list.className = "plain";
    for (const s of sources) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = s.href || "#";
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = `${s.location}${s.headings ? ` (${s.headings})` : ""}`;
      item.append(link, ` · ${Number(s.score || 0).toFixed(2)}`);
      list.append(item);
    }
    if (!sources.length) td.textContent = "nothing close";
    else td.append(list);
    return td;
  }

  function perDayRow(day, max) {
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${max ? Math.round((day.questions / max) * 70) : 0}%`;
    const count = cell("");
    count.append(bar, document.createTextNode(` ${day.questions}`));
    return row(cell(day.day), count, cell(String(day.refused)));
  }

  // A cell of text with hints below it (each a line of textContent): a follow-up's earlier turn, the module
  // filter, the answer a thumbs down was given to.
  function withHints(text, hints) {
    const td = cell(text);
    for (const hint of hints.filter(Boolean)) {
      const p = document.createElement("p");
      p.className = "hint";
      p.textContent = hint;
      td.append(p);
    }
    return td;
  }

  // Mark a missing-material row resolved (or reopen it), then reload the summary: the row moves lists.
  async function resolve(key, resolved) {
    const status = $("#missing-status");
    try {
      await MentorApi.json("/api/instructor/resolved", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ key, resolved }),
      });
      status.textContent = resolved ? "Marked resolved." : "Reopened.";
      await refresh();
    } catch (err) {
      status.textContent = `Could not ${resolved ? "resolve" : "reopen"} it: ${err.message}`;
    }
  }

  function resolveButton(u, resolved) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = resolved ? "Mark resolved" : "Reopen";
    b.setAttribute("aria-label", `${resolved ? "Mark resolved" : "Reopen"}: ${u.question}`);
    b.addEventListener("click", () => resolve(u.key, resolved));
    return b;
  }

  function otherWordings(u) {
    const others = u.variants.filter((v) => v.question !== u.question);
    return others.length ? `also asked as: ${others.map((v) => `${v.question} (${v.times}×)`).join(" · ")}` : "";
  }

  function renderModules(counts) {
    const box = $("#missing-modules");
    box.textContent = counts.length
      ? `Open rows per module: ${counts.map((c) => `${c.module || "no module"} ${c.rows}`).join(" · ")}`
      : "";
  }

  function renderNeverCited(never) {
    const list = $("#never-cited");
    list.replaceChildren();
    $("#never-cited-count").textContent = never ? `${never.count} of ${never.of} files.` : "";
    for (const source of never ? never.files : []) {
      const item = document.createElement("li");
      item.textContent = source;
      list.append(item);
    }
  }

  function render(data) {
    renderTotals(data.totals);
    fill("#unanswered", data.unanswered.map((u) => {
      const actions = InstructorAnswers.answerCell(u.question, (u.closest[0] || {}).source || "");
      actions.append(" ", resolveButton(u, true));
      const tr = row(
        withHints(u.question, [otherWordings(u), u.earlier && `follow-up to: ${u.earlier}`, u.module && `module filter: ${u.module}`]),
        cell(`${u.times}× · last ${when(u.last_asked)}`),
        withHints(u.reasons.join(", "), [u.gap, u.answer && `answer given: ${u.answer}`]),
        closest(u.closest),
        cell(u.comments.join(" | ")),
        actions,
      );
      tr.dataset.key = u.key;
      return tr;
    }), "No open question: every question in this period was answered from the materials, or resolved.");
    $("#resolved-count").textContent = String(data.resolved.length);
    fill("#resolved", data.resolved.map((u) => {
      const actions = cell("");
      actions.append(resolveButton(u, false));
      return row(cell(u.question), cell(`${u.times}× · last ${when(u.last_asked)}`), cell(when(u.resolved_at)), actions);
    }), "No resolved rows.");
    renderModules(data.missing_per_module);
    renderNeverCited(data.never_cited);
    const active = data.per_day.filter((d) => d.questions > 0).reverse();
    const max = Math.max(0, ...active.map((d) => d.questions));
    fill("#per-day", active.map((d) => perDayRow(d, max)), "No questions in this period.");
    fill("#top-sources", data.top_sources.map((s) => row(cell(s.source), cell(String(s.answers)))),
      "No grounded answers yet.");
    fill("#comments", data.comments.map((c) => row(
      cell(when(c.at)), cell(c.rating === 1 ? "helpful" : c.rating === -1 ? "not helpful" : ""), cell(c.comment), cell(c.question),
    )), "No comments yet.");
  }

  // Study mode (/api/instructor/study): accuracy per module, and the items missed most with their source.
  const KINDS = {
    term_from_definition: "term from definition", choose_the_term: "choose the term",
    fill_the_code: "fill the code", what_does_this_print: "what does this print?",
  };

  function source(citation) {
    const td = document.createElement("td");
    if (!citation) {
      td.textContent = "no longer in the materials";
      return td;
    }
    const link = document.createElement("a");
    link.textContent = citation.location || citation.source;
    link.href = citation.href;
    link.target = "_blank";
    link.rel = "noopener";
    td.append(link);
    return td;
  }

  function question(item) {
    const td = document.createElement("td");
    const kind = document.createElement("span");
    kind.className = "hint";
    kind.textContent = `${KINDS[item.kind] || item.kind}: `;
    const prompt = document.createElement(item.kind === "fill_the_code" || item.kind === "what_does_this_print" ? "pre" : "span");
    prompt.className = "missed-prompt";
    prompt.textContent = item.prompt;
    td.append(kind, prompt);
    return td;
  }

  async function refreshPractice() {
    const status = $("#practice-status");
    try {
      const data = await MentorApi.json("/api/instructor/study");
      const items = data.items_per_module || {};
      fill("#practice-accuracy", data.accuracy.map((a) => row(
        cell(a.module), cell(percent(a.accuracy)), cell(String(a.attempts)), cell(String(a.students)),
        cell(String(items[a.module] || 0)),
      )), "No practice answers yet.");
      fill("#practice-missed", data.most_missed.map((m) => {
        const tr = row(question(m), cell(m.module), cell(`${m.missed} of ${m.attempts}`), cell(m.key), source(m.citation));
        tr.dataset.itemId = m.item_id;
        return tr;
      }), "No question has been missed yet.");
      status.textContent = "";
    } catch (err) {
      status.textContent = `Could not load the practice results: ${err.message}`;
    }
  }

  async function refresh() {
    refreshPractice();
    const status = $("#status");
    $("#dashboard").setAttribute("aria-busy", "true");
    try {
      const data = await MentorApi.json(`/api/instructor/summary?days=${$("#days").value}`);
      render(data);
      status.textContent = `Updated ${new Date().toLocaleTimeString()}.`;
    } catch (err) {
      status.textContent = `Could not load the summary: ${err.message}`;
    } finally {
      $("#dashboard").setAttribute("aria-busy", "false");
    }
  }

  async function download() {
    const status = $("#status");
    const response = await MentorApi.request("/api/instructor/export.csv");
    if (!response.ok) {
      status.textContent = `Export failed: ${await MentorApi.detail(response)}`;
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = `ai-mentor-interactions-${new Date().toISOString().slice(0, 10)}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    status.textContent = "CSV downloaded.";
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#refresh").addEventListener("click", refresh);
    $("#days").addEventListener("change", refresh);
    $("#export").addEventListener("click", download);
    refresh();
  });
})();
