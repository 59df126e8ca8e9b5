// Parley's chat page: the view. The connection is the project's JavaScript
// client library (client/js/src, which the gateway serves at /parley-client/):
// it picks the transport (WebSocket, else Server-Sent Events, else
// long-polling), reconnects with backoff, rejoins the room from the last seq
// it delivered and hands each message on once, in seq order. This file
// turns its events into DOM and the user's actions into its calls.
// Plain DOM, no framework.
//
// Connection states (shown in #status, data-state; the transport beside it):
//
//   offline --sign in--> connecting --welcome--> connected
//      ^                    |                       |
//      |                 no way in           the transport ended
//   sign out                v                       v
//      +-------------- reconnecting ("reconnecting in N s…") <-+
//
// Resume: the page keeps the room and its transcript in sessionStorage, so a
// reload is a reconnect: it joins with sinceSeq = the last seq it shows and
// gets only what it missed. Messages are keyed by seq here too, so nothing is
// ever shown twice.
//
// User text only ever reaches the DOM through textContent.

import { ParleyClient } from './parley-client/index.js';

// -- settings -----------------------------------------------------------------------

/// Reconnect delays: the first about 300 ms, doubling per failed attempt up
/// to 10 s, each drawn from [d/2, d] so that many pages dropped at once (a
/// gateway restart) do not come back in the same millisecond. The backoff
/// starts over once a connection has stayed up `stable_after_ms`: a server
/// that closes right after the welcome (flood, slow consumer) is not hammered.
const backoff = Object.freeze({ initialMs: 300, maxMs: 10_000, factor: 2, jitter: 0.5 });
const stable_after_ms = 5_000;
/// The rooms list is fetched again when the page sees a room change (a join,
/// a leave, someone coming or going, a reconnect), at most once per this
/// many ms; rooms the page does not see into are looked at every
/// `rooms_fallback_ms` while the page is visible.
const rooms_settle_ms = 300;
const rooms_fallback_ms = 30_000;
/// After the server refused a rooms request as too many, the next comes
/// within this long.
const rooms_retry_ms = 3_000;
/// A first join (after a reload) that failed for a passing reason is tried
/// again after this long. Rejoins after a reconnect are the library's.
const resume_retry_ms = 2_000;
/// Messages from one sender closer than this in time show as one group.
const group_ms = 5 * 60_000;
/// Messages kept on screen, and in sessionStorage for a reload.
const max_shown_messages = 500;
const max_stored_messages = 200;
/// How long an unobtrusive notice stays up.
const notice_ms = 6_000;

const client_name = 'parley-web';
const client_version = '0.2';
/// A sign-in token handed over in the page's fragment (`/#token=...`, as a
/// login service redirects back): never sent to the server in a URL, never
/// stored; sent in hello, whose `sub` is then the user's name.
const page_token = new URLSearchParams(location.hash.slice(1)).get('token');

const key_user = 'parley.user';
const key_room = 'parley.room';
const key_transcript = 'parley.transcript';

/// The transports by the library's names, as the status line says them
/// (the short form on a phone).
const transport_names = {
  websocket: { long: 'WebSocket', short: 'WS' },
  sse: { long: 'Server-Sent Events', short: 'SSE' },
  longpoll: { long: 'long-polling', short: 'polling' },
};

/// Hello refusals: the name or the token, not the network. Back to the form.
const hello_refusals = new Set(['ERROR_CODE_UNAUTHENTICATED', 'ERROR_CODE_INVALID_ARGUMENT',
                                'ERROR_CODE_TOO_LARGE']);
/// Join refusals that trying again would only repeat.
const final_join_codes = new Set(['ERROR_CODE_INVALID_ROOM_NAME', 'ERROR_CODE_REFUSED',
                                  'ERROR_CODE_NAME_IN_USE', 'ERROR_CODE_FORBIDDEN',
                                  'ERROR_CODE_INVALID_ARGUMENT']);

// -- state --------------------------------------------------------------------------

const state = {
  /// The confirmed user name (welcomed at least once), or null: signed out.
  user: null,
  /// A name waiting for its welcome (typed into the login form).
  pendingUser: null,
  /// The name the server gave in its welcome ("~ann" for a guest), or null.
  me: null,
  /// Welcomed at least once on this sign-in: a later connect is a reconnect.
  welcomed: false,
  /// The room the page is in, or wants to be back in after a reconnect.
  room: null,
  /// A room the user picked, whose join is in flight: the view moves there
  /// when it is joined, and stays where it was if it is refused.
  entering: null,
  /// True while the connection is a member of `room`.
  joined: false,
  /// The highest seq shown for `room` (BigInt), or null before the first.
  lastSeq: null,
  /// Who is present in `room` (distinct user names).
  members: new Set(),
  /// offline | connecting | connected | reconnecting
  connection: 'offline',
  /// The library's transport ('websocket' | 'sse' | 'longpoll') once
  /// connected, or the one being tried; null offline.
  transport: null,
  /// Failed attempts in a row (the library's backoff count).
  attempt: 0,
  /// welcome.limits of the current connection.
  limits: {},
};

