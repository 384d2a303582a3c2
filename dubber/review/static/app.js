// The review page: plain JavaScript, no build step, nothing fetched from elsewhere.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const $ = (selector) => document.querySelector(selector);
const video = $("#video");
const originalAudio = $("#original-audio");
const canvas = $("#timeline");
let dub = null;        // the last state from /api/dub
let peaks = [];        // the dubbed audio's waveform
let stopOriginalAt = null;

function media(path) {
  return `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}&t=${Date.now()}`;
}

async function api(path, body) {
  const options = { headers: { "X-Dub-Token": token } };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(data.error || `${response.status}`);
  return data;
}

function say(text, ok = false) {
  const box = $("#message");
  box.textContent = text;
  box.className = ok ? "ok" : "";
  box.hidden = !text;
}

// Every line names its translator; one made by another than the dub's (Whisper would not
// translate it and a text translator did) is worth a look.
const isFallback = (line) => Boolean(line.translated_by) && line.translated_by !== dub.translator;

const needsAttention = (line) =>
  ["fast", "over"].includes(line.fit) || isFallback(line) || line.within_bounds === false ||
  Boolean(line.skipped);

function fmt(seconds) {
  return seconds === null || seconds === undefined ? "" : Number(seconds).toFixed(2);
}

function row(line, index) {
  const tr = document.createElement("tr");
  tr.dataset.index = index;
  tr.className = [needsAttention(line) ? "attention" : "", line.edited ? "edited" : ""].join(" ").trim();
  const speakers = Object.keys(dub.speakers);
  const options = speakers.map((s) => `<option ${s === line.speaker ? "selected" : ""}>${escape(s)}</option>`);
  tr.innerHTML = `
    <td>${index}</td>
    <td class="time"><input class="start" type="number" step="0.01" value="${fmt(line.start)}" aria-label="start">
        <input class="end" type="number" step="0.01" value="${fmt(line.end)}" aria-label="end"></td>
    <td>${speakers.length ? `<select class="speaker" aria-label="speaker">${options.join("")}</select>` : escape(line.speaker || "")}
        ${dub.emotions.length ? `<select class="emotion" aria-label="emotion"><option value="">as dubbed</option>${
          dub.emotions.map((e) => `<option ${e === line.emotion ? "selected" : ""}>${e}</option>`).join("")}</select>` : ""}</td>
    <td class="original">${escape(line.source_text || "")}</td>
    <td class="text"><textarea rows="2">${escape(line.text || "")}</textarea>
        ${line.pending ? '<span class="pending">edited: regenerate to hear it</span>' : ""}</td>
    <td class="fit">${escape(line.skipped ? "skipped" : line.fit || "")}
        ${line.fit_why || line.skipped ? `<span class="why">${escape(line.fit_why || line.skipped)}</span>` : ""}
        ${isFallback(line) ? `<span class="why">translated by ${escape(line.translated_by)}</span>` : ""}</td>
    <td class="rate">${line.speech_rate ? Number(line.speech_rate).toFixed(2) : ""}</td>
    <td class="actions">
      <button class="play-original">▶ original</button>
      <button class="play-dub" ${line.audio ? "" : "disabled"}>▶ dub</button><br>
      <button class="regenerate">Regenerate</button>
      <button class="undo" ${line.takes ? "" : "disabled"}>Undo</button>
    </td>`;
  return tr;
}

function escape(text) {
  const div = document.createElement("div");
  div.textContent = text;
  return div.innerHTML;
}

function showLines() {
  const body = $("#lines tbody");
  body.replaceChildren(...dub.lines.map(row));
  $("#attention-count").textContent = dub.lines.filter(needsAttention).length;
  applyFilter();
  drawTimeline();
}

function applyFilter() {
  const only = document.querySelector('input[name="filter"]:checked').value === "attention";
  for (const tr of document.querySelectorAll("#lines tbody tr")) {
    tr.classList.toggle("hidden", only && !needsAttention(dub.lines[tr.dataset.index]));
  }
}

function updateLine(index, line) {
  dub.lines[index] = line;
  const old = document.querySelector(`#lines tbody tr[data-index="${index}"]`);
  old.replaceWith(row(line, index));
  $("#attention-count").textContent = dub.lines.filter(needsAttention).length;
  applyFilter();
  drawTimeline();
}

function drawTimeline() {
  if (!dub) return;
  const width = canvas.clientWidth;
  canvas.width = width * devicePixelRatio;
  canvas.height = 90 * devicePixelRatio;
  const g = canvas.getContext("2d");
  g.scale(devicePixelRatio, devicePixelRatio);
  const x = (t) => (t / dub.duration) * width;
  g.clearRect(0, 0, width, 90);
  g.fillStyle = "#9aa5b1";
  peaks.forEach((p, i) => {
    const h = Math.max(1, p * 60);
    g.fillRect((i / peaks.length) * width, 55 - h / 2, Math.max(1, width / peaks.length), h);
  });
  dub.lines.forEach((line, i) => {
    g.fillStyle = needsAttention(line) ? "rgba(217,119,6,.35)" : "rgba(59,130,246,.28)";
    g.fillRect(x(line.start), 4, Math.max(1, x(line.end) - x(line.start)), 16);
    g.fillStyle = "#1f2933";
    g.font = "10px system-ui";
    g.fillText(String(i), x(line.start) + 2, 16);
  });
  g.fillStyle = "#dc2626";
  g.fillRect(x(video.currentTime || 0), 0, 2, 90);
}

function currentLine() {
  const t = video.currentTime;
  for (const tr of document.querySelectorAll("#lines tbody tr")) {
    const line = dub.lines[tr.dataset.index];
    tr.classList.toggle("current", t >= line.start && t < line.end);
  }
}

