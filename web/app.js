// Parley's chat page: one WebSocket to the gateway that served it, speaking the
// JSON mapping of parley.v1 (docs/protocol.md). Plain DOM, no framework.
// Long (about 1,000 lines) because the page carries its own protocol client
// (refs, reconnect with backoff, resume by seq); that part moves into the
// shared JavaScript client library of the transports issue (issue 14).
//
// Connection states (shown in #status, data-state):
//
//   offline --sign in--> connecting --welcome--> connected
//      ^                    |  ^                    |
//      |                  close |                close / no pong
//   sign out                v   |                   v
//      +------------- reconnecting (backoff with jitter, capped) <-+
//
// Resume: the page remembers the room and the last seq it showed (also in
// sessionStorage, with the transcript, so a reload is a reconnect). After a
// welcome it joins with sinceSeq = that seq and gets only what it missed;
// every message is keyed by seq, so nothing is ever shown twice.
//
// User text only ever reaches the DOM through textContent.

// -- settings -----------------------------------------------------------------------

/// First reconnect delay; doubles per failed attempt up to backoff_cap_ms. Each
/// delay is drawn from [d/2, d] so that many pages dropped at once (a gateway
/// restart) do not come back in the same millisecond.
const backoff_base_ms = 300;
const backoff_cap_ms = 10_000;
/// A connection counts as healthy (the backoff starts over) once it has been
/// welcomed and stayed up this long; a server that closes right after the
/// welcome (flood, slow consumer) is not hammered.
const stable_after_ms = 5_000;
/// A request without an answer after this long has failed.
const request_timeout_ms = 10_000;
/// An application-level ping (browsers cannot see WebSocket pings) finds a
/// connection that died without a close, e.g. behind a NAT that forgot it.
const heartbeat_ms = 20_000;
/// The rooms list is fetched again when the page sees a room change (a join,
/// a leave, someone coming or going, a reconnect), at most once per this
/// many ms; rooms the page does not see into are looked at every
/// `rooms_fallback_ms` while the page is visible.
const rooms_settle_ms = 300;
const rooms_fallback_ms = 30_000;
/// After the server refused a rooms request as too many, the next comes
/// within this long.
const rooms_retry_ms = 3_000;
/// Messages from one sender closer than this in time show as one group.
const group_ms = 5 * 60_000;
/// Messages kept on screen, and in sessionStorage for a reload.
const max_shown_messages = 500;
const max_stored_messages = 200;
/// How long an unobtrusive notice stays up.
const notice_ms = 6_000;

const client_name = 'parley-web';
/// A sign-in token handed over in the page's fragment (`/#token=...`, as a
/// login service redirects back): never sent to the server in a URL, never
/// stored; sent in hello, whose `sub` is then the user's name.
const page_token = new URLSearchParams(location.hash.slice(1)).get('token');
const client_version = '0.1';

const key_user = 'parley.user';
const key_room = 'parley.room';
const key_transcript = 'parley.transcript';

// -- state --------------------------------------------------------------------------

const state = {
  /// The confirmed user name (welcomed at least once), or null: signed out.
  user: null,
  /// A name waiting for its welcome (typed into the login form).
  pendingUser: null,
  /// The name the server gave in its welcome ("~ann" for a guest), or null.
  me: null,
  /// The room the page is in, or wants to be back in after a reconnect.
  room: null,
  /// True while this connection is a member of `room`.
  joined: false,
  /// A join for `room` is in flight on this connection.
  joining: false,
  /// The highest seq shown for `room` (BigInt), or null before the first.
  lastSeq: null,
  /// Who is present in `room` (distinct user names).
  members: new Set(),
  /// offline | connecting | connected | reconnecting
  connection: 'offline',
  /// Failed attempts in a row, for the backoff.
  attempt: 0,
  /// welcome.limits of the current connection.
  limits: {},
};

/// seq (decimal string) -> { msg, el } for the messages on screen, oldest first.
const shown = new Map();

let ws = null; // the current socket; frames from any other are ignored
let welcomed = false;
let refs = 0;
const pending = new Map(); // ref -> { resolve, reject, timer }
let reconnectTimer = 0;
let stableTimer = 0;
let heartbeatTimer = 0;
let roomsTimer = 0;
let roomsSoonTimer = 0;
let rejoinTimer = 0;
let rejoinAttempt = 0;
let noticeTimer = 0;
let saveTimer = 0;

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