/// seq (decimal string) -> { msg, el } for the messages on screen, oldest first.
const shown = new Map();

/// The library's client for the signed-in (or signing-in) user, or null.
let client = null;
/// The page's requests waiting for an answer (publishes, leaves, ...).
let inflight = 0;
/// An error the page already told the user about (a rejoin refusal comes
/// as `left` and again as `error`).
let toldError = null;
let resuming = false;
let resumeTimer = 0;
let roomsTimer = 0;
let roomsSoonTimer = 0;
let noticeTimer = 0;
let saveTimer = 0;
let countdownTimer = 0;

// -- elements -----------------------------------------------------------------------

const $ = (id) => {
  const el = document.getElementById(id);
  if (!el)
    throw new Error(`chat page: #${id} is missing from index.html`);
  return el;
};

const ui = {
  status: $('status'),
  statusText: $('status-text'),
  statusCountdown: $('status-countdown'),
  statusTransport: $('status-transport'),
  whoami: $('whoami'),
  userName: $('user-name'),
  signOut: $('sign-out'),
  notice: $('notice'),
  noticeText: $('notice-text'),
  noticeClose: $('notice-close'),
  login: $('login'),
  loginForm: $('login-form'),
  nameInput: $('name-input'),
  nameSubmit: $('name-submit'),
  nameError: $('name-error'),
  app: $('app'),
  roomList: $('room-list'),
  roomsEmpty: $('rooms-empty'),
  refreshRooms: $('refresh-rooms'),
  roomForm: $('room-form'),
  roomInput: $('room-input'),
  joinButton: $('join-button'),
  roomError: $('room-error'),
  roomTitle: $('room-title'),
  leaveButton: $('leave-button'),
  chatEmpty: $('chat-empty'),
  roomView: $('room-view'),
  messages: $('messages'),
  composer: $('composer'),
  messageInput: $('message-input'),
  sendButton: $('send-button'),
  presence: $('presence'),
  members: $('members'),
  memberCount: $('member-count'),
  openRooms: $('open-rooms'),
  openPeople: $('open-people'),
  peopleCount: $('people-count'),
  drawerBackdrop: $('drawer-backdrop'),
};

// -- sessionStorage (may be unavailable or full: the page works without it) ----------

const store = {
  get(key) {
    try {
      return sessionStorage.getItem(key);
    } catch {
      return null;
    }
  },
  set(key, value) {
    try {
      sessionStorage.setItem(key, value);
    } catch {
      // Full or disabled: a reload then shows the server's backlog instead.
    }
  },
  remove(key) {
    try {
      sessionStorage.removeItem(key);
    } catch {
      // ignore
    }
  },
};

/// Writes the transcript soon, once per burst of messages.
function scheduleSave() {
  if (!saveTimer)
    saveTimer = setTimeout(saveTranscript, 250);
}

function saveTranscript() {
  clearTimeout(saveTimer);
  saveTimer = 0;
  if (!state.room || state.lastSeq === null) {
    store.remove(key_transcript);
    return;
  }
  const messages = [...shown.values()].slice(-max_stored_messages).map(({ msg }) => msg);
  store.set(key_transcript, JSON.stringify({
    room: state.room,
    lastSeq: state.lastSeq.toString(),
    messages,
  }));
}

/// The transcript saved for `room` before a reload, or null.
function loadTranscript(room) {
  try {
    const saved = JSON.parse(store.get(key_transcript) ?? 'null');
    if (!saved || saved.room !== room || !isSeq(saved.lastSeq) || !Array.isArray(saved.messages))
      return null;
    return {
      lastSeq: BigInt(saved.lastSeq),
      messages: saved.messages.filter((m) => m && isSeq(m.seq) && typeof m.sender === 'string'),
    };
  } catch {
    return null;
  }
}

const isSeq = (s) => typeof s === 'string' && /^[0-9]{1,20}$/.test(s);


// -- the connection (the library's events) ------------------------------------------

/// Counts a request of the page while it is in flight (parleyChat.state.pending).
async function tracked(promise) {
  inflight += 1;
  try {
    return await promise;
  } finally {
    inflight -= 1;
  }
}

