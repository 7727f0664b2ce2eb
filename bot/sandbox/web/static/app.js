// The sandbox page: renders the channel as the chosen user sees it and sends slash commands and button
// clicks to the bot through the local Discord-compatible server. No build step, no dependencies.
"use strict";

const state = {
  me: null,
  users: [],
  members: {},
  commands: [],
  messages: new Map(),
  socket: null,
  socketGeneration: 0,
  suggestionIndex: 0,
};

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// A small subset of Discord markdown: mentions, **bold**, *italic*, __underline__, `code`, ~~strike~~.
function markdown(text) {
  let html = escapeHtml(text);
  html = html.replace(/&lt;@!?(\d+)&gt;/g, (_, id) => `<span class="mention">@${escapeHtml(state.members[id] || "unknown")}</span>`);
  html = html.replace(/&lt;@&amp;(\d+)&gt;/g, '<span class="mention">@role</span>');
  html = html.replace(/&lt;t:(\d+)(?::([tTdDfFR]))?&gt;/g, (_, s, style) => escapeHtml(timestamp(Number(s), style)));
  html = html.replace(/`([^`]+)`/g, "<code>$1</code>");
  html = html.replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
  html = html.replace(/__([^_]+)__/g, "<u>$1</u>");
  html = html.replace(/\*([^*\s][^*]*)\*/g, "<em>$1</em>");
  html = html.replace(/~~([^~]+)~~/g, "<s>$1</s>");
  return emojiText(html);
}

// Discord's <t:seconds:style> timestamps; R is relative ("in 5 hours").
function timestamp(seconds, style) {
  const date = new Date(seconds * 1000);
  if (style !== "R") return style === "t" || style === "T" ? date.toLocaleTimeString() : date.toLocaleString();
  const delta = seconds - Date.now() / 1000;
  const units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  const [unit, size] = units.find(([, size]) => Math.abs(delta) >= size) || ["second", 1];
  return new Intl.RelativeTimeFormat("en", { numeric: "auto" }).format(Math.round(delta / size), unit);
}

function compareIds(a, b) {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function showNotice(text, kind) {
  const notice = $("notice");
  notice.textContent = text;
  notice.className = "notice" + (kind ? " " + kind : "");
  notice.hidden = !text;
}

// ---- rendering -------------------------------------------------------------------------------------------

function renderEmbed(embed) {
  const box = el("div", "embed");
  if (embed.color) box.style.borderLeftColor = "#" + Number(embed.color).toString(16).padStart(6, "0");
  if (embed.author && embed.author.name) box.append(el("div", "embed-footer", embed.author.name));
  if (embed.title) box.append(el("div", "embed-title", embed.title));
  if (embed.description) {
    const description = el("div", "embed-description");
    description.innerHTML = markdown(embed.description);
    box.append(description);
  }
  if (embed.fields && embed.fields.length) {
    const fields = el("div", "embed-fields");
    for (const field of embed.fields) {
      const cell = el("div");
      cell.append(el("div", "embed-field-name", field.name));
      const value = el("div", "embed-field-value");
      value.innerHTML = markdown(field.value || "");
      cell.append(value);
      fields.append(cell);
    }
    box.append(fields);
  }
  const image = embed.image && embed.image.url;
  if (image && /^https?:/.test(image)) {
    const img = el("img");
    img.src = image;
    box.append(img);
  }
  if (embed.footer && embed.footer.text) box.append(el("div", "embed-footer", embed.footer.text));
  return box;
}

// Without a colour emoji font (e.g. a bare headless browser) emoji show as empty boxes: draw the few the bot
// uses with plain symbols instead, keeping the emoji as the accessible name.
const EMOJI_FALLBACK = { "🔄": "↻", "🔁": "⟳", "❌": "✕", "✖️": "✕", "✅": "✓", "⬆️": "↑", "🛑": "■", "⏹️": "■" };
const emojiFont = (() => {
  const context = document.createElement("canvas").getContext("2d");
  if (!context) return true;
  context.font = "32px sans-serif";
  return context.measureText("🔄").width !== context.measureText("\u{10FFFD}").width;
})();

function emojiText(text) {
  if (emojiFont) return text;
  return Object.entries(EMOJI_FALLBACK).reduce((shown, [emoji, symbol]) => shown.split(emoji).join(symbol), text);
}

function renderButton(message, button) {
  const emoji = button.emoji && button.emoji.name ? button.emoji.name : "";
  const accessible = emoji + (emoji && button.label ? " " : "") + (button.label || "");
  const label = emojiText(accessible);
  if (button.style === 5) {
    const link = el("a", "component-link", label);
    link.href = button.url;
    link.target = "_blank";
    link.rel = "noopener";
    return link;
  }
  const node = el("button", "component style-" + (button.style || 2), label);
  node.type = "button";
  if (accessible !== label) node.setAttribute("aria-label", accessible);
  node.disabled = Boolean(button.disabled);
  node.dataset.customId = button.custom_id;
  node.addEventListener("click", () => clickButton(message.id, button.custom_id, node));
  return node;
}

function renderMessage(message) {
  const root = el("div", "message" + (message.ephemeral ? " ephemeral" : ""));
  root.dataset.id = message.id;
  root.dataset.testid = "message";
  const avatar = el("div", "avatar" + (message.author.bot ? " bot" : ""), message.author.name.slice(0, 1).toUpperCase());
  const body = el("div", "body");

  if (message.reply_to) {
    const reply = el("div", "reply");
    const excerpt = (message.reply_to.content || (message.reply_to.has_image ? "(image)" : "")).replace(/\s+/g, " ");
    reply.innerHTML = `<span class="mention">@${escapeHtml(message.reply_to.author)}</span> ${markdown(excerpt)}`;
    body.append(reply);
  }
  if (message.used) {
    const context = el("div", "context");
    context.append(el("span", "name", message.used.user), document.createTextNode(" used "), el("code", "", "/" + message.used.command));
    body.append(context);
  }
  const meta = el("div", "meta");
  meta.append(el("span", "author", message.author.name));
  if (message.author.bot) meta.append(el("span", "bot-tag", "App"));
  meta.append(el("span", "time", new Date(message.timestamp).toLocaleTimeString()));
  body.append(meta);

  if (message.loading) {
    body.append(el("div", "thinking", `${message.author.name} is thinking`));
  }
  if (message.content) {
    const content = el("div", "content");
    content.innerHTML = markdown(message.content);
    if (message.edited) content.append(el("span", "edited", "(edited)"));
    body.append(content);
  }
  for (const embed of message.embeds || []) body.append(renderEmbed(embed));
  if (message.attachments.length) {
    const box = el("div", "attachments");
    for (const attachment of message.attachments) {
      if (attachment.image) {
        const img = el("img", "attachment");
        img.src = attachment.url;
        img.alt = attachment.filename;
        img.dataset.testid = "attachment-image";
        if (attachment.width && attachment.height) {
          const scale = Math.min(1, 512 / Math.max(attachment.width, attachment.height));
          img.width = Math.round(attachment.width * scale);
          img.height = Math.round(attachment.height * scale);
        }
        img.addEventListener("click", () => openLightbox(attachment.url));
        box.append(img);
      } else {
        const link = el("a", "file", `${attachment.filename} (${Math.ceil(attachment.size / 1024)} KB)`);
        link.href = attachment.url;
        link.target = "_blank";
        box.append(link);
      }
    }
    body.append(box);
  }
  if (message.components.length) {
    const rows = el("div", "rows");
    for (const row of message.components) {
      const line = el("div", "row");
      for (const component of row.components || []) {
        if (component.type === 2) line.append(renderButton(message, component));
        else if (component.type === 3) line.append(renderSelect(message, component));
      }
      rows.append(line);
    }
    body.append(rows);
  }
  if (message.attachments.some((attachment) => attachment.image) && state.commands.some((c) => c.name === "describe")) {
    const apps = el("button", "component style-2 apps", "Apps › Describe");
    apps.type = "button";
    apps.addEventListener("click", () => useApp(message.id, "Describe", apps));
    body.append(apps);
  }
  if (message.ephemeral) body.append(el("div", "ephemeral-note", "Only you can see this"));
  root.append(avatar, body);
  return root;
}

function nearBottom() {
  const list = $("messages");
  return list.scrollHeight - list.scrollTop - list.clientHeight < 120;
}

function scrollToBottom() {
  const list = $("messages");
  list.scrollTop = list.scrollHeight;
}

const updateSeq = new Map();

// New messages appear at once; an edited message is swapped in once its new images have loaded (at most 2 s),
// so progress previews replace each other without flicker. A newer edit supersedes one still loading.
async function upsertMessage(message) {
  const list = $("messages");
  const placeholder = list.querySelector(".empty");
  if (placeholder) placeholder.remove();
  const fresh = renderMessage(message);
  const seq = (updateSeq.get(message.id) || 0) + 1;
  updateSeq.set(message.id, seq);
  let node = state.messages.has(message.id) ? list.querySelector(`[data-id="${message.id}"]`) : null;
  const images = [...fresh.querySelectorAll("img")];
  if (node && images.length) {
    const loaded = Promise.all(images.map((img) => img.decode().catch(() => undefined)));
    await Promise.race([loaded, new Promise((resolve) => setTimeout(resolve, 2000))]);
    if (updateSeq.get(message.id) !== seq || !state.messages.has(message.id)) return;
    node = list.querySelector(`[data-id="${message.id}"]`);
  }
  const stick = nearBottom();
  state.messages.set(message.id, message);
  if (node) {
    node.replaceWith(fresh);
  } else {
    const after = [...list.children].find((child) => child.dataset.id && compareIds(child.dataset.id, message.id) > 0);
    list.insertBefore(fresh, after || null);
  }
  if (stick) scrollToBottom();
  for (const img of fresh.querySelectorAll("img")) {
    img.addEventListener("load", () => stick && scrollToBottom(), { once: true });
  }
}

function removeMessage(id) {
  state.messages.delete(id);
  const node = $("messages").querySelector(`[data-id="${id}"]`);
  if (node) node.remove();
}

function renderAll(messages) {
  const list = $("messages");
  list.replaceChildren();
  state.messages.clear();
  if (!messages.length) list.append(el("div", "empty", "No messages yet. Try /imagine a large red circle on a blue background --ar 3:2"));
  for (const message of messages) upsertMessage(message);
  scrollToBottom();
}

function setStatus(connected) {
  const status = $("bot-status");
  status.textContent = connected ? "bot online" : "bot offline (starting or reconnecting)";
  status.className = "status " + (connected ? "online" : "offline");
}

function openLightbox(url) {
  const box = el("div", "lightbox");
  const img = el("img");
  img.src = url;
  box.append(img);
  box.addEventListener("click", () => box.remove());
  document.body.append(box);
}

// ---- talking to the server -------------------------------------------------------------------------------

async function post(path, payload) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
  let data = {};
  try {
    data = await response.json();
  } catch (error) {
    data = { ok: false, error: `${response.status} ${response.statusText}` };
  }
  return data;
}

async function clickButton(messageId, customId, node) {
  node.classList.add("pending");
  const result = await post("/sandbox/api/click", { user: state.me.id, message: messageId, custom_id: customId });
  node.classList.remove("pending");
  await answered(result, "The click failed.");
}

function renderSelect(message, menu) {
  const node = el("select", "component select");
  node.dataset.customId = menu.custom_id;
  node.dataset.testid = "select";
  for (const option of menu.options || []) {
    const item = el("option", "", option.label);
    item.value = option.value;
    item.selected = Boolean(option.default);
    node.append(item);
  }
  node.addEventListener("change", async () => {
    const result = await post("/sandbox/api/select", {
      user: state.me.id, message: message.id, custom_id: menu.custom_id, values: [node.value],
    });
    await answered(result, "The menu failed.");
  });
  return node;
}

async function useApp(messageId, name, node) {
  node.classList.add("pending");
  const result = await post("/sandbox/api/apps", { user: state.me.id, message: messageId, name });
  node.classList.remove("pending");
  await answered(result, "The app failed.");
}

// The bot may answer with a box to fill in (Remix): shown as the browser's prompt, one field at a time.
async function answered(result, failure) {
  if (!result.ok) {
    showNotice(result.error || failure);
    return;
  }
  showNotice("");
  if (!result.modal) return;
  const values = {};
  for (const field of result.modal.fields) {
    if (field.options) {
      // A select in the box (e.g. Vary (Region)): the option values, comma-separated.
      const choices = field.options.map((option) => `${option.value}: ${option.label}`).join(", ");
      const picked = window.prompt(`${result.modal.title}: ${field.label} (${choices})`, "");
      if (picked === null) return;
      values[field.id] = picked.split(/[\s,]+/).filter(Boolean);
      continue;
    }
    const value = window.prompt(`${result.modal.title}: ${field.label}`, field.value || "");
    if (value === null) return;
    values[field.id] = value;
  }
  const sent = await post("/sandbox/api/modal", { user: state.me.id, interaction: result.interaction, values });
  await answered(sent, "The box could not be sent.");
}

async function sendCommand(text) {
  if (!text.startsWith("/")) {
    showNotice("This sandbox sends slash commands. Try /imagine a large red circle on a blue background --ar 3:2", "info");
    return false;
  }
  const result = await post("/sandbox/api/command", { user: state.me.id, text });
  if (!result.ok) {
    showNotice(result.error || "The command failed.");
    return false;
  }
  showNotice("");
  return true;
}

function connect() {
  const generation = ++state.socketGeneration;
  if (state.socket) state.socket.close();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/sandbox/ws?user=${state.me.id}`);
  state.socket = socket;
  socket.addEventListener("message", (event) => {
    const update = JSON.parse(event.data);
    if (update.type === "message") upsertMessage(update.message);
    else if (update.type === "delete") removeMessage(update.id);
    else if (update.type === "commands") state.commands = update.commands;
    else if (update.type === "status") setStatus(update.connected);
    else if (update.type === "no_response") showNotice(`The bot did not respond in time (${update.what}). The interaction failed.`);
  });
  socket.addEventListener("close", () => {
    if (generation !== state.socketGeneration) return;
    setStatus(false);
    setTimeout(() => generation === state.socketGeneration && load(state.me.id), 1500);
  });
}

