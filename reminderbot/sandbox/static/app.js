// The sandbox page: polls the control API and shows each person's chat with the bot.
"use strict";

const POLL_MS = 700;
const TOAST_MS = 3500;
const TYPING_MS = 5000;
// A note in the status line is about one moment; after this it would mislead.
const STATUS_MS = 6000;
// A poll that takes longer than this means the server is stuck: say so rather than freeze.
const POLL_TIMEOUT_MS = 5000;
// Every change carries this header: a form on another web site cannot send it.
const CONTROL_HEADER = "X-Sandbox-Control";
// What the keyboard can reach in a message: its inline buttons, the invite button and links
// (a document's download, links in the text).
const CONTROLS = ".keyboard button, a, .invite";
const api = (path) => "/sandbox/api" + path;

const panes = new Map(); // chat_id -> pane elements and what they show
let version = -1;
let chatOrder = [];
let seenToasts = null; // toasts from before the page opened are not shown again
let displayZone = "UTC"; // message times are shown in the bot's display timezone
let statusTimer = null;

function post(path, body) {
  return fetch(api(path), {
    method: "POST",
    headers: { "Content-Type": "application/json", [CONTROL_HEADER]: "1" },
    body: JSON.stringify(body),
  }).then(async (response) => {
    if (!response.ok) throw new Error(await response.text());
    return response.json();
  });
}

// A note clears itself after STATUS_MS; a lasting condition (the server is down) stays until
// it ends, and whoever ends it clears it.
function setStatus(text, { lasting = false } = {}) {
  const status = document.getElementById("status");
  status.textContent = text;
  clearTimeout(statusTimer);
  if (text && !lasting) statusTimer = setTimeout(() => setStatus(""), STATUS_MS);
}

function otherChat(chatId) {
  const index = chatOrder.indexOf(chatId);
  return chatOrder.length > 1 ? chatOrder[(index + 1) % chatOrder.length] : null;
}

// Telegram entity offsets count UTF-16 code units, as JavaScript strings do.
function renderText(container, text, entities) {
  const tags = {
    bold: "strong", italic: "em", underline: "u", strikethrough: "s",
    code: "code", pre: "pre", spoiler: "span",
  };
  let at = 0;
  const sorted = [...entities].sort((a, b) => a.offset - b.offset);
  for (const entity of sorted) {
    if (entity.offset < at) continue; // nested entities are shown plainly
    container.append(text.slice(at, entity.offset));
    const piece = text.slice(entity.offset, entity.offset + entity.length);
    let node;
    if (entity.type === "text_link" || entity.type === "url") {
      node = document.createElement("a");
      node.href = entity.type === "url" ? piece : entity.url;
      node.target = "_blank";
      node.rel = "noopener noreferrer";
    } else {
      node = document.createElement(tags[entity.type] || "span");
    }
    node.textContent = piece;
    container.append(node);
    at = entity.offset + entity.length;
  }
  container.append(text.slice(at));
}

function inviteButton(payload, fromChat) {
  const target = otherChat(fromChat);
  if (target === null) return null;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "invite";
  button.textContent = "Open this invite as " + panes.get(target).label;
  button.addEventListener("click", () => {
    post(`/chats/${target}/start`, { payload })
      .then(() => panes.get(target).input.focus())
      .catch((error) => setStatus("Could not open the invite: " + error.message));
  });
  return button;
}

function keyboard(view, chatId) {
  const box = document.createElement("div");
  box.className = "keyboard";
  for (const row of view.buttons) {
    const line = document.createElement("div");
    line.className = "keyboard-row";
    for (const spec of row) {
      let node;
      if (spec.callback_data !== undefined) {
        node = document.createElement("button");
        node.type = "button";
        node.dataset.callback = spec.callback_data;
        node.addEventListener("click", () => {
          post(`/chats/${chatId}/press`, {
            message_id: view.message_id,
            callback_data: spec.callback_data,
          }).catch((error) => setStatus("That button is gone: " + error.message));
        });
      } else if (spec.url && !view.invite_payloads.some((p) => spec.url.endsWith("=" + p))) {
        node = document.createElement("a");
        node.href = spec.url;
        node.target = "_blank";
        node.rel = "noopener noreferrer";
      } else {
        continue; // invite links get their own button below
      }
      node.textContent = spec.text;
      line.append(node);
    }
    if (line.childElementCount) box.append(line);
  }
  return box;
}