// -- requests -----------------------------------------------------------------------

/// A request answered with an error frame, or not answered at all.
class RequestError extends Error {
  constructor(code, reason) {
    super(reason);
    this.code = code; // ERROR_CODE_* from the server, or NOT_CONNECTED / TIMEOUT / LOST
    this.reason = humanReason(reason);
  }
}

/// Some reasons arrive in CAF's rendering of an error,
/// `parley.invalid_room_name("a room name holds only ...")`: show the quoted part.
function humanReason(reason) {
  const m = /^[\w.]+\("(.*)"\)$/s.exec(reason ?? '');
  return m ? m[1].replace(/\\(.)/g, '$1') : (reason ?? '');
}

/// Sends `body` with a fresh ref; resolves to the ack, rejects with a RequestError.
function request(body, { timeoutMs = request_timeout_ms } = {}) {
  const sock = ws;
  if (!sock || sock.readyState !== WebSocket.OPEN)
    return Promise.reject(new RequestError('NOT_CONNECTED', 'not connected'));
  const ref = String(++refs);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(ref);
      reject(new RequestError('TIMEOUT', `no answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    pending.set(ref, { resolve, reject, timer });
    sock.send(JSON.stringify({ ref, ...body }));
  });
}

function failPending(why) {
  for (const { reject, timer } of pending.values()) {
    clearTimeout(timer);
    reject(new RequestError('LOST', why));
  }
  pending.clear();
}

// -- the connection -----------------------------------------------------------------

function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
}

function connect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = 0;
  if (ws || !(state.user || state.pendingUser))
    return;
  setConnection(state.attempt === 0 ? 'connecting' : 'reconnecting');
  let sock;
  try {
    sock = new WebSocket(wsUrl());
  } catch (e) {
    scheduleReconnect(`cannot open a WebSocket: ${e.message}`);
    return;
  }
  ws = sock;
  sock.onopen = () => sock === ws && onOpen(sock);
  sock.onmessage = (ev) => sock === ws && onFrame(ev.data);
  sock.onclose = (ev) => sock === ws && lost(`closed (${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`);
  sock.onerror = () => {}; // a close event follows with the details we have
}

/// Forgets the current socket (it closed, or stopped answering) and, unless
/// signed out, reconnects after a backoff.
function lost(why) {
  const sock = ws;
  ws = null;
  welcomed = false;
  state.joined = false;
  state.joining = false;
  if (sock) {
    sock.onopen = sock.onmessage = sock.onclose = null;
    try {
      sock.close(1000);
    } catch {
      // already closed
    }
  }
  clearTimeout(stableTimer);
  clearInterval(heartbeatTimer);
  clearTimeout(rejoinTimer);
  failPending(why);
  updateComposer();
  if (!(state.user || state.pendingUser)) {
    setConnection('offline');
    return;
  }
  scheduleReconnect(why);
}

function scheduleReconnect(why) {
  const ceiling = Math.min(backoff_cap_ms, backoff_base_ms * 2 ** state.attempt);
  const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  state.attempt += 1;
  setConnection('reconnecting', `${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(connect, delay);
}

async function onOpen(sock) {
  const name = state.pendingUser ?? state.user;
  let ack;
  try {
    const hello = { clientName: client_name, clientVersion: client_version, user: name };
    if (page_token)
      hello.token = page_token;
    ack = await request({ hello });
  } catch (e) {
    if (sock !== ws)
      return;
    if (e.code === 'ERROR_CODE_UNAUTHENTICATED') {
      // No use retrying: the server wants a (valid) token from a login.
      signOut();
      showLoginError(`This server needs you to sign in: ${e.reason}`);
      return;
    }
    if (e.code === 'ERROR_CODE_INVALID_ARGUMENT' || e.code === 'ERROR_CODE_TOO_LARGE') {
      // The name was refused: back to the form, and stay offline until the
      // user picks another one.
      signOut();
      showLoginError(e.reason || 'That name is not accepted.');
      return;
    }
    lost(`hello failed: ${e.reason}`);
    return;
  }
  if (sock !== ws)
    return;
  welcomed = true;
  state.limits = ack.welcome?.limits ?? {};
  if (state.pendingUser) {
    state.user = state.pendingUser;
    state.pendingUser = null;
    store.set(key_user, state.user);
  }
  // The name rooms know us by: a guest's carries a "~", a token's is its sub.
  state.me = ack.welcome?.user || state.user;
  clearTimeout(stableTimer);
  stableTimer = setTimeout(() => { state.attempt = 0; }, stable_after_ms);
  setConnection('connected');
  showApp();
  clearInterval(heartbeatTimer);
  heartbeatTimer = setInterval(heartbeat, heartbeat_ms);
  refreshRooms();
  if (state.room)
    rejoin(sock);
}

async function heartbeat() {
  const sock = ws;
  if (!sock || !welcomed)
    return;
  try {
    await request({ ping: { clientTimeMs: String(Date.now()) } });
  } catch (e) {
    if (sock === ws && e.code === 'TIMEOUT')
      lost('the server stopped answering');
  }
}

function onFrame(data) {
  if (typeof data !== 'string')
    return; // this page speaks JSON only; the server answers in kind
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return;
  }
  if (frame.ref) {
    const p = pending.get(frame.ref);
    if (!p)
      return; // answered after its timeout
    pending.delete(frame.ref);
    clearTimeout(p.timer);
    if (frame.error)
      p.reject(new RequestError(frame.error.code ?? 'ERROR_CODE_UNSPECIFIED', frame.error.reason ?? ''));
    else
      p.resolve(frame.ack ?? {});
    return;
  }
  if (frame.message)
    onMessage(frame.message);
  else if (frame.presence)
    onPresence(frame.presence);
  else if (frame.left)
    onLeft(frame.left);
  else if (frame.error)
    showNotice(`Server error: ${humanReason(frame.error.reason) || frame.error.code}`);
}

// -- rooms --------------------------------------------------------------------------

/// Fetches the rooms list. `asked`: the person clicked Refresh, so a refusal
/// is worth a notice; a refresh the page started itself just tries again a
/// little later, without covering a notice the person needs (such as "too
/// fast" while they are the one sending too fast).
async function refreshRooms({ asked = false } = {}) {
  if (!welcomed)
    return;
  // aria-busy, not disabled: disabling would take the focus from the button.
  ui.roomList.setAttribute('aria-busy', 'true');
  try {
    const ack = await request({ rooms: {} });
    renderRooms(ack.rooms?.rooms ?? []);
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
  if (!welcomed)
    return showRoomError('Not connected yet: try again in a moment.');
  if (name === state.room) {
    ui.roomInput.value = '';
    closeDrawer();
    rejoin(ws); // already there, or on the way back: resume, do not start over
    return;
  }
  const sock = ws;
  const previous = state.joined ? state.room : null;
  ui.joinButton.disabled = true;
  let ack;
  try {
    ack = await request({ join: { room: name } });
  } catch (e) {
    if (sock === ws)
      showRoomError(joinErrorText(e));
    return;
  } finally {
    ui.joinButton.disabled = false;
  }
  if (sock !== ws)
    return; // the connection dropped meanwhile; this join died with it
  if (previous && previous !== name)
    request({ leave: { room: previous } }).catch(() => {}); // gone either way
  clearRoom();
  state.room = name;
  store.set(key_room, name);
  ui.roomInput.value = '';
  applyJoined(ack.joined ?? {}, null);
  closeDrawer();
  ui.messageInput.focus();
  roomsChanged();
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

/// Joins `state.room` again on this connection, asking only for what came
/// after the last seq shown.
async function rejoin(sock) {
  clearTimeout(rejoinTimer);
  if (sock !== ws || !welcomed || !state.room || state.joined || state.joining)
    return;
  const room = state.room;
  const since = state.lastSeq;
  const join = { room };
  if (since !== null)
    join.sinceSeq = since.toString();
  state.joining = true;
  let ack;
  try {
    ack = await request({ join });
  } catch (e) {
    if (sock !== ws || room !== state.room)
      return;
    state.joining = false;
    switch (e.code) {
      case 'ERROR_CODE_INVALID_ROOM_NAME':
      case 'ERROR_CODE_REFUSED':
      case 'ERROR_CODE_NAME_IN_USE': // a look-alike came in while we were away
        showNotice(`Could not rejoin ${room}: ${e.reason}`);
        leaveRoomLocally();
        return;
      case 'ERROR_CODE_ALREADY_MEMBER':
        // An earlier join got through after all (it timed out here): we are
        // in, but its answer is lost. Fetch what came since from the history.
        state.joined = true;
        updateComposer();
        catchUp(sock);
        return;
      case 'ERROR_CODE_INVALID_ARGUMENT':
        if (since !== null && /past the latest seq/.test(e.reason ?? '')) {
          // The room's seq is behind ours: the server forgot the room (a
          // gateway on the memory store restarted). What is on screen
          // belongs to the old room, and the new one reuses its seqs: start
          // over and join afresh.
          clearTranscript();
          state.lastSeq = null;
          addDivider('reset', 'The server restarted and this room started over. Earlier messages are gone.');
          rejoin(sock);
          return;
        }
        showNotice(`Could not rejoin ${room}: ${e.reason}`);
        leaveRoomLocally();
        return;
      case 'LOST':
      case 'NOT_CONNECTED':
        return; // the reconnect rejoins
      default: {
        // Restarting, unavailable, rate limited, timed out: try again soon.
        const ceiling = Math.min(backoff_cap_ms, backoff_base_ms * 2 ** rejoinAttempt++);
        const delay = ceiling / 2 + Math.random() * (ceiling / 2);
        setRoomStatus(`Rejoining ${room}…`);
        rejoinTimer = setTimeout(() => rejoin(sock), delay);
        return;
      }
    }
  }
  state.joining = false;
  if (sock !== ws)
    return;
  if (room !== state.room) {
    // The user moved on while this was in flight: do not stay a member.
    request({ leave: { room } }).catch(() => {});
    return;
  }
  rejoinAttempt = 0;
  applyJoined(ack.joined ?? {}, since);
  roomsChanged(); // e.g. after a restart: the list shows the room we are back in
}

/// Shows a join's answer. `since` is the seq the join resumed from (null for
/// a fresh join).
function applyJoined(joined, since) {
  const seq = BigInt(isSeq(joined.seq) ? joined.seq : '0');
  state.joined = true;
  state.joining = false;
  if (since !== null && seq < since) {
    // The room's seq went backwards: the server forgot the room (rooms live in
    // memory; the gateway restarted). What is on screen belongs to the old
    // room, and the new one's messages reuse its seqs: start over.
    clearTranscript();
    addDivider('reset', 'The server restarted and this room started over. Earlier messages are gone.');
    loadHistory(ws);
  } else if (joined.gap) {
    addDivider('gap', 'You were away too long: some messages were missed.');
  }
  for (const m of joined.messages ?? [])
    addMessage(m);
  if (joined.more && since !== null && joined.messages?.length)
    fillBack(ws, state.room, since, BigInt(joined.messages[0].seq));
  if (state.lastSeq === null || seq > state.lastSeq)
    state.lastSeq = seq;
  state.members = new Set(joined.members ?? []);
  renderMembers();
  markCurrentRoom();
  setRoomStatus('');
  scheduleSave();
}

/// Joined without the join's answer: the messages after the last seq shown,
/// and the member list, from requests that do not need a join.
async function catchUp(sock) {
  const room = state.room;
  const since = state.lastSeq;
  try {
    const history = { room };
    if (since !== null)
      history.afterSeq = since.toString();
    const ack = await request({ history });
    if (sock !== ws || room !== state.room)
      return;
    const messages = ack.history?.messages ?? [];
    // History answers the newest `limit` messages: when more were missed the
    // first one is past since + 1, and the server's gap flag stays false.
    const first = messages.length && isSeq(messages[0].seq) ? BigInt(messages[0].seq) : null;
    if (ack.history?.gap || (since !== null && first !== null && first > since + 1n))
      addDivider('gap', 'You were away too long: some messages were missed.');
    for (const m of messages)
      addMessage(m);
    const presence = await request({ presence: { room } });
    if (sock === ws && room === state.room) {
      state.members = new Set(presence.presence?.members ?? []);
      renderMembers();
    }
  } catch {
    // Live messages still arrive; the next reconnect starts clean.
  }
  renderRoom();
}

/// A resume that missed more than one reply holds: the older messages, page
/// by page (each page is the newest before `before`), back to `since`; at
/// most ten pages, then a divider says that more was missed.
async function fillBack(sock, room, since, before) {
  for (let page = 0; page < 10; ++page) {
    let ack;
    try {
      ack = await request({ history: { room, afterSeq: since.toString(), beforeSeq: before.toString() } });
    } catch {
      return;
    }
    if (sock !== ws || room !== state.room)
      return;
    const messages = ack.history?.messages ?? [];
    for (const m of messages)
      addMessage(m);
    if (!messages.length || !isSeq(messages[0].seq))
      return;
    before = BigInt(messages[0].seq);
    if (before <= since + 1n)
      return;
  }
  addDivider('gap', 'You were away long: older messages are not shown.');
}

/// After a reset: fetch what the new room holds (the join sent nothing past our old seq).
async function loadHistory(sock) {
  try {
    const ack = await request({ history: { room: state.room } });
    if (sock === ws)
      for (const m of ack.history?.messages ?? [])
        addMessage(m);
  } catch {
    // The next live message still shows; nothing more to do.
  }
}

async function leaveRoom() {
  const room = state.room;
  if (!room)
    return;
  leaveRoomLocally();
  if (welcomed)
    await request({ leave: { room } }).catch(() => {}); // not a member any more either way
  roomsChanged();
  ui.roomInput.focus();
}

function leaveRoomLocally() {
  clearTimeout(rejoinTimer);
  clearRoom();
  store.remove(key_room);
  store.remove(key_transcript);
  renderRoom();
  markCurrentRoom();
}

function clearRoom() {
  state.room = null;
  state.joined = false;
  state.joining = false;
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

function onMessage(m) {
  if (m.room !== state.room || !state.joined)
    return; // a late frame from a room we left
  addMessage(m);
}

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

function onPresence(p) {
  if (p.room !== state.room || !state.joined)
    return;
  if (p.members)
    state.members = new Set(p.members);
  for (const u of p.joined ?? [])
    state.members.add(u);
  for (const u of p.left ?? [])
    state.members.delete(u);
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
  state.joining = false;
  updateComposer();
  switch (l.reason) {
    case 'LEFT_REASON_ROOM_RESTARTED':
    case 'LEFT_REASON_ROOM_STOPPED':
    case 'LEFT_REASON_ROOM_MOVED': {
      // Its seq and backlog survive a restart or a move to another node:
      // rejoin from the last seq shown.
      setRoomStatus(`${l.detail || 'The room restarted'}: rejoining…`);
      const sock = ws;
      rejoinTimer = setTimeout(() => rejoin(sock), 100 + Math.random() * 400);
      return;
    }
    default:
      showNotice(`You left ${l.room}${l.detail ? `: ${l.detail}` : ''}.`);
      leaveRoomLocally();
  }
}

async function send() {
  const text = ui.messageInput.value;
  if (!text.trim())
    return;
  if (!state.joined || !welcomed) {
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
    // The message itself comes back like everyone else's, with its seq.
    await request({ publish: { room: state.room, text } });
  } catch (e) {
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

function setConnection(next, detail = '') {
  state.connection = next;
  ui.status.dataset.state = next;
  document.body.dataset.connection = next; // the stylesheet dims stale parts
  const text = {
    offline: 'Not connected',
    connecting: 'Connecting…',
    connected: 'Connected',
    reconnecting: 'Reconnecting…',
  }[next];
  if (ui.statusText.textContent !== text)
    ui.statusText.textContent = text;
  ui.status.title = detail;
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
  const ready = welcomed && state.joined;
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
  ui.nameSubmit.disabled = true;
  state.attempt = 0;
  if (ws && !welcomed)
    return; // the open socket says hello with it
  connect();
}

function signOut() {
  state.user = null;
  state.me = null;
  state.pendingUser = null;
  clearTimeout(reconnectTimer);
  lost('signed out'); // no user: stays offline
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

// Back online: do not wait out the backoff.
window.addEventListener('online', () => {
  if (!ws && (state.user || state.pendingUser))
    connect();
});
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
      attempt: state.attempt,
      pending: pending.size,
      shown: shown.size,
    };
  },
  /// Drops the socket as if the network had; the page reconnects by itself.
  drop: () => ws && lost('dropped from the console'),
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
  connect();
})();