/// A client for `name`, connecting at once; its events reach the view while
/// it is the page's client.
function connect(name) {
  const c = new ParleyClient({
    url: location.origin,
    user: name,
    token: page_token || undefined,
    clientName: client_name,
    clientVersion: client_version,
    backoff,
    stableAfterMs: stable_after_ms,
    // The token goes in hello only: not in /ws?token= nor a session's
    // Authorization header, so no URL and no proxy log ever holds it.
    transportOptions: { token: undefined },
  });
  client = c;
  const on = (event, fn) => c.on(event, (arg) => {
    if (c === client)
      fn(arg, c);
  });
  on('state', onState);
  on('welcome', onWelcome);
  on('joined', onJoined);
  on('message', onMessage);
  on('presence', onPresence);
  on('left', onLeft);
  on('gap', onGap);
  on('reset', onReset);
  on('disconnect', () => {
    state.joined = false;
    updateComposer();
  });
  on('error', onError);
  // It settles on the first welcome, or on close / a refused hello, which
  // the 'state' event reports.
  c.connect().catch(() => {});
}

function onState({ state: s, transport, attempt, delayMs, error }, c) {
  state.attempt = attempt ?? 0;
  switch (s) {
    case 'connecting':
      state.transport = transport ?? null;
      // After a welcome, or a failed round, every try is a reconnect.
      setConnection(state.welcomed || state.attempt > 0 ? 'reconnecting' : 'connecting',
                    transport ? `trying ${transportName(transport).long}` : '');
      break;
    case 'open':
      state.transport = transport ?? c.transport;
      setConnection('connected');
      break;
    case 'reconnecting': {
      state.joined = false;
      const why = error?.reason || error?.message || '';
      setConnection('reconnecting', why, Date.now() + (delayMs ?? 0));
      break;
    }
    case 'closed':
      state.transport = null;
      setConnection('offline');
      if (error && hello_refusals.has(error.code))
        refused(error);
      break;
    default:
      break;
  }
}

/// The server refused the hello for good: back to the form, saying why.
function refused(e) {
  signOut();
  if (e.code === 'ERROR_CODE_UNAUTHENTICATED') // no use retrying: the server wants a (valid) token
    showLoginError(`This server needs you to sign in: ${e.reason}`);
  else // the name was refused: stay offline until the user picks another one
    showLoginError(e.reason || 'That name is not accepted.');
}

function onWelcome(welcome) {
  state.welcomed = true;
  state.limits = welcome?.limits ?? {};
  if (state.pendingUser) {
    state.user = state.pendingUser;
    state.pendingUser = null;
    store.set(key_user, state.user);
  }
  // The name rooms know us by: a guest's carries a "~", a token's is its sub.
  state.me = welcome?.user || state.user;
  showApp();
  refreshRooms();
  resume();
}

/// Joins `state.room` if the library does not hold it yet (after a reload,
/// or a first join that failed): from the last seq shown. After a reconnect
/// the library rejoins by itself.
async function resume() {
  clearTimeout(resumeTimer);
  const c = client;
  const room = state.room;
  if (!c || !room || resuming || state.entering || c.joinedRooms.includes(room))
    return;
  resuming = true;
  try {
    await tracked(c.join(room, state.lastSeq === null ? {} : { sinceSeq: state.lastSeq.toString() }));
    if (c === client && room !== state.room)
      c.leave(room).catch(() => {}); // the user moved on while this was in flight
  } catch (e) {
    if (c !== client || room !== state.room)
      return;
    if (final_join_codes.has(e.code)) {
      // e.g. a look-alike name came into the room while we were away.
      showNotice(`Could not rejoin ${room}: ${e.reason || e.code}`);
      leaveRoomLocally();
    } else if (e.code !== 'CLOSED') {
      setRoomStatus(`Rejoining ${room}…`);
      resumeTimer = setTimeout(resume, resume_retry_ms);
    }
  } finally {
    resuming = false;
  }
}

/// A join answered (the user's, the page's resume or the library's rejoin);
/// its messages follow as 'message' events.
function onJoined({ room, joined }) {
  if (room === state.entering) {
    // The room the user picked: the view moves there now, before its backlog.
    clearRoom();
    state.room = room;
    state.entering = null;
    store.set(key_room, room);
  }
  if (room !== state.room)
    return;
  state.joined = true;
  state.members = new Set(joined?.members ?? []);
  renderMembers();
  markCurrentRoom();
  setRoomStatus('');
  roomsChanged(); // e.g. after a restart: the list shows the room we are back in
}