function renderMessage(view, chatId) {
  const item = document.createElement("li");
  item.className = "msg " + (view.from_bot ? "bot" : "person");
  const who = document.createElement("span");
  who.className = "visually-hidden";
  who.textContent = view.from_bot ? "Bot: " : "You: ";
  item.append(who);
  if (view.photo) {
    const img = document.createElement("img");
    img.src = view.photo.url;
    img.alt = "Picture from the bot";
    if (view.photo.width) img.width = view.photo.width;
    if (view.photo.height) img.height = view.photo.height;
    item.append(img);
  }
  if (view.document) {
    const link = document.createElement("a");
    link.className = "download";
    link.href = view.document.url + "?download=1";
    link.download = view.document.file_name || "";
    link.textContent = "Download " + (view.document.file_name || "file") +
      (view.document.size !== null ? ` (${view.document.size} bytes)` : "");
    item.append(link, document.createElement("br"));
  }
  const body = document.createElement("span");
  renderText(body, view.text ?? view.caption ?? "", view.entities);
  item.append(body);
  if (view.buttons.length) item.append(keyboard(view, chatId));
  for (const payload of view.invite_payloads) {
    const button = inviteButton(payload, chatId);
    if (button) item.append(button);
  }
  const meta = document.createElement("span");
  meta.className = "meta";
  const when = document.createElement("time");
  const date = new Date(view.date * 1000);
  when.dateTime = date.toISOString();
  when.textContent = date.toLocaleTimeString([], {
    hour: "2-digit", minute: "2-digit", hour12: false, timeZone: displayZone,
  });
  meta.append(when);
  if (view.edited) meta.append(" · edited");
  if (view.protected) meta.append(" · protected");
  item.append(meta);
  return item;
}

function createPane(chat) {
  const fragment = document.getElementById("pane-template").content.cloneNode(true);
  const section = fragment.querySelector(".phone");
  const titleId = `pane-${chat.chat_id}-title`;
  const inputId = `pane-${chat.chat_id}-input`;
  section.setAttribute("aria-labelledby", titleId);
  const title = section.querySelector(".phone-title");
  title.id = titleId;
  title.textContent = chat.label;
  const input = section.querySelector(".composer-input");
  input.id = inputId;
  const label = section.querySelector(".composer-label");
  label.htmlFor = inputId;
  label.textContent = `Message as ${chat.label} (try /start)`;
  section.querySelector(".messages").setAttribute("aria-label", `Chat of ${chat.label} with the bot`);

  const pane = {
    label: chat.label,
    section,
    input,
    list: section.querySelector(".messages"),
    typing: section.querySelector(".typing"),
    toast: section.querySelector(".toast"),
    replyKeyboard: section.querySelector(".reply-keyboard"),
    dueNow: section.querySelector(".due-now"),
    shown: new Map(), // message_id -> [JSON of its view, element]
    toastTimer: null,
    typingTimer: null,
  };
  section.querySelector(".composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    post(`/chats/${chat.chat_id}/messages`, { text })
      .then(() => { input.value = ""; })
      .catch((error) => setStatus("Not sent: " + error.message));
  });
  pane.dueNow.addEventListener("click", () => {
    pane.dueNow.disabled = true;
    post(`/people/${chat.chat_id}/due-now`, {})
      .then((answer) => setStatus(`${chat.label}: ${answer.result}`))
      .catch((error) => setStatus("Could not make a reminder due: " + error.message))
      .finally(() => { pane.dueNow.disabled = false; });
  });
  document.getElementById("panes").append(section);
  panes.set(chat.chat_id, pane);
  return pane;
}

function showToast(pane, toast) {
  if (!toast.text) return;
  pane.toast.textContent = toast.text;
  pane.toast.hidden = false;
  clearTimeout(pane.toastTimer);
  pane.toastTimer = setTimeout(() => { pane.toast.hidden = true; }, toast.show_alert ? TOAST_MS * 2 : TOAST_MS);
}

function renderReplyKeyboard(pane, chat) {
  const latest = [...chat.messages].reverse().find((m) => m.reply_keyboard);
  pane.replyKeyboard.replaceChildren();
  pane.replyKeyboard.hidden = !latest;
  if (!latest) return;
  for (const row of latest.reply_keyboard) {
    for (const spec of row) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = spec.text;
      button.addEventListener("click", () => post(`/chats/${chat.chat_id}/messages`, { text: spec.text }));
      pane.replyKeyboard.append(button);
    }
  }
}

