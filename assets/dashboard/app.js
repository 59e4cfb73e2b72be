// juru admin dashboard. Plain DOM, no framework, no build step: the binary
// embeds this file as it is. User text (prospects' messages, notes, label
// names) only ever reaches the page through text nodes, never innerHTML.
'use strict';

const POLL_MS = 5000;
// Take over and release are queued behind the chat's lane: the new state is
// there a moment later, so look again shortly instead of waiting for the poll.
const RECHECK_MS = [300, 1500];
const PHASES = ['leads', 'interest', 'booking'];
const TREND_DAYS = 14;
// WhatsApp's label palette, by the index WAHA reports as `color` (the same
// table WhatsApp clients use; `colorHex` in WAHA's events follows it).
const LABEL_COLORS = [
  '#ff9484', '#64c4ff', '#fed428', '#dfaef0', '#9ab6c1', '#56ccb4', '#fe9dfe', '#d3a91f', '#6f7bcf', '#d8e651',
  '#01d0e2', '#ffc5c7', '#92ceac', '#f64847', '#00a1f2', '#83e421', '#ffae07', '#b4ebff', '#9ba6ff', '#9568cf',
];

// ------------------------------------------------------------ DOM helpers

/** `h('p', {class: 'x', data: {id}}, 'text', child)`: strings become text nodes. */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'data') Object.assign(el.dataset, value);
    else if (key === 'vars') {
      for (const [name, v] of Object.entries(value)) if (v != null) el.style.setProperty(name, v);
    }
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

const SVG_NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
  append(el, children);
  return el;
}

function body(sectionId) {
  return document.querySelector(`#${sectionId} .body`);
}

/** Replaces a section's content, unless its data did not change (keeps focus and scroll). */
const shown = new Map();
function show(target, data, render) {
  const key = JSON.stringify(data);
  if (shown.get(target) === key) return;
  shown.set(target, key);
  target.replaceChildren(...[render(data)].flat());
}

function empty(text) {
  return h('p', { class: 'empty' }, text);
}

// ------------------------------------------------------------ formatting

const DASH = '–';

function pct(rate) {
  if (rate == null || !Number.isFinite(rate)) return DASH;
  const p = rate * 100;
  return `${p >= 10 || p === 0 ? Math.round(p) : p.toFixed(1)}%`;
}

function num(n) {
  return n == null ? DASH : Number(n).toLocaleString();
}