function onMessage(m) {
  if (m.room !== state.room)
    return; // a late frame from a room we left
  addMessage(m);
}

function onPresence(p) {
  if (p.room !== state.room)
    return;
  state.members = new Set(p.members ?? []);
  renderMembers();
  // Everyone in the room sees this diff: in a room of n people, each asks
  // for the list within n × 100 ms (at most the fallback period), so the
  // directory answers about ten requests a second for the room however big
  // it is, and a small room's list follows at once.
  if (p.joined?.length || p.left?.length)
    roomsChanged(Math.min(rooms_fallback_ms, state.members.size * 100));
}

function onLeft(l) {
  if (l.room !== state.room)
    return;
  state.joined = false;
  updateComposer();
  if (l.rejoining) {
    // A restart or a move keeps the room's seqs: the library joins again
    // from the last seq.
    setRoomStatus(`${l.detail || 'The room restarted'}: rejoining…`);
    return;
  }
  if (l.reason === 'REJOIN_FAILED') {
    toldError = l.error ?? null;
    showNotice(`Could not rejoin ${l.room}: ${l.detail || l.error?.code || 'refused'}`);
  } else {
    showNotice(`You left ${l.room}${l.detail ? `: ${l.detail}` : ''}.`);
  }
  leaveRoomLocally();
}

function onGap({ room }) {
  if (room === state.room)
    addDivider('gap', 'You were away too long: some messages were missed.');
}

/// The room's seq went backwards: the server forgot the room (a gateway on
/// the memory store restarted). What is on screen belongs to the old room,
/// whose seqs the new one reuses: start over.
function onReset({ room }) {
  if (room !== state.room)
    return;
  clearTranscript();
  addDivider('reset', 'The server restarted and this room started over. Earlier messages are gone.');
  scheduleSave();
}

function onError(e, c) {
  // A refused hello closes the client (the 'state' event says so); a
  // refused rejoin came as `left` already. Anything else: a notice.
  queueMicrotask(() => {
    if (c !== client || c.state === 'closed' || e === toldError)
      return;
    showNotice(`Server error: ${e.reason || e.code}`);
  });
}

function transportName(name) {
  return transport_names[name] ?? { long: String(name ?? ''), short: String(name ?? '') };
}

// -- rooms --------------------------------------------------------------------------

/// Fetches the rooms list. `asked`: the person clicked Refresh, so a refusal
/// is worth a notice; a refresh the page started itself just tries again a
/// little later, without covering a notice the person needs (such as "too
/// fast" while they are the one sending too fast).
async function refreshRooms({ asked = false } = {}) {
  const c = client;
  if (!c || state.connection !== 'connected')
    return;
  // aria-busy, not disabled: disabling would take the focus from the button.
  ui.roomList.setAttribute('aria-busy', 'true');
  try {
    const rooms = await c.rooms();
    if (c === client)
      renderRooms(rooms);
  } catch (e) {
    if (e.code === 'ERROR_CODE_RATE_LIMITED') {
      if (asked)
        showNotice('Too many requests: the rooms list will refresh in a moment.');
      roomsChanged(rooms_retry_ms);
    }
  } finally {
    ui.roomList.removeAttribute('aria-busy');
  }
}


/// A room changed that the list shows: fetch the list again soon, once for
/// a burst of changes. `spread_ms` spreads the fetch at random over that
/// long, so that a presence diff in a big room does not make every member
/// ask the directory at once.
function roomsChanged(spread_ms = 0) {
  if (roomsSoonTimer)
    return;
  roomsSoonTimer = setTimeout(() => {
    roomsSoonTimer = 0;
    refreshRooms();
  }, rooms_settle_ms + Math.random() * spread_ms);
}

function renderRooms(rooms) {
  const focused = document.activeElement?.closest?.('[data-room]')?.dataset.room;
  const items = rooms.map((r) => {
    const li = document.createElement('li');
    li.dataset.testid = 'room-item';
    li.dataset.room = r.name;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'room';
    button.dataset.testid = 'room-button';
    const count = r.memberCount ?? 0;
    const name = document.createElement('span');
    name.className = 'room-name';
    name.textContent = r.name;
    const meta = document.createElement('span');
    meta.className = 'room-meta';
    meta.dataset.testid = 'room-members';
    meta.textContent = `${count} here`;
    button.append(name, meta);
    button.setAttribute('aria-label', `${r.name}, ${count} ${count === 1 ? 'person' : 'people'} here`);
    if (r.name === state.room)
      button.setAttribute('aria-current', 'true');
    button.addEventListener('click', () => enterRoom(r.name));
    li.append(button);
    return li;
  });
  ui.roomList.replaceChildren(...items);
  ui.roomsEmpty.hidden = items.length > 0;
  if (focused)
    ui.roomList.querySelector(`[data-room="${CSS.escape(focused)}"] button`)?.focus();
}