async function load(userId) {
  const query = userId ? `?user=${encodeURIComponent(userId)}` : "";
  let data;
  try {
    const response = await fetch(`/sandbox/api/state${query}`);
    data = await response.json();
  } catch (error) {
    setStatus(false);
    setTimeout(() => load(userId), 2000);
    return;
  }
  state.me = data.me;
  state.users = data.users;
  state.members = data.members;
  state.commands = data.commands;
  $("guild-name").textContent = data.guild.name;
  $("channel-name").textContent = data.channel.name;
  const switcher = $("user-switcher");
  switcher.replaceChildren(
    ...data.users.map((user) => {
      const option = el("option", "", user.name + (user.roles.length ? ` (${user.roles.join(", ")})` : ""));
      option.value = user.id;
      option.selected = user.id === data.me.id;
      return option;
    }),
  );
  $("user-roles").textContent = data.me.roles.length ? `Roles: ${data.me.roles.join(", ")}` : "No roles";
  setStatus(data.connected);
  renderAll(data.messages);
  localStorage.setItem("sandbox-user", data.me.id);
  connect();
}

// ---- command suggestions ---------------------------------------------------------------------------------

function matchingCommands(text) {
  if (!text.startsWith("/")) return [];
  const typed = text.slice(1).toLowerCase();
  return state.commands.filter((command) => {
    const name = command.name;
    return name.startsWith(typed.trimEnd()) || (typed.startsWith(name) && typed.length === name.length);
  });
}