function duration(ms) {
  if (ms == null) return DASH;
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function ago(ms) {
  if (!ms) return '';
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function clock(ms) {
  return new Date(ms).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
}

function labelColor(color) {
  if (typeof color === 'string' && /^#[0-9a-f]{3,8}$/i.test(color)) return color;
  if (Number.isInteger(color)) return LABEL_COLORS[color % LABEL_COLORS.length];
  return null;
}

/** Chat ids are phone numbers for WhatsApp users; show them as +62…. */
function phone(id) {
  return /^\d{6,}$/.test(id) ? `+${id}` : id;
}

/** "phase interest · confidence 0.90 · handover no · prompts a1b2c3 · …" */
function turnLine(turn) {
  const parts = [
    `phase ${turn.phase ?? turn.phase_after ?? DASH}`,
    `confidence ${turn.confidence == null ? DASH : Number(turn.confidence).toFixed(2)}`,
    `handover ${turn.handover ? `yes${turn.handover_reason ? ` (${turn.handover_reason})` : ''}` : 'no'}`,
    `prompts ${turn.prompt_version ?? DASH}`,
  ];
  if (turn.intent) parts.push(`intent ${turn.intent}`);
  if (turn.brain) parts.push(`brain ${turn.brain}${turn.fallback ? ` (${turn.fallback})` : ''}`);
  return parts.join(' · ');
}

/** A link only for web addresses: a `javascript:` url from a message stays text. */
function link(url) {
  if (!/^https?:\/\//i.test(url)) return h('span', { class: 'muted' }, url);
  return h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, url);
}

// ------------------------------------------------------------ API

/** Thrown after a 401: the page is on its way to the login form. */
class SignedOut extends Error {}

async function api(method, path, payload) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' } };
  if (payload !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(payload);
  }
  const res = await fetch(path, init);
  if (res.status === 401) {
    // The cookie expired or the token changed: /dashboard shows the login form.
    location.assign('/dashboard');
    throw new SignedOut('signed out');
  }
  if (!res.ok) {
    const detail = await res.json().then((j) => j.error, () => null);
    throw new Error(`${method} ${path}: ${res.status}${detail ? ` ${detail}` : ''}`);
  }
  return res.json();
}

const get = (path) => api('GET', path);
const post = (path, payload) => api('POST', path, payload ?? {});

// ------------------------------------------------------------ sections

// What the last poll brought; the funnel combines two answers.
const latest = { dashboard: null, analytics: null };

function renderFunnel() {
  const d = latest.dashboard;
  const a = latest.analytics;
  if (!d) return;
  show(body('funnel'), { d: { ...d, generated_at_ms: 0 }, c: a?.conversion_metrics }, () => {
    const counts = d.phase_distribution || {};
    const phases = [...PHASES, ...Object.keys(counts).filter((p) => !PHASES.includes(p))];
    const max = Math.max(1, ...phases.map((p) => counts[p] || 0));
    const c = a?.conversion_metrics;
    return [
      h('div', { class: 'tiles' },
        tile(num(d.active_conversations), 'active with the bot', 'active'),
        tile(num(d.escalated_conversations), 'with a human', 'escalated'),
        c && tile(pct(c.conversion_rate), 'leads → paid', 'conversion')),
      h('ul', { class: 'bars' }, phases.map((p) => bar(p, counts[p] || 0, max, { data: { phase: p } }))),
      c && h('dl', { class: 'rates' },
        rate('leads → interest', c.leads_to_interest),
        rate('interest → booking', c.interest_to_booking),
        rate('booking → paid', c.booking_to_paid)),
      c && h('p', { class: 'muted' },
        `All time: ${num(c.total_leads)} leads, ${num(c.reached_interest)} interested, `
        + `${num(c.reached_booking)} booked, ${num(c.paid)} paid.`),
    ];
  });
}

function tile(value, name, figure) {
  return h('div', { class: 'tile', data: figure && { figure } },
    h('span', { class: 'value' }, value),
    h('span', { class: 'name' }, name));
}

function rate(name, value) {
  return h('div', null, h('dt', null, name), h('dd', null, pct(value)));
}

/** One horizontal bar: name, a fill proportional to `max`, the count. */
function bar(name, count, max, { data, color, title } = {}) {
  const width = `${max > 0 ? Math.round((count / max) * 100) : 0}%`;
  return h('li', { class: 'bar', data, title },
    h('span', { class: 'name' }, name),
    h('span', { class: 'track' }, h('span', { class: 'fill', vars: { '--w': width, '--c': color } })),
    h('span', { class: 'count' }, num(count)));
}

function renderHandovers(d) {
  show(body('handovers'), d.pending_handover, (pending) => {
    if (!pending.length) return empty('Nobody is waiting for a human.');
    return h('ul', { class: 'rows' }, pending.map(handoverRow));
  });
}

function handoverRow(p) {
  return h('li', { class: 'row', data: { id: p.id } },
    h('div', { class: 'who' },
      openButton(p.id, p.phone),
      h('span', { class: `badge ${p.phase}` }, p.phase),
      p.interested_package && h('span', { class: 'badge' }, p.interested_package)),
    h('div', { class: 'text' }, p.last_message || DASH),
    p.ai_notes && h('div', { class: 'notes' }, `Bot: ${p.ai_notes}`),
    h('div', { class: 'act' }, actionButton('release', p.id)));
}

function renderConversations(list) {
  // The minute is part of the key so that "5 min ago" moves on.
  const minute = Math.floor(Date.now() / 60000);
  show(body('conversations'), { list, minute }, () => {
    if (!list.length) return empty('No conversations yet.');
    return h('ul', { class: 'rows' }, list.map(conversationRow));
  });
}

function conversationRow(c) {
  return h('li', { class: `row${c.id === openId ? ' selected' : ''}`, data: { id: c.id } },
    h('div', { class: 'who' },
      openButton(c.id),
      h('span', { class: `badge ${c.phase}` }, c.phase),
      c.handed_over && h('span', { class: 'badge human' }, 'human'),
      c.campaign && h('span', { class: 'badge' }, c.campaign),
      c.last_inbound_ms && h('span', { class: 'muted', title: clock(c.last_inbound_ms) }, ago(c.last_inbound_ms))),
    h('div', { class: 'text' }, c.last_message || DASH),
    h('div', { class: 'act' }, actionButton(c.handed_over ? 'release' : 'takeover', c.id)));
}

/** The phone number, as a button that opens the transcript. */
function openButton(id, number) {
  return h('button', { type: 'button', class: 'link', data: { action: 'open', id } }, phone(number || id));
}

function actionButton(action, id) {
  const [label, style] = action === 'release' ? ['Release', 'small release'] : ['Take over', 'small'];
  return h('button', { type: 'button', class: style, data: { action, id } }, label);
}

// The conversation whose transcript is open, if any.
let openId = null;

function renderTranscript(conv) {
  const section = document.getElementById('transcript');
  section.querySelector('.transcript-id').textContent = phone(conv.conversation_id);
  const list = section.querySelector('.body');
  const before = list.querySelector('.chat');
  const atBottom = !before || before.scrollTop + before.clientHeight >= before.scrollHeight - 8;
  show(list, conv, () => {
    const state = conv.state || {};
    const messages = conv.messages.filter(conversational);
    return [
      h('p', { class: 'muted' }, [
        state.phase ?? DASH, state.handed_over ? 'with a human' : 'bot answering', state.package, state.campaign_source,
      ].filter(Boolean).join(' · ')),
      h('div', { class: 'chat' }, messages.length ? messages.map(message) : empty('No messages.')),
    ];
  });
  // Follow new messages, unless the reader scrolled up to read older ones.
  const chat = list.querySelector('.chat');
  if (chat && atBottom) chat.scrollTop = chat.scrollHeight;
}

// Audit records that are plumbing, not conversation: read receipts, typing
// indicators, the timer that closes a burst.
const PLUMBING = new Set(['seen', 'typing', 'turn']);

function conversational(m) {
  return !PLUMBING.has(m.kind);
}

/** One audit record: prospect left, bot right, labels and operator actions as notes. */
function message(m) {
  if (m.direction === 'label') {
    return h('div', { class: 'note' }, `${clock(m.at_ms)} · label ${m.kind}: ${m.text ?? DASH}`);
  }
  if (m.direction === 'control') {
    const detail = [m.kind, m.text, m.route].filter(Boolean).join(' · ');
    return h('div', { class: 'note' }, `${clock(m.at_ms)} · ${detail}`);
  }
  const parts = [
    m.kind !== 'text' && h('span', { class: 'muted' }, `[${m.kind}] `),
    m.text && whatsappText(m.text),
    m.url && [' ', link(m.url)],
    h('span', { class: 'at' }, clock(m.at_ms), m.direction === 'out' && m.status ? ` · ${m.status}` : ''),
  ];
  const bubble = h('div', { class: `msg ${m.direction === 'in' ? 'in' : 'out'}`, title: m.error || null }, parts);
  return m.turn ? [bubble, h('div', { class: 'turn-meta' }, turnLine(m.turn))] : bubble;
}

/** WhatsApp's `*bold*`, as the prospect sees it; everything else stays plain text. */
function whatsappText(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(/(^|[\s(])\*([^*\s](?:[^*\n]*[^*\s])?)\*(?=[\s.,!?:;)]|$)/g)) {
    const start = match.index + match[1].length;
    nodes.push(text.slice(last, start), h('strong', null, match[2]));
    last = start + match[2].length + 2;
  }
  nodes.push(text.slice(last));
  return nodes;
}

async function openTranscript(id) {
  openId = id;
  const section = document.getElementById('transcript');
  section.hidden = false;
  shown.delete(section.querySelector('.body'));
  section.querySelector('.body').replaceChildren(empty('Loading…'));
  markSelected();
  await loadTranscript();
  section.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
}

async function loadTranscript() {
  if (openId) await load(transcriptPath(openId), 'transcript', renderTranscriptOf(openId));
}

function closeTranscript() {
  openId = null;
  const section = document.getElementById('transcript');
  section.hidden = true;
  section.querySelector(':scope > .error')?.remove();
  markSelected();
}

function markSelected() {
  for (const row of document.querySelectorAll('#conversations .row')) {
    row.classList.toggle('selected', row.dataset.id === openId);
  }
}

function renderLabels(labels) {
  show(body('labels'), labels, (list) => {
    if (!list.length) return empty('No WhatsApp labels yet.');
    const max = Math.max(1, ...list.map((l) => l.contacts));
    return h('ul', { class: 'bars' }, list.map((l) => bar(l.name, l.contacts, max, {
      color: labelColor(l.color), title: `${l.name}: ${l.contacts} contacts`, data: { label: l.id },
    })));
  });
}

/** Labels added per day, stacked by label, drawn as inline SVG. */
function renderTrend(trend, labels) {
  const target = document.querySelector('#labels .trend-chart');
  show(target, { trend, labels }, () => {
    const days = trend.labels[0]?.buckets.map((b) => b.key) ?? [];
    if (!days.length) return empty('No label activity yet.');
    const colors = new Map(labels.map((l) => [l.id, labelColor(l.color)]));
    const totals = days.map((_, i) => trend.labels.reduce((sum, l) => sum + (l.buckets[i]?.added || 0), 0));
    const max = Math.max(1, ...totals);
    const [W, H, top, bottom, left] = [320, 110, 12, 16, 4];
    const step = (W - left) / days.length;
    const scale = (H - top - bottom) / max;
    const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `Labels added a day, max ${max}` });
    days.forEach((day, i) => {
      let y = H - bottom;
      for (const l of trend.labels) {
        const added = l.buckets[i]?.added || 0;
        if (!added) continue;
        const height = added * scale;
        y -= height;
        chart.append(svg('rect', {
          x: (left + i * step + 1).toFixed(1), y: y.toFixed(1), width: Math.max(1, step - 2).toFixed(1),
          height: height.toFixed(1), rx: 1.5, fill: colors.get(l.id) || '#9aa3ae',
        }, svg('title', null, `${day} · ${l.name}: ${added}`)));
      }
    });
    chart.append(
      svg('line', { class: 'base', x1: left, x2: W, y1: H - bottom + 0.5, y2: H - bottom + 0.5 }),
      svg('text', { class: 'axis', x: left, y: H - 3 }, days[0].slice(5)),
      svg('text', { class: 'axis', x: W, y: H - 3, 'text-anchor': 'end' }, days[days.length - 1].slice(5)),
      svg('text', { class: 'axis', x: left, y: 9 }, `max ${max}/day`),
    );
    return chart;
  });
}