function markCurrentRoom() {
  for (const li of ui.roomList.children) {
    const button = li.querySelector('button');
    if (li.dataset.room === state.room)
      button?.setAttribute('aria-current', 'true');
    else
      button?.removeAttribute('aria-current');
  }
}


/// The user picked a room: join it, then leave the one we were in (so a
/// refused name leaves the user where they were).
async function enterRoom(name) {
  hideRoomError();
  if (!name)
    return showRoomError('Type a room name.');
  const c = client;
  if (!c || state.connection !== 'connected')
    return showRoomError('Not connected yet: try again in a moment.');
  if (name === state.room) {
    ui.roomInput.value = '';
    closeDrawer();
    resume(); // already there, or on the way back: resume, do not start over
    return;
  }
  const previous = state.room;
  state.entering = name;
  clearTimeout(resumeTimer);
  ui.joinButton.disabled = true;
  try {
    // Its answer moves the view (onJoined), then its backlog arrives.
    await tracked(c.join(name));
  } catch (e) {
    if (state.entering === name)
      state.entering = null;
    if (c === client)
      showRoomError(joinErrorText(e));
    return;
  } finally {
    ui.joinButton.disabled = false;
  }
  if (c !== client)
    return;
  if (state.room !== name) {
    // The user moved on (or left) while this was in flight: do not stay a member.
    c.leave(name).catch(() => {});
    return;
  }
  if (previous && previous !== name)
    tracked(c.leave(previous)).catch(() => {}); // gone either way
  ui.roomInput.value = '';
  closeDrawer();
  ui.messageInput.focus();
}

function joinErrorText(e) {
  switch (e.code) {
    case 'ERROR_CODE_INVALID_ROOM_NAME':
      return `That room name is not allowed: ${e.reason}`;
    case 'ERROR_CODE_REFUSED':
      return `The room refused you: ${e.reason}`;
    case 'ERROR_CODE_NAME_IN_USE':
      return `Someone in that room has a name like yours: ${e.reason}`;
    case 'ERROR_CODE_RATE_LIMITED':
      return 'Too many requests: wait a moment and try again.';
    case 'ERROR_CODE_UNAVAILABLE':
      return 'The room is not available right now: try again.';
    default:
      return `Could not join: ${e.reason || e.code}`;
  }
}


async function leaveRoom() {
  const room = state.room;
  if (!room)
    return;
  leaveRoomLocally();
  // Not a member any more either way; offline, the library only forgets it.
  await tracked(client?.leave(room)).catch(() => {});
  roomsChanged();
  ui.roomInput.focus();
}

function leaveRoomLocally() {
  clearTimeout(resumeTimer);
  state.entering = null;
  clearRoom();
  store.remove(key_room);
  store.remove(key_transcript);
  renderRoom();
  markCurrentRoom();
}

function clearRoom() {
  state.room = null;
  state.joined = false;
  state.members = new Set();
  clearTranscript();
  renderMembers();
}

function clearTranscript() {
  state.lastSeq = null;
  shown.clear();
  ui.messages.replaceChildren();
}


// -- room traffic -------------------------------------------------------------------


/// Shows `m` once, in seq order, whatever path it came by.
function addMessage(m) {
  if (!isSeq(m.seq))
    return;
  const key = m.seq;
  if (shown.has(key))
    return;
  const seq = BigInt(key);
  const msg = {
    seq: key,
    sender: String(m.sender ?? ''),
    text: String(m.text ?? ''),
    time: m.serverTimeMs ?? m.time ?? null,
    // Bodies are binary payloads for programs; the page notes their size.
    bodyBytes: m.body ? Math.floor((m.body.length * 3) / 4) - (m.body.match(/=+$/)?.[0].length ?? 0)
                      : (m.bodyBytes ?? 0),
  };
  const el = renderMessage(msg);
  const stick = nearBottom();
  // Almost always the newest: append. Otherwise insert before the first later one.
  let before = null;
  if (state.lastSeq !== null && seq < state.lastSeq) {
    for (const [k, entry] of shown)
      if (BigInt(k) > seq) {
        before = entry.el;
        break;
      }
  }
  ui.messages.insertBefore(el, before);
  regroup(el);
  if (el.nextElementSibling)
    regroup(el.nextElementSibling);
  if (before) {
    const entries = [...shown.entries(), [key, { msg, el }]];
    entries.sort(([a], [b]) => (BigInt(a) < BigInt(b) ? -1 : 1));
    shown.clear();
    for (const [k, v] of entries)
      shown.set(k, v);
  } else {
    shown.set(key, { msg, el });
  }
  if (state.lastSeq === null || seq > state.lastSeq)
    state.lastSeq = seq;
  while (shown.size > max_shown_messages) {
    const [oldest, { el: old }] = shown.entries().next().value;
    old.remove();
    shown.delete(oldest);
  }
  // The new first message has nothing before it to continue.
  if (ui.messages.firstElementChild)
    regroup(ui.messages.firstElementChild);
  if (stick)
    ui.messages.scrollTop = ui.messages.scrollHeight;
  scheduleSave();
}