// Actions run one after another (a text saved on leaving the box, then Regenerate), so a
// line's row is only rebuilt when the action before it has finished.
let queue = Promise.resolve();

function act(tr, work, restore = true) {
  const index = Number(tr.dataset.index);
  // A text saved as the box loses focus leaves the buttons alone: the click that took the
  // focus away (on Regenerate) must still land.
  if (restore) tr.querySelectorAll("button").forEach((b) => (b.disabled = true));
  say("");
  queue = queue.then(async () => {
    try {
      await work(index);
    } catch (error) {
      say(error.message);
      const current = document.querySelector(`#lines tbody tr[data-index="${index}"]`);
      if (!current) return;
      if (restore) current.replaceWith(row(dub.lines[index], index));  // back to what the server has
      else current.querySelectorAll("button").forEach((b) => (b.disabled = false));  // keep what was typed
    }
  });
  return queue;
}

function playTake(index) {
  const take = new Audio(media(`media/line/${index}`));
  take.play();
  return take;
}

function playOriginal(line) {
  video.pause();
  originalAudio.currentTime = line.source_start ?? line.start;
  stopOriginalAt = line.source_end ?? line.end;
  originalAudio.play();
}

originalAudio.addEventListener("timeupdate", () => {
  if (stopOriginalAt !== null && originalAudio.currentTime >= stopOriginalAt) {
    originalAudio.pause();
    stopOriginalAt = null;
  }
});

$("#lines").addEventListener("click", (event) => {
  const tr = event.target.closest("tr[data-index]");
  if (!tr) return;
  const index = Number(tr.dataset.index);
  const line = dub.lines[index];
  if (event.target.matches(".play-original")) return playOriginal(line);
  if (event.target.matches(".play-dub")) return playTake(index);
  if (event.target.matches(".regenerate")) {
    const text = tr.querySelector("textarea").value;  // as typed when the button was pressed
    return act(tr, async (i) => {
      if (text !== dub.lines[i].text) updateLine(i, await api(`api/lines/${i}`, { text }));
      const fresh = document.querySelector(`#lines tbody tr[data-index="${i}"]`);
      fresh.querySelectorAll("button").forEach((b) => (b.disabled = true));
      const done = await api(`api/lines/${i}/regenerate`, {});
      updateLine(i, done);
      say(`line ${i} regenerated to its ${(done.end - done.start).toFixed(2)} s slot, rate ${Number(done.speech_rate).toFixed(2)}`, true);
      playTake(i);
    }, false);
  }
  if (event.target.matches(".undo")) {
    return act(tr, async (i) => updateLine(i, await api(`api/lines/${i}/undo`, {})));
  }
  if (event.target.closest("td") && !event.target.matches("input, textarea, select, button")) {
    video.currentTime = line.start;  // clicking a line seeks the video there
    currentLine();
    drawTimeline();
  }
});

$("#lines").addEventListener("change", (event) => {
  const tr = event.target.closest("tr[data-index]");
  if (!tr) return;
  const field = event.target.matches(".start") ? "start" : event.target.matches(".end") ? "end"
    : event.target.matches(".speaker") ? "speaker" : event.target.matches(".emotion") ? "emotion"
    : event.target.matches("textarea") ? "text" : null;
  if (!field) return;
  const value = field === "start" || field === "end" ? Number(event.target.value) : event.target.value;
  if (field === "text" && value === dub.lines[tr.dataset.index].text) return;
  // A refused text stays in the box to be corrected; a refused time or speaker goes back.
  act(tr, async (i) => updateLine(i, await api(`api/lines/${i}`, { [field]: value })), field !== "text");
});

document.querySelectorAll('input[name="filter"]').forEach((radio) => radio.addEventListener("change", applyFilter));

$("#hear").addEventListener("change", () => {
  const at = video.currentTime;
  const playing = !video.paused;
  video.src = media(`media/${$("#hear").value}`);
  video.addEventListener("loadedmetadata", () => {
    video.currentTime = at;
    if (playing) video.play();
  }, { once: true });
});

canvas.addEventListener("click", (event) => {
  const box = canvas.getBoundingClientRect();
  video.currentTime = ((event.clientX - box.left) / box.width) * dub.duration;
  drawTimeline();
});

video.addEventListener("timeupdate", () => { currentLine(); drawTimeline(); });
window.addEventListener("resize", drawTimeline);

$("#render").addEventListener("click", async () => {
  const name = $("#render-name").value.trim();
  $("#render").disabled = true;
  say("");
  try {
    await api("api/render", name ? { output: name } : {});
    await watchRender();
  } catch (error) {
    say(error.message);
  } finally {
    $("#render").disabled = false;
  }
});

async function watchRender() {
  for (;;) {
    const state = await api("api/dub");
    const render = state.render;
    $("#render-state").textContent = render.running ? `rendering: ${render.stage || "starting"}…` : "";
    if (!render.running) {
      dub = state;
      if (render.error) throw new Error(`render failed: ${render.error}`);
      say(`rendered ${render.output}`, true);
      $("#render-state").textContent = "rendered";
      document.body.dataset.rendered = render.output;
      await load();
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

async function load() {
  dub = await api("api/dub");
  $("#title").textContent = `${dub.output} (${dub.source_lang || "?"} → ${dub.lang}, ${dub.tts})`;
  video.src = media(`media/${$("#hear").value}`);
  originalAudio.src = media("media/original");
  showLines();
  try {
    peaks = (await api("api/waveform")).peaks;
  } catch (error) {
    peaks = [];
  }
  drawTimeline();
  document.body.dataset.ready = "yes";
}

load().catch((error) => say(error.message));