function usage(command) {
  return command.options.map((option) => (option.required ? `${option.name}:` : `[${option.name}:]`)).join(" ");
}

function renderSuggestions() {
  const box = $("suggestions");
  const text = $("prompt").value;
  const matches = matchingCommands(text);
  box.replaceChildren();
  if (!matches.length || (text.includes(" ") && !matches.some((c) => c.name.includes(" ")))) {
    // Typing a command's options: show what it takes.
    const typed = text.slice(1);
    const current = state.commands
      .filter((command) => text.startsWith("/") && typed.startsWith(command.name + " "))
      .sort((a, b) => b.name.length - a.name.length)[0];
    if (current && current.options.length) {
      const hint = el("li", "hint");
      hint.append(el("span", "cmd", "/" + current.name), el("span", "opts", usage(current)));
      const described = current.options.map((o) => `${o.name}: ${o.description}${o.choices.length ? ` (${o.choices.join(", ")})` : ""}`);
      hint.append(el("span", "desc", described.join(" · ")));
      box.append(hint);
    }
    box.hidden = !current || !current.options.length;
    return;
  }
  state.suggestionIndex = Math.min(state.suggestionIndex, matches.length - 1);
  matches.forEach((command, index) => {
    const item = el("li", index === state.suggestionIndex ? "active" : "");
    item.append(el("span", "cmd", "/" + command.name), el("span", "opts", usage(command)), el("span", "desc", command.description));
    item.addEventListener("mousedown", (event) => {
      event.preventDefault();
      complete(command);
    });
    box.append(item);
  });
  box.hidden = false;
}