function renderCampaigns(rows) {
  show(body('campaigns'), rows, (campaigns) => {
    if (!campaigns.length) return empty('No campaign codes seen yet.');
    // Click counts exist only for tracked links: hide the column when none is known.
    const clicks = campaigns.some((c) => c.clicks != null);
    return h('div', { class: 'scroll' }, h('table', null,
      h('thead', null, h('tr', null,
        h('th', null, 'Campaign'), clicks && h('th', { class: 'num' }, 'Clicks'), h('th', { class: 'num' }, 'Chats'),
        h('th', { class: 'num' }, 'Booked'), h('th', { class: 'num' }, 'Paid'), h('th', { class: 'num' }, 'Conv.'))),
      h('tbody', null, campaigns.map((c) => h('tr', null,
        h('td', null, breakable(c.campaign)), clicks && h('td', { class: 'num' }, num(c.clicks)),
        h('td', { class: 'num' }, num(c.conversations)), h('td', { class: 'num' }, num(c.bookings)),
        h('td', { class: 'num' }, num(c.paid)), h('td', { class: 'num' }, pct(c.conversion)))))));
  });
}

/** Campaign codes are long: let them wrap after an underscore rather than anywhere. */
function breakable(code) {
  return code.split('_').flatMap((part, i) => (i ? [h('wbr'), `_${part}`] : [part]));
}

