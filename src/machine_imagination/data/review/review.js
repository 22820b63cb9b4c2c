// The review page's script (machine_imagination.report.review writes it into results/<text>/review.html).
// It shows what the package read of the results tree and edits the overrides table's text. What the
// pipeline will read of that text is said by the pipeline's own parser, through the server of
// `machine-imagination review` (api/check), never guessed here; opened from a file, Save downloads it.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("review-data").textContent);
  const settings = data.settings;
  const sentences = data.sentences;
  const byIndex = new Map(sentences.map((s) => [s.index, s]));
  // A change in any column but the pick searches the sentence again: its takes will change.
  const SEARCH_COLUMNS = data.columns.filter((column) => column !== "candidate");
  const THUMB = 96; // a thumbnail's side on the page, in CSS pixels

  let table = data.overrides; // the overrides table as the server (or the page's maker) read it
  const edits = new Map(); // sentence index -> Map(column -> cell text); "" empties the cell
  const views = new Map(); // sentence index -> its elements
  let current = 0; // the sentence the keys act on
  let checked = { prompts: {}, error: null }; // the server's reading of the pending table
  let checkSerial = 0;
  let checkTimer = null;

  // ----------------------------------------------------------------------------------------- helpers

  function el(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") element.className = value;
      else if (name === "text") element.textContent = value;
      else element.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) element.append(child);
    return element;
  }

  function svg(tag, attributes, text) {
    const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attributes || {})) element.setAttribute(name, value);
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function number(value, digits) {
    return value === null || value === undefined ? "–" : value.toFixed(digits);
  }

  function basename(path) {
    return path.split("/").pop();
  }

  function say(text, isError) {
    const message = document.getElementById("message");
    message.textContent = text;
    message.className = isError ? "error" : "";
  }

  // ------------------------------------------------------------------------- the table: now and after

  function fileCell(index, column) {
    const at = table.header.map((name) => name.trim()).indexOf(column);
    if (at < 1) return "";
    for (const [rowIndex, cells] of table.rows) if (rowIndex === index) return (cells[at] || "").trim();
    return "";
  }

  function searchesAgain(index) {
    const own = edits.get(index);
    return Boolean(own) && SEARCH_COLUMNS.some((column) => own.has(column));
  }

  function pendingCell(index, column) {
    if (column === "candidate" && searchesAgain(index)) return ""; // its takes will change: no pick
    const own = edits.get(index);
    return own && own.has(column) ? own.get(column) : fileCell(index, column);
  }

  function changedColumns(index) {
    return data.columns.filter((column) => pendingCell(index, column) !== fileCell(index, column));
  }

  function changedSentences() {
    return sentences.map((s) => s.index).filter((index) => changedColumns(index).length > 0);
  }

  function setEdit(index, column, value) {
    value = String(value).replace(/[\t\r\n]+/g, " ").trim(); // the parser strips cells; a tab would split one
    const own = edits.get(index) || new Map();
    if (value === fileCell(index, column)) own.delete(column);
    else own.set(column, value);
    if (own.size) edits.set(index, own);
    else edits.delete(index);
  }

  // The table after Save: the file's lines as they are, but the changed sentences' rows (or new rows, in
  // order); its columns, and a new one where a change needs it; a row left with no value is dropped.
  function tableText() {
    const header = table.header.length ? table.header.slice() : ["index"];
    const names = header.map((name) => name.trim());
    const touched = changedSentences();
    for (const column of data.columns) {
      if (!names.includes(column) && touched.some((index) => pendingCell(index, column) !== "")) {
        header.push(column);
        names.push(column);
      }
    }
    const lines = [header.join("\t")];
    const done = new Set();
    const row = (index, cells) => {
      const out = names.map((name, at) =>
        at === 0 ? cells[0] : data.columns.includes(name) ? pendingCell(index, name) : cells[at] || "");
      return out.slice(1).some((cell) => cell.trim() !== "") ? out.join("\t") : null;
    };
    for (const [index, cells] of table.rows) {
      if (index === null || !touched.includes(index) || done.has(index)) {
        lines.push(cells.join("\t"));
        continue;
      }
      done.add(index);
      const line = row(index, cells);
      if (line !== null) lines.push(line);
    }
    for (const index of touched) {
      if (done.has(index)) continue;
      const line = row(index, [String(index)]);
      if (line !== null) lines.push(line);
    }
    return lines.join("\n") + "\n";
  }

  // ------------------------------------------------------------------------------------ the sentences

  function buildSentence(s) {
    const section = el("section", { class: "sentence", id: `s${s.index}`, "data-index": s.index });
    section.addEventListener("click", () => setCurrent(s.index, false));
    section.append(el("h2", {}, el("span", { class: "num", text: s.index }), s.sentence));

    const kept = el("figure", { class: "kept-image" });
    if (s.image) {
      kept.append(el("img", { src: s.image, loading: "lazy", decoding: "async", width: 256, height: 256,
                              alt: `sentence ${s.index}, the kept take` }));
    }
    const keptCaption = el("figcaption");
    kept.append(keptCaption);

    const info = el("div", { class: "info" });
    info.append(el("p", { class: "prompt" }, "Prompt: ", el("q", { text: s.prompt }),
                   el("span", { class: "meta", text: ` (${s.tokens} tokens)` })));
    if (s.truncated) {
      info.append(el("p", { class: "prompt cut" }, "CLIP saw only: ", el("q", { text: s.clip_prompt }),
                     " (the rest was cut at CLIP's context)"));
    }
    info.append(el("p", { class: "meta",
                          text: `seed ${s.seed} (take k > 0 searches from a seed drawn from it) · ` +
                                `judge ${number(s.judge_score, 3)} · ` +
                                `CLIP similarity ${number(s.similarity, 3)}` }));

    // One image per sentence: the strip of its takes' thumbnails, under a row of transparent cells, one per take.
    const strip = el("img", { class: "strip", src: s.thumbs, loading: "lazy", decoding: "async", alt: "",
                              width: THUMB * s.takes.length, height: THUMB });
    const takes = el("ol", { class: "takes", "aria-label": "takes" });
    const takeItems = s.takes.map((take) => {
      const isKept = take.number === s.kept;
      const button = el("button", { type: "button", "data-take": take.number,
                                    title: `take ${take.number}, searched from seed ${take.seed}: pick it` },
                        el("span", { class: "cell" }),
                        el("span", { class: "take-label" }, el("b", { text: `${take.number}${isKept ? " kept" : ""}` }),
                           el("br"), `judge ${number(take.score, 3)}`, el("br"),
                           take.race === null ? `loss ${number(take.loss, 2)}` : take.race));
      button.addEventListener("click", (event) => {
        event.stopPropagation();
        setCurrent(s.index, false);
        pick(s.index, take.number);
      });
      const item = el("li", { class: "take" + (isKept ? " kept" : "") }, button);
      takes.append(item);
      return { item, button };
    });
    const takesBox = el("div", { class: "takes-box" }, strip, takes);
    info.append(takesBox);

    const history = el("button", { type: "button", class: "history", text: "History" });
    const judge = el("button", { type: "button", class: "judge", text: "Judge's choice" });
    const plot = el("div", { class: "plot", hidden: true });
    history.addEventListener("click", () => toggleHistory(s.index));
    judge.addEventListener("click", () => {
      setEdit(s.index, "candidate", "");
      changed(s.index);
    });
    info.append(el("p", { class: "tools" }, history, " ", judge), plot);

    const inputs = {};
    const field = (column, attributes) => {
      const input = el("input", { id: `e${s.index}-${column}`, type: "text", autocomplete: "off", spellcheck: "false",
                                  value: fileCell(s.index, column), ...attributes });
      input.addEventListener("input", () => {
        setEdit(s.index, column, input.value);
        changed(s.index);
      });
      inputs[column] = input;
      return input;
    };
    const label = (column, text) => el("label", { for: `e${s.index}-${column}`, text });
    const reroll = el("button", { type: "button", class: "reroll", text: "Another seed" });
    reroll.addEventListener("click", () => anotherSeed(s.index));
    const parts = el("div", { class: "parts" });
    const fields = el("div", { class: "fields" },
      label("prompt", "prompt"),
      field("prompt", { class: "prompt-input", placeholder: settings.template,
                        title: "text:weight | text:weight …, {sentence} for the sentence" }),
      parts,
      label("seed", "seed"),
      el("div", { class: "seed-line" }, field("seed", { inputmode: "numeric", placeholder: String(s.seed), size: 12 }),
         reroll),
      label("initial_class", "initial class"),
      field("initial_class", { list: "classes", placeholder: settings.initial_class }),
      label("iterations", "iterations"),
      field("iterations", { inputmode: "numeric", placeholder: String(settings.iterations), size: 8 }));
    const edit = el("details", { class: "edit", open: SEARCH_COLUMNS.some((c) => fileCell(s.index, c) !== "") },
                    el("summary", { text: "Edit prompt, seed, initial class, iterations" }), fields);
    info.append(edit);
    const pending = el("ul", { class: "pending" });
    info.append(pending);

    section.append(el("div", { class: "row" }, kept, info));
    views.set(s.index, { section, keptCaption, takesBox, takeItems, plot, inputs, parts, edit, pending });
    return section;
  }

  function refreshSentence(index) {
    const s = byIndex.get(index);
    const view = views.get(index);
    const chosen = pendingCell(index, "candidate");
    const again = searchesAgain(index);
    view.keptCaption.textContent = s.kept === null ? "not searched yet"
      : `kept: take ${s.kept} (${s.picked_by === "overrides" ? "picked" : "the judge's best"})`;
    view.takeItems.forEach(({ item, button }, k) => {
      item.classList.toggle("picked", chosen !== "" && Number(chosen) === k && k !== s.kept);
      button.disabled = again || s.kept === null;
    });
    view.takesBox.classList.toggle("disabled", again || s.kept === null);
    for (const [column, input] of Object.entries(view.inputs)) {
      if (document.activeElement !== input) input.value = pendingCell(index, column);
    }
    view.pending.replaceChildren(...changedColumns(index).map((column) => {
      const before = fileCell(index, column) || "–";
      let after = pendingCell(index, column) || "(empty)";
      if (column === "candidate" && again) after = "(none: the sentence is searched again, its takes will change)";
      return el("li", { text: `${column}: ${before} → ${after}` });
    }));
    view.section.classList.toggle("changed", changedColumns(index).length > 0);
    showParts(index);
  }

  function showParts(index) {
    const view = views.get(index);
    const prompt = pendingCell(index, "prompt");
    if (!prompt) {
      view.parts.replaceChildren();
      return;
    }
    if (!data.served) {
      view.parts.replaceChildren("The parts and weights the pipeline reads are shown when " +
                                 "`machine-imagination review` serves this page.");
      return;
    }
    const reading = checked.prompts[String(index)];
    if (!reading) {
      view.parts.replaceChildren(checked.error ? el("span", { class: "error", text: "see the message below" }) : "…");
      return;
    }
    const shown = reading.parts.map(([text, weight]) =>
      el("span", { class: "part" + (weight < 0 ? " negative" : ""), title: `weight ${weight}` }, `${text} `,
         el("b", { text: `× ${weight}` })));
    view.parts.replaceChildren("The pipeline reads: ", ...shown);
    if (reading.truncated) {
      view.parts.append(el("div", { class: "error", text: `CLIP sees only: ${reading.clip_prompt} ` +
                                                         `(${reading.tokens} tokens)` }));
    }
  }

  function changed(index) {
    refreshSentence(index);
    refreshBar();
    scheduleCheck();
  }

  function pick(index, k) {
    const s = byIndex.get(index);
    if (k >= s.takes.length) {
      say(`Sentence ${index} has takes 0 to ${s.takes.length - 1}.`, true);
      return;
    }
    if (s.kept === null) {
      say(`Sentence ${index} is not searched yet: there is no take to pick.`, true);
      return;
    }
    if (searchesAgain(index)) {
      say(`Sentence ${index} is searched again by your change: pick among its new takes after the run.`, true);
      return;
    }
    setEdit(index, "candidate", String(k));
    changed(index);
  }

  function anotherSeed(index) {
    const draw = new Uint32Array(1);
    crypto.getRandomValues(draw);
    setEdit(index, "seed", String((draw[0] % 2147483646) + 1)); // as the project's seeds: 1 to 2**31 - 1
    changed(index);
  }

  function toggleHistory(index) {
    const s = byIndex.get(index);
    const view = views.get(index);
    if (!view.plot.hidden) {
      view.plot.hidden = true;
      return;
    }
    const chosen = pendingCell(index, "candidate");
    const take = chosen !== "" && !searchesAgain(index) ? s.takes[Number(chosen)] : null;
    const source = take ? take.plot : s.plot;
    if (!source) return;
    view.plot.replaceChildren(el("img", { src: source, alt: `search history of sentence ${index}` }));
    view.plot.hidden = false;
  }

  function setCurrent(index, scroll) {
    index = Math.max(0, Math.min(sentences.length - 1, index));
    if (!sentences.length) return;
    views.get(sentences[current].index).section.classList.remove("current");
    current = index;
    const view = views.get(sentences[current].index);
    view.section.classList.add("current");
    if (scroll) view.section.scrollIntoView({ block: "center" });
    document.querySelectorAll("#chart .bar").forEach((bar, at) => bar.classList.toggle("current", at === current));
  }

  // --------------------------------------------------------------------------- the film and the chart

  function showFilm() {
    const video = document.getElementById("film");
    const caption = document.getElementById("film-caption");
    if (!data.film) {
      video.remove();
      caption.textContent = "No film yet: it is made when every sentence is searched.";
      return;
    }
    video.src = data.film;
    let subtitles = "";
    if (data.cues.length && typeof VTTCue === "function" && video.addTextTrack) {
      const track = video.addTextTrack("subtitles", "Sentences", "en");
      for (const [start, end, text] of data.cues) track.addCue(new VTTCue(start, end ?? start + 2, text));
      track.mode = "showing";
      subtitles = `, with its ${data.cues.length} subtitles (from film.srt)`;
    }
    caption.textContent = `The film${subtitles}.`;
  }

  function drawChart() {
    const chart = document.getElementById("chart");
    const width = chart.clientWidth || 600;
    const height = chart.clientHeight || 200;
    const pad = { left: 34, right: 8, top: 24, bottom: 20 };
    const values = sentences.flatMap((s) => [s.judge_score, s.similarity]).filter((v) => v !== null);
    chart.replaceChildren();
    chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
    if (!values.length) {
      chart.append(svg("text", { x: pad.left, y: height / 2 }, "Nothing searched yet."));
      return;
    }
    const low = Math.min(0, ...values);
    const high = Math.ceil(Math.max(...values) * 10) / 10 || 1;
    const step = (width - pad.left - pad.right) / sentences.length;
    const y = (value) => pad.top + (height - pad.top - pad.bottom) * (1 - (value - low) / (high - low));
    for (const tick of [low, (low + high) / 2, high]) {
      chart.append(svg("text", { x: 2, y: y(tick) + 4 }, tick.toFixed(2)),
                   svg("line", { class: "axis", x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick) }));
    }
    chart.append(svg("rect", { class: "legend-bar", x: pad.left, y: 6, width: 12, height: 10 }),
                 svg("text", { x: pad.left + 16, y: 15 }, "held-out judge score"),
                 svg("line", { class: "similarity", x1: pad.left + 150, x2: pad.left + 170, y1: 11, y2: 11 }),
                 svg("text", { x: pad.left + 174, y: 15 }, "CLIP similarity of the search"));
    const every = Math.max(1, Math.ceil(40 / step));
    const line = [];
    sentences.forEach((s, at) => {
      const x = pad.left + at * step;
      if (s.judge_score !== null) {
        const bar = svg("rect", { class: "bar", x: x + step * 0.15, width: Math.max(1, step * 0.7),
                                  y: y(Math.max(s.judge_score, low)), height: Math.abs(y(low) - y(s.judge_score)),
                                  "data-index": s.index });
        bar.append(svg("title", {}, `${s.index}: judge ${number(s.judge_score, 3)}, similarity ` +
                                    `${number(s.similarity, 3)}. ${s.sentence}`));
        bar.addEventListener("click", () => setCurrent(at, true));
        chart.append(bar);
      }
      if (s.similarity !== null) line.push(`${x + step / 2},${y(s.similarity)}`);
      if (at % every === 0) chart.append(svg("text", { x: x + step / 2 - 4, y: height - 5 }, String(s.index)));
    });
    chart.append(svg("polyline", { class: "similarity", points: line.join(" ") }));
    if (step >= 6) {
      for (const point of line) {
        const [cx, cy] = point.split(",");
        chart.append(svg("circle", { class: "dot", cx, cy, r: 2.5 }));
      }
    }
    setCurrent(current, false);
  }

  // ------------------------------------------------------------------------------ the bar: Save, plan

  function refreshBar() {
    const touched = changedSentences();
    document.getElementById("pending-count").textContent = touched.length
      ? `${touched.length} sentence${touched.length > 1 ? "s" : ""} changed (${touched.join(", ")})` : "No changes";
    const broken = Boolean(table.error);
    document.getElementById("save").disabled = broken || !touched.length || (data.served && Boolean(checked.error));
    document.getElementById("plan").disabled = broken || !data.served;
    if (!document.getElementById("details").hidden) showChanges();
  }

  function showMode() {
    const where = table.path;
    let text = data.served
      ? `Served by machine-imagination review: Save writes ${where}.`
      : `Opened from a file: Save downloads ${basename(where)}; put it at ${where} in the project ` +
        "(or serve this page with `machine-imagination review` to save it there and see what the next run redoes).";
    if (!table.configured) text += ` The config names no overrides table for this text: then add this line to it: ${data.config_line}`;
    document.getElementById("mode").textContent = text;
    if (table.error) {
      say(`The overrides table cannot be read by the pipeline: ${table.error}. Fix it by hand; ` +
          "this page will not overwrite it.", true);
    }
    if (!data.served) document.getElementById("plan").title = "Needs the page served by machine-imagination review";
  }

  function showChanges() {
    const box = document.getElementById("changes");
    const touched = changedSentences();
    const list = el("table", {}, el("tr", {}, el("th", { text: "sentence" }), el("th", { text: "column" }),
                                    el("th", { text: `now (${table.path})` }), el("th", { text: "after Save" })));
    for (const index of touched) {
      for (const column of changedColumns(index)) {
        list.append(el("tr", {}, el("td", { text: index }), el("td", { text: column }),
                       el("td", { text: fileCell(index, column) || "–" }),
                       el("td", { text: pendingCell(index, column) || "(empty)" })));
      }
    }
    box.replaceChildren(touched.length ? list : el("p", { text: "No changes." }),
                        el("p", { text: `After Save, ${table.path} reads:` }), el("pre", { text: tableText() }));
  }

  async function call(path, body) {
    const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                         body: JSON.stringify(body) });
    let answer = {};
    try {
      answer = await response.json();
    } catch (error) {
      answer = { error: `${path}: ${response.status} ${response.statusText}` };
    }
    return { status: response.status, body: answer };
  }

  function scheduleCheck() {
    if (!data.served || table.error) return;
    clearTimeout(checkTimer);
    checkTimer = setTimeout(check, 250);
  }

  async function check() {
    const serial = ++checkSerial;
    try {
      const answer = await call("api/check", { table: tableText() });
      if (serial !== checkSerial) return; // a later edit asked again
      checked = answer.status === 200 ? answer.body : { prompts: {}, error: answer.body.error };
    } catch (error) {
      checked = { prompts: {}, error: `the server does not answer (${error.message})` };
    }
    if (checked.error) say(`The pipeline would not read this table: ${checked.error}`, true);
    else say("");
    for (const index of changedSentences()) showParts(index);
    refreshBar();
  }

  async function save() {
    const touched = changedSentences();
    if (!touched.length || table.error) return;
    const text = tableText();
    if (!data.served) {
      const link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/tab-separated-values" })),
                             download: basename(table.path) });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60000);
      say(`Downloaded ${basename(table.path)}: put it at ${table.path} in the project` +
          (table.configured ? "." : ` and add this line to the config: ${data.config_line}`));
      return;
    }
    say("Saving…");
    let answer;
    try {
      answer = await call("api/save", { path: table.path, base: table.sha256, table: text });
    } catch (error) {
      say(`Not saved: the server does not answer (${error.message}).`, true);
      return;
    }
    if (answer.status === 200) {
      table = answer.body.overrides;
      edits.clear();
      sentences.forEach((s) => refreshSentence(s.index));
      say(`Saved ${table.path}` + (table.configured ? "." : `; now add this line to the config: ${data.config_line}`) +
          " The next snakemake run applies it.");
    } else if (answer.status === 409 && answer.body.overrides) {
      table = answer.body.overrides; // the file changed since the page read it: the changes now stand against it
      sentences.forEach((s) => refreshSentence(s.index));
      say(answer.body.error, true);
    } else {
      say(`Not saved: ${answer.body.error || answer.status}`, true);
    }
    refreshBar();
  }

  async function plan() {
    const out = document.getElementById("plan-out");
    document.getElementById("details").hidden = false;
    out.replaceChildren(el("p", { text: "Asking snakemake (a dry run)…" }));
    let answer;
    try {
      answer = await call("api/plan", { table: tableText() });
    } catch (error) {
      out.replaceChildren(el("p", { class: "error", text: `The server does not answer (${error.message}).` }));
      return;
    }
    if (answer.status !== 200) {
      out.replaceChildren(el("p", { class: "error", text: answer.body.error || String(answer.status) }));
      return;
    }
    const jobs = answer.body.jobs;
    const heading = jobs.length
      ? `With ${changedSentences().length ? "these changes" : "the table as it is"}, the next snakemake run ` +
        `runs ${jobs.length} job${jobs.length > 1 ? "s" : ""}:`
      : "The next snakemake run has nothing to do.";
    const rows = jobs.map((job) => el("tr", {}, el("td", { text: job.rule }), el("td", { text: job.outputs.join(" ") }),
                                      el("td", { text: job.reason })));
    out.replaceChildren(el("p", { text: heading }),
                        jobs.length ? el("table", { class: "plan" }, el("tr", {}, el("th", { text: "job" }),
                                         el("th", { text: "writes" }), el("th", { text: "because" })), ...rows) : "");
  }

  // ------------------------------------------------------------------------------------------- keys

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || !sentences.length) return;
    const index = sentences[current].index;
    if (event.key === "j" || event.key === "ArrowDown") setCurrent(current + 1, true);
    else if (event.key === "k" || event.key === "ArrowUp") setCurrent(current - 1, true);
    else if (/^[0-9]$/.test(event.key)) pick(index, Number(event.key));
    else if (event.key === "h") toggleHistory(index);
    else if (event.key === "e") {
      const view = views.get(index);
      view.edit.open = true;
      view.inputs.prompt.focus();
    } else return;
    event.preventDefault();
  });

  // ------------------------------------------------------------------------------------------ start

  document.getElementById("title").textContent = `${settings.text}: ${sentences.length} sentences, ` +
    `${settings.candidates} take${settings.candidates > 1 ? "s" : ""} each`;
  document.getElementById("classes").append(...settings.classes.concat(settings.modes).map((name) =>
    el("option", { value: name })));
  const list = document.getElementById("sentences");
  list.append(...sentences.map(buildSentence));
  sentences.forEach((s) => refreshSentence(s.index));
  showFilm();
  showMode();
  refreshBar();
  drawChart();
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawChart, 150);
  });
  document.getElementById("save").addEventListener("click", save);
  document.getElementById("plan").addEventListener("click", plan);
  document.getElementById("show-changes").addEventListener("click", () => {
    const details = document.getElementById("details");
    details.hidden = !details.hidden;
    if (!details.hidden) showChanges();
  });
})();