/// Who sent a message, from its sender's first character (no user name can
/// start with these): a room's behaviour, an operator, or a person.
function senderKind(sender) {
  if (sender.startsWith('#'))
    return 'bot';
  if (sender.startsWith('@'))
    return 'operator';
  return 'person';
}

function renderMessage(msg) {
  const li = document.createElement('li');
  const kind = senderKind(msg.sender);
  li.className = 'message';
  if (msg.sender === (state.me ?? state.user))
    li.classList.add('mine');
  if (kind !== 'person')
    li.classList.add(kind);
  li.dataset.testid = 'message';
  li.dataset.seq = msg.seq;
  li.dataset.sender = msg.sender;
  li.dataset.kind = kind;
  if (msg.time && /^-?[0-9]{1,16}$/.test(msg.time))
    li.dataset.time = msg.time;
  const meta = document.createElement('div');
  meta.className = 'meta';
  const sender = document.createElement('span');
  sender.className = 'sender';
  sender.textContent = msg.sender;
  meta.append(sender);
  if (kind !== 'person') {
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.dataset.testid = 'sender-badge';
    badge.textContent = kind === 'bot' ? 'bot' : 'operator';
    meta.append(badge);
  }
  const when = msg.time && /^-?[0-9]{1,16}$/.test(msg.time) ? new Date(Number(msg.time)) : null;
  if (when && !Number.isNaN(when.getTime())) {
    const time = document.createElement('time');
    time.dateTime = when.toISOString();
    time.title = when.toLocaleString();
    time.textContent = when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    meta.append(time);
  }
  const text = document.createElement('p');
  text.className = 'text';
  text.dataset.testid = 'message-text';
  text.textContent = msg.text;
  li.append(meta, text);
  if (msg.bodyBytes > 0) {
    const body = document.createElement('p');
    body.className = 'body';
    body.textContent = `[binary body, ${msg.bodyBytes} bytes]`;
    li.append(body);
  }
  return li;
}

/// Marks `el` as continuing the message before it: same sender, within
/// `group_ms` (the stylesheet then shows the name and time once).
function regroup(el) {
  const prev = el.previousElementSibling;
  const same = prev && el.dataset.testid === 'message' && prev.dataset.testid === 'message'
    && prev.dataset.sender === el.dataset.sender
    && Math.abs(Number(el.dataset.time ?? 0) - Number(prev.dataset.time ?? 0)) < group_ms;
  el.classList.toggle('cont', Boolean(same));
}

function addDivider(kind, text) {
  const li = document.createElement('li');
  li.className = `divider ${kind}`;
  li.dataset.testid = kind;
  li.setAttribute('role', 'separator');
  li.textContent = text;
  ui.messages.append(li);
}

function nearBottom() {
  const m = ui.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
}


async function send() {
  const text = ui.messageInput.value;
  if (!text.trim())
    return;
  const c = client;
  if (!c || !state.joined || state.connection !== 'connected') {
    showNotice('Not connected: your message is kept here; send it again once reconnected.');
    return;
  }
  const max = state.limits.maxTextBytes;
  if (max && new TextEncoder().encode(text).length > max) {
    showNotice(`That message is too long (at most ${max} bytes).`);
    return;
  }
  ui.messageInput.value = '';
  autosize();
  try {
    // The message itself comes back like everyone else's, with its seq. The
    // library retries it once, with the same id, after a drop.
    await tracked(c.publish(state.room, text));
  } catch (e) {
    if (c !== client)
      return;
    if (!ui.messageInput.value) {
      ui.messageInput.value = text;
      autosize();
    }
    switch (e.code) {
      case 'ERROR_CODE_RATE_LIMITED':
        showNotice('You are sending too fast: wait a moment.');
        break;
      case 'LOST':
      case 'TIMEOUT':
        showNotice('The connection dropped: your message may not have been sent.');
        break;
      default:
        showNotice(`Not sent: ${e.reason || e.code}`);
    }
  }
}