/** Share of a phase's chats that went silent: the bar is the rate, out of 100%. */
function dropOffBar(p) {
  const width = `${Math.round((p.rate || 0) * 100)}%`;
  const fill = h('span', { class: 'fill', vars: { '--w': width, '--c': 'var(--warn)' } });
  return h('li', { class: 'bar', data: { phase: p.phase }, title: `${p.dropped} of ${p.conversations} chats` },
    h('span', { class: 'name' }, p.phase),
    h('span', { class: 'track' }, fill),
    h('span', { class: 'count' }, pct(p.rate)));
}

function renderAi(a) {
  const data = { ai: a.ai_performance, q: a.common_questions, drop: a.drop_off_analysis };
  show(body('ai'), data, ({ ai, q, drop }) => [
    h('div', { class: 'tiles' },
      tile(num(ai.bot_replies), 'bot replies'),
      tile(duration(ai.avg_response_time_ms), 'avg response'),
      tile(num(ai.successful_conversations), 'successful chats'),
      tile(pct(ai.escalation_rate), `escalated (${num(ai.escalated_conversations)})`)),
    h('h3', null, 'What prospects ask'),
    q.length ? h('div', { class: 'scroll' }, h('table', null,
      h('thead', null, h('tr', null, h('th', null, 'Question'), h('th', { class: 'num' }, 'Asked'),
        h('th', { class: 'num' }, 'Bot answered'), h('th', { class: 'num' }, 'Success'))),
      h('tbody', null, q.map((row) => h('tr', { title: row.pattern },
        h('td', null, row.label || row.pattern), h('td', { class: 'num' }, num(row.frequency)),
        h('td', { class: 'num' }, num(row.answered_by_ai)), h('td', { class: 'num' }, pct(row.ai_success_rate)))))))
      : empty('No questions yet.'),
    h('h3', null, `Drop-off (silent ${drop.idle_hours} h or more)`),
    h('p', null, `${num(drop.dropped_total)} dropped · ${pct(drop.drop_off_rate)}`),
    h('ul', { class: 'bars' }, drop.by_phase.map(dropOffBar)),
  ]);
}