function complete(command) {
  const input = $("prompt");
  const first = command.options[0];
  const textFirst = first && first.type === 3 && command.options.filter((o) => o.required).length <= 1;
  input.value = "/" + command.name + " " + (textFirst || !first ? "" : command.options.filter((o) => o.required).map((o) => o.name + ":").join(" "));
  $("suggestions").hidden = true;
  input.focus();
}

// ---- wiring ----------------------------------------------------------------------------------------------

function wire() {
  const input = $("prompt");
  $("composer-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    $("suggestions").hidden = true;
    if (await sendCommand(text)) input.value = "";
  });
  input.addEventListener("input", () => {
    state.suggestionIndex = 0;
    renderSuggestions();
  });
  input.addEventListener("keydown", (event) => {
    const box = $("suggestions");
    if (box.hidden) return;
    const matches = matchingCommands(input.value);
    if (event.key === "Escape") {
      box.hidden = true;
      return;
    }
    if (!matches.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      state.suggestionIndex = (state.suggestionIndex + step + matches.length) % matches.length;
      renderSuggestions();
    } else if (event.key === "Tab" && matches.length) {
      event.preventDefault();
      complete(matches[state.suggestionIndex]);
    }
  });
  $("user-switcher").addEventListener("change", (event) => load(event.target.value));
  const saved = new URLSearchParams(location.search).get("user") || localStorage.getItem("sandbox-user");
  load(saved);
}

document.addEventListener("DOMContentLoaded", wire);