// An edit redraws a message; keyboard focus inside it moves to the same control in the new
// drawing (same button, else same place), never back to the top of the page.
function replaceKeepingFocus(old, element, pane) {
  const focused = document.activeElement;
  const hadFocus = focused && focused !== old && old.contains(focused);
  const before = hadFocus ? [...old.querySelectorAll(CONTROLS)] : [];
  old.replaceWith(element);
  if (!hadFocus) return;
  const after = [...element.querySelectorAll(CONTROLS)];
  const same = focused.dataset.callback !== undefined
    ? after.find((node) => node.dataset.callback === focused.dataset.callback)
    : null;
  (same || after[Math.min(before.indexOf(focused), after.length - 1)] || pane.list).focus();
}

// Like Telegram, an old keyboard still takes a tap and an old file still downloads; but only the
// newest bot message's controls are tab stops, so Tab goes from the chat to what can be answered
// now, then to the input.
function updateTabStops(pane) {
  const bots = pane.list.querySelectorAll(":scope > .msg.bot");
  const newest = bots.length ? bots[bots.length - 1] : null;
  for (const item of pane.list.children) {
    for (const control of item.querySelectorAll(CONTROLS)) {
      if (item === newest) control.removeAttribute("tabindex");
      else control.tabIndex = -1;
    }
  }
}

function renderChat(chat, dueNow) {
  const pane = panes.get(chat.chat_id) || createPane(chat);
  pane.dueNow.hidden = !dueNow;
  const present = new Set();
  let newest = null;
  for (const view of chat.messages) {
    present.add(view.message_id);
    const json = JSON.stringify(view);
    const known = pane.shown.get(view.message_id);
    if (known && known[0] === json) continue;
    const element = renderMessage(view, chat.chat_id);
    if (known) {
      replaceKeepingFocus(known[1], element, pane); // an edit shows in place
    } else {
      pane.list.append(element);
      newest = element;
    }
    pane.shown.set(view.message_id, [json, element]);
  }
  for (const [messageId, [, element]] of pane.shown) {
    if (!present.has(messageId)) {
      if (element.contains(document.activeElement)) pane.list.focus();
      element.remove();
      pane.shown.delete(messageId);
    }
  }
  updateTabStops(pane);
  // Show the start of the newest message: long ones would otherwise open at their end.
  if (newest) pane.list.scrollTop = newest.offsetTop - 8;
  pane.typing.hidden = chat.action !== "typing";
  clearTimeout(pane.typingTimer);
  // Telegram shows a chat action for five seconds unless a message ends it sooner.
  pane.typingTimer = setTimeout(() => { pane.typing.hidden = true; }, TYPING_MS);
  renderReplyKeyboard(pane, chat);
  for (const toast of chat.toasts) {
    if (seenToasts.has(toast.callback_query_id)) continue;
    seenToasts.add(toast.callback_query_id);
    showToast(pane, toast);
  }
}

function renderClock(clock) {
  displayZone = clock.timezone;
  const element = document.getElementById("clock");
  element.dateTime = clock.utc;
  element.textContent = clock.local.slice(0, 19).replace("T", " ");
  document.getElementById("timezone").textContent = `(${clock.timezone})`;
}

function render(state) {
  renderClock(state.clock);
  if (state.unchanged) return;
  chatOrder = state.chats.map((chat) => chat.chat_id);
  if (seenToasts === null) {
    seenToasts = new Set(state.chats.flatMap((c) => c.toasts.map((t) => t.callback_query_id)));
  }
  // Every pane exists before any is drawn: an invite in one pane points at another.
  for (const chat of state.chats) if (!panes.has(chat.chat_id)) createPane(chat);
  for (const chat of state.chats) renderChat(chat, state.due_now);
  version = state.version;
}

async function poll() {
  const status = document.getElementById("status");
  let state = null;
  try {
    const response = await fetch(api(`/state?since=${version}`), {
      cache: "no-store",
      signal: AbortSignal.timeout(POLL_TIMEOUT_MS),
    });
    state = await response.json();
    if (status.dataset.offline) {
      delete status.dataset.offline;
      setStatus("");
    }
  } catch (error) {
    status.dataset.offline = "1";
    setStatus("The sandbox server is not answering; retrying.", { lasting: true });
  }
  try {
    if (state) {
      render(state);
      if (status.dataset.broken) {
        delete status.dataset.broken;
        setStatus("");
      }
    }
  } catch (error) {
    console.error(error);
    status.dataset.broken = "1";
    setStatus("This page could not show the latest state: " + error.message, { lasting: true });
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