// ------------------------------------------------------------ refresh loop

/** Loads one answer and renders it; a failure is shown in that section only. */
async function load(path, sectionId, render) {
  try {
    await render(await get(path));
    document.querySelector(`#${sectionId} > .error`)?.remove();
    return true;
  } catch (err) {
    if (err instanceof SignedOut) throw err;
    const section = document.getElementById(sectionId);
    let note = section.querySelector(':scope > .error');
    if (!note) section.append(note = h('p', { class: 'error' }));
    note.textContent = `Could not load: ${err.message}`;
    return false;
  }
}

async function refreshAll() {
  const results = await Promise.all([
    load('/api/marketing/dashboard', 'handovers', (d) => {
      latest.dashboard = d;
      renderFunnel();
      renderHandovers(d);
    }),
    load('/api/marketing/analytics', 'ai', (a) => {
      latest.analytics = a;
      renderFunnel();
      renderCampaigns(a.campaign_performance);
      renderAi(a);
    }),
    load('/api/conversations?limit=20', 'conversations', (c) => renderConversations(c.conversations)),
    load('/api/labels', 'labels', async (l) => {
      renderLabels(l.labels);
      renderTrend(await get(`/api/labels/trend?days=${TREND_DAYS}&by=day`), l.labels);
    }),
    openId && load(transcriptPath(openId), 'transcript', renderTranscriptOf(openId)),
  ]);
  const ok = results.every((r) => r !== false);
  const stamp = document.getElementById('refreshed');
  stamp.textContent = new Date().toLocaleTimeString();
  stamp.dateTime = new Date().toISOString();
  stamp.parentElement.classList.toggle('stale', !ok);
}

/** Renders a transcript unless another one was opened (or it was closed) meanwhile. */
function renderTranscriptOf(id) {
  return (conv) => {
    if (id === openId) renderTranscript(conv);
  };
}

function transcriptPath(id) {
  return `/api/conversations/${encodeURIComponent(id)}`;
}

// One refresh at a time; a request for another while one runs is kept, not lost.
let running = null;
let again = false;
let timer = 0;

async function refresh() {
  if (running) {
    again = true;
    return running;
  }
  clearTimeout(timer);
  running = (async () => {
    try {
      do {
        again = false;
        await refreshAll();
      } while (again);
    } catch (err) {
      if (!(err instanceof SignedOut)) console.warn('refresh failed', err);
    } finally {
      running = null;
      schedule();
    }
  })();
  return running;
}