// -- rendering ----------------------------------------------------------------------

/// Shows the connection's state, and the transport in use. `reconnectAt`
/// (a Date.now() time) counts down to the next try.
function setConnection(next, detail = '', reconnectAt = 0) {
  state.connection = next;
  ui.status.dataset.state = next;
  document.body.dataset.connection = next; // the stylesheet dims stale parts
  clearInterval(countdownTimer);
  countdownTimer = 0;
  // The countdown is not announced each second (aria-hidden): only the state is.
  const show = () => {
    let text = {
      offline: 'Not connected',
      connecting: 'Connecting…',
      connected: 'Connected',
      reconnecting: 'Reconnecting…',
    }[next];
    let countdown = '';
    if (next === 'reconnecting' && reconnectAt) {
      text = 'Reconnecting';
      countdown = ` in ${Math.max(1, Math.ceil((reconnectAt - Date.now()) / 1000))} s…`;
    }
    if (ui.statusText.textContent !== text)
      ui.statusText.textContent = text;
    if (ui.statusCountdown.textContent !== countdown)
      ui.statusCountdown.textContent = countdown;
  };
  show();
  if (next === 'reconnecting' && reconnectAt)
    countdownTimer = setInterval(show, 250);
  const t = next === 'connected' && state.transport ? transportName(state.transport) : null;
  ui.statusTransport.hidden = !t;
  ui.statusTransport.dataset.transport = t ? state.transport : '';
  ui.statusTransport.textContent = t ? t.long : '';
  ui.statusTransport.dataset.short = t ? t.short : '';
  ui.status.title = t ? `Connected over ${t.long}` : detail;
  updateComposer();
}

function setRoomStatus(text) {
  ui.roomTitle.dataset.status = text;
  renderRoom(text);
}

function renderRoom(status = '') {
  const inRoom = Boolean(state.room);
  ui.roomTitle.textContent = inRoom ? `# ${state.room}` : 'No room';
  if (status) {
    const s = document.createElement('span');
    s.className = 'room-status';
    s.textContent = status;
    ui.roomTitle.append(' ', s);
  }
  ui.roomTitle.dataset.room = state.room ?? '';
  ui.leaveButton.hidden = !inRoom;
  ui.chatEmpty.hidden = inRoom;
  ui.roomView.hidden = !inRoom;
  ui.presence.hidden = !inRoom;
  ui.openPeople.hidden = !inRoom;
  if (!inRoom && document.body.dataset.drawer === 'people')
    closeDrawer();
  updateComposer();
}

// -- drawers (phones: rooms and people slide in over the chat) -------------------------

function openDrawer(which) {
  document.body.dataset.drawer = which;
  ui.openRooms.setAttribute('aria-expanded', String(which === 'rooms'));
  ui.openPeople.setAttribute('aria-expanded', String(which === 'people'));
  const panel = which === 'rooms' ? ui.roomList.closest('aside') : ui.presence;
  panel.querySelector('button, input')?.focus();
}

function closeDrawer() {
  const was = document.body.dataset.drawer;
  if (!was)
    return;
  delete document.body.dataset.drawer;
  ui.openRooms.setAttribute('aria-expanded', 'false');
  ui.openPeople.setAttribute('aria-expanded', 'false');
  (was === 'rooms' ? ui.openRooms : ui.openPeople).focus();
}

function renderMembers() {
  const names = [...state.members].sort((a, b) => a.localeCompare(b));
  ui.members.replaceChildren(...names.map((name) => {
    const li = document.createElement('li');
    li.dataset.testid = 'member';
    li.dataset.user = name;
    li.textContent = name;
    if (name === (state.me ?? state.user)) {
      const you = document.createElement('span');
      you.className = 'you';
      you.textContent = ' (you)';
      li.append(you);
    }
    return li;
  }));
  ui.memberCount.textContent = names.length ? `(${names.length})` : '';
  ui.peopleCount.textContent = names.length ? String(names.length) : '';
}

function updateComposer() {
  const ready = state.connection === 'connected' && state.joined;
  ui.sendButton.disabled = !ready;
  ui.composer.dataset.ready = String(ready);
}

function showApp() {
  ui.login.hidden = true;
  ui.app.hidden = false;
  ui.whoami.hidden = false;
  ui.userName.textContent = state.me ?? state.user ?? '';
  renderRoom();
}

function showLogin() {
  ui.app.hidden = true;
  ui.whoami.hidden = true;
  ui.login.hidden = false;
  ui.nameSubmit.disabled = false;
  ui.nameInput.focus();
}