// Nobody reads a hidden tab: stop polling until it is visible again.
function schedule() {
  clearTimeout(timer);
  if (!document.hidden) timer = setTimeout(refresh, POLL_MS);
}

// ------------------------------------------------------------ actions

async function takeOver(id) {
  await post('/api/conversations/handover', { conversation_id: id, assigned_to: 'dashboard' });
}

async function release(id) {
  await post(`/api/conversations/${encodeURIComponent(id)}/release`, {});
}

const ACTIONS = {
  takeover: (el) => queued(el, () => takeOver(el.dataset.id)),
  release: (el) => queued(el, () => release(el.dataset.id)),
  open: (el) => openTranscript(el.dataset.id),
  'close-transcript': () => closeTranscript(),
};

/** Runs a queued change, then looks again once the lane had time to apply it. */
async function queued(button, change) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = '…';
  try {
    await change();
  } catch (err) {
    button.disabled = false;
    button.textContent = label;
    throw err;
  }
  // The row is redrawn with its new button once the change shows.
  for (const ms of RECHECK_MS) setTimeout(refresh, ms);
}

function onClick(event) {
  const el = event.target.closest('[data-action]');
  if (!el || !ACTIONS[el.dataset.action]) return;
  event.preventDefault();
  Promise.resolve(ACTIONS[el.dataset.action](el)).catch(report);
}

function report(err) {
  if (err instanceof SignedOut) return;
  const stamp = document.getElementById('refreshed');
  stamp.parentElement.classList.add('stale');
  stamp.textContent = `${stamp.textContent} · ${err.message}`;
  refresh();
}

// ------------------------------------------------------------ playground

function playgroundLog() {
  return document.getElementById('playground-log');
}

function say(...nodes) {
  const log = playgroundLog();
  log.append(...nodes);
  log.scrollTop = log.scrollHeight;
}

async function sendToPlayground(event) {
  event.preventDefault();
  const input = document.getElementById('playground-input');
  const send = document.getElementById('playground-send');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  send.disabled = true;
  say(h('div', { class: 'msg you' }, text));
  const typing = h('div', { class: 'typing' }, 'juru is typing…');
  say(typing);
  try {
    const answer = await post('/api/playground/messages', { text });
    typing.remove();
    showPlaygroundAnswer(answer);
  } catch (err) {
    typing.remove();
    if (!(err instanceof SignedOut)) say(h('div', { class: 'note error' }, err.message));
  } finally {
    send.disabled = false;
    input.focus();
  }
}

/** The bot's replies, then one line saying how it decided (the turn record). */
function showPlaygroundAnswer(answer) {
  const replies = answer.replies || [];
  if (!replies.length) say(h('div', { class: 'note' }, 'No reply (the bot stayed silent).'));
  for (const r of replies) {
    say(h('div', { class: 'msg bot-reply' },
      r.kind !== 'text' && h('span', { class: 'muted' }, `[${r.kind}] `),
      r.text && whatsappText(r.text),
      r.url && [' ', link(r.url)]));
  }
  say(h('div', { class: 'turn-meta' }, answer.turn ? turnLine(answer.turn) : 'no turn record (not a sales turn)'));
}

async function resetPlayground() {
  const button = document.getElementById('playground-reset');
  button.disabled = true;
  try {
    await post('/api/playground/reset', {});
    playgroundLog().replaceChildren(h('div', { class: 'note' }, 'New conversation.'));
  } catch (err) {
    if (!(err instanceof SignedOut)) say(h('div', { class: 'note error' }, err.message));
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------ start

function startDashboard() {
  document.addEventListener('click', onClick);
  document.getElementById('playground-form').addEventListener('submit', sendToPlayground);
  document.getElementById('playground-reset').addEventListener('click', resetPlayground);
  document.addEventListener('visibilitychange', () => (document.hidden ? clearTimeout(timer) : refresh()));
  refresh();
}

// login.html has no script of its own (the CSP forbids inline ones): it shares this file.
function startLogin() {
  if (new URLSearchParams(location.search).get('error')) {
    document.getElementById('login-error').hidden = false;
  }
}

if (document.body.dataset.page === 'login') startLogin();
else startDashboard();