function showLoginError(text) {
  ui.nameError.textContent = text;
  ui.nameError.hidden = false;
  ui.nameInput.setAttribute('aria-invalid', 'true');
}

function showRoomError(text) {
  ui.roomError.textContent = text;
  ui.roomError.hidden = false;
  ui.roomInput.setAttribute('aria-invalid', 'true');
}

function hideRoomError() {
  ui.roomError.hidden = true;
  ui.roomError.textContent = '';
  ui.roomInput.removeAttribute('aria-invalid');
}

function showNotice(text) {
  ui.noticeText.textContent = text;
  ui.notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(hideNotice, notice_ms);
}

function hideNotice() {
  clearTimeout(noticeTimer);
  ui.notice.hidden = true;
}

function autosize() {
  const t = ui.messageInput;
  t.style.height = 'auto';
  t.style.height = `${t.scrollHeight}px`;
}


// -- sign in and out ----------------------------------------------------------------

function signIn(name) {
  ui.nameError.hidden = true;
  ui.nameInput.removeAttribute('aria-invalid');
  if (!name)
    return showLoginError('Type a name.');
  state.pendingUser = name;
  state.welcomed = false;
  ui.nameSubmit.disabled = true;
  // A client still trying with another name (or none) gives way.
  client?.close();
  client = null;
  connect(name);
}

function signOut() {
  state.user = null;
  state.me = null;
  state.pendingUser = null;
  state.welcomed = false;
  state.transport = null;
  const c = client;
  client = null; // its events stop here
  c?.close();
  setConnection('offline');
  leaveRoomLocally();
  store.remove(key_user);
  showLogin();
}

// -- wiring -------------------------------------------------------------------------

ui.loginForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  signIn(ui.nameInput.value.trim());
});
ui.roomForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  enterRoom(ui.roomInput.value.trim());
});
ui.composer.addEventListener('submit', (ev) => {
  ev.preventDefault();
  send();
});
ui.messageInput.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    ui.composer.requestSubmit();
  }
});
ui.messageInput.addEventListener('input', autosize);
ui.leaveButton.addEventListener('click', () => leaveRoom());
ui.refreshRooms.addEventListener('click', () => refreshRooms({ asked: true }));
ui.signOut.addEventListener('click', () => signOut());
ui.noticeClose.addEventListener('click', hideNotice);
ui.openRooms.addEventListener('click', () => openDrawer('rooms'));
ui.openPeople.addEventListener('click', () => openDrawer('people'));
ui.drawerBackdrop.addEventListener('click', closeDrawer);
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && document.body.dataset.drawer)
    closeDrawer();
});
// The on-screen keyboard shrinks the viewport (interactive-widget in
// index.html): keep the newest message in view if it was.
{
  let stuck = true;
  ui.messages.addEventListener('scroll', () => { stuck = nearBottom(); }, { passive: true });
  const keepBottom = () => {
    if (stuck)
      ui.messages.scrollTop = ui.messages.scrollHeight;
  };
  window.visualViewport?.addEventListener('resize', keepBottom);
  window.addEventListener('resize', keepBottom);
}
ui.roomInput.addEventListener('input', hideRoomError);

// (Back online: the library retries at once by itself.)
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible')
    refreshRooms();
});
window.addEventListener('pagehide', saveTranscript);

function startRoomsRefresh() {
  clearInterval(roomsTimer);
  roomsTimer = setInterval(() => {
    if (document.visibilityState === 'visible')
      refreshRooms();
  }, rooms_fallback_ms);
}

/// For debugging from the console; the page itself never reads it.
window.parleyChat = Object.freeze({
  get state() {
    return {
      user: state.user,
      room: state.room,
      joined: state.joined,
      lastSeq: state.lastSeq?.toString() ?? null,
      members: [...state.members],
      connection: state.connection,
      transport: state.transport,
      attempt: state.attempt,
      pending: inflight,
      shown: shown.size,
    };
  },
  /// Drops the connection as if the network had; it comes back by itself.
  drop: () => client?.reconnect(),
});

// -- start: a reload picks up where the tab was -------------------------------------

(function start() {
  const user = store.get(key_user);
  const room = store.get(key_room);
  startRoomsRefresh();
  if (!user) {
    setConnection('offline');
    showLogin();
    return;
  }
  state.user = user;
  if (room) {
    state.room = room;
    const saved = loadTranscript(room);
    if (saved) {
      for (const m of saved.messages)
        addMessage(m);
      if (state.lastSeq === null || saved.lastSeq > state.lastSeq)
        state.lastSeq = saved.lastSeq;
    }
  }
  showApp();
  connect(user);
})();
