// The chat page (web/) in a real browser: Debian's Chromium, driven by
// playwright-core, against the real parley-gateway binary that serves the page.
// One browser and one gateway are started once for all the
// scenarios (starting Chromium costs seconds), and they share the proxies.
//
//   PARLEY_GATEWAY_BIN=build/release/gateway/parley-gateway \
//     node --test tests/js/chat_page.test.mjs
//
// Two users, ann and bob, in two browser contexts (separate sessionStorage),
// each reaching the gateway through a small TCP proxy in this process, so the
// test can cut a connection for real (RST on both sides), refuse reconnects
// until it says so, and point the proxies at a restarted gateway. A third
// user, cid, has Playwright route its WebSocket so the test can play a room
// restart (`left` with LEFT_REASON_ROOM_RESTARTED), which nothing outside
// the gateway can cause. A fourth, dan, floods a second gateway that has a
// tight rate limit. Without WebSockets, hal (Server-Sent Events) and ida
// (long-polling: event streams refused too) chat with a user on a WebSocket
// and lose a frame in flight with their connections.
//
// The gateways serve the page from this checkout's web/ (--web-root), so the
// page is tested as edited; the client library it imports (/parley-client/)
// is always the copy compiled into the gateway. Rooms live in memory.
//
// The tests run in order and build on each other (one room, one story).
// Every wait is bounded and ends on something the page shows; there are no
// fixed sleeps. A failure names what was awaited, shows each open page's
// state, saves screenshots and prints every gateway's stderr.
//
// Environment: PARLEY_GATEWAY_BIN (required), PARLEY_CHROMIUM (default
// /usr/bin/chromium), PARLEY_SCREENSHOT_DIR (optional: screenshots of the
// main steps go there).

import assert from 'node:assert/strict';
import { constants as fs_constants } from 'node:fs';
import { createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startGateway } from './gateway.mjs';

// -- settings -----------------------------------------------------------------------

/// What one wait for something on a page may take.
const wait_ms = 10_000;
/// What waiting for a reconnect may take: the page's backoff is capped at 10 s.
const reconnect_ms = 25_000;
/// What one test may take, all waits included.
const test_ms = 60_000;
/// The backlog the gateway keeps: small, so that the long-drop test publishes little.
const backlog = 8;
/// A phone's screen, in CSS pixels.
const phone_screen = { width: 375, height: 740 };
/// The room of this story; its name also checks that ':' and '.' pass.
const room = 'lobby:e2e.1';

const chromium_args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                       '--no-first-run', '--disable-background-networking',
                       '--disable-component-update', '--disable-sync'];

const install_hint = "run 'bash scripts/deps.sh --test'";

// -- what the test needs, or a failure saying how to get it -------------------------

async function needPlaywright() {
  try {
    const mod = await import('playwright-core');
    return mod.chromium ?? mod.default.chromium;
  } catch (e) {
    if (e.code === 'ERR_MODULE_NOT_FOUND')
      throw new Error(`the npm package 'playwright-core' is missing from tests/js/node_modules: ${install_hint} `
                      + '(or npm ci in tests/js)', { cause: e });
    throw e;
  }
}

async function needChromium() {
  const bin = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';
  try {
    await access(bin, fs_constants.X_OK);
  } catch (e) {
    throw new Error(`Chromium is not installed at ${bin}: ${install_hint} `
                    + '(or point PARLEY_CHROMIUM at a Chromium binary)', { cause: e });
  }
  return bin;
}

// -- a TCP proxy whose connections the test can cut ----------------------------------

/// Forwards 127.0.0.1:<port> to the gateway. `cut()` resets every connection
/// and refuses new ones (the browser sees a dead network) until `restore()`;
/// `target` may change between the two (a restarted gateway). `drop()`
/// resets every connection once and lets the next ones through; `loseNext()`
/// does so when the gateway's answer to a request comes, which is lost.
///
/// It also reads the HTTP the browser speaks through it (plain HTTP/1.1, no
/// pipelining): `requests` lists every request line in order, and `open()`
/// the connections alive now with their last request and whether its answer
/// has begun: a long-poll waiting for frames, an event stream being read.
async function startProxy(targetPort) {
  const sockets = new Set();
  const conns = new Set(); // { request, answered }
  let refusing = false;
  let trap = null; // { when, resolve }: see loseNext
  const proxy = { target: targetPort, requests: [] };
  const reset = (s) => (s.resetAndDestroy ? s.resetAndDestroy() : s.destroy());
  const server = net.createServer((client) => {
    client.on('error', () => {});
    if (refusing) {
      reset(client);
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: proxy.target });
    upstream.on('error', () => {});
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    const conn = { request: null, answered: false };
    conns.add(conn);
    client.on('data', (chunk) => {
      const line = /^(GET|POST|DELETE|PUT|HEAD|OPTIONS) (\S+) HTTP\/1\.[01]\r\n/.exec(chunk.toString('latin1'));
      if (line) {
        conn.request = `${line[1]} ${line[2]}`;
        conn.answered = false;
        proxy.requests.push(conn.request);
      }
    });
    upstream.on('data', (chunk) => {
      const starts = chunk.toString('latin1', 0, 9) === 'HTTP/1.1 ';
      if (trap && trap.when({ ...conn, starts, text: chunk.toString('utf8') })) {
        // Lost in flight: this chunk never reaches the browser, and every
        // connection is reset.
        const fired = trap;
        trap = null;
        fired.resolve({ request: conn.request, open: proxy.open(), at: proxy.requests.length });
        for (const s of sockets)
          reset(s);
        return;
      }
      if (conn.request && starts)
        conn.answered = true;
      client.write(chunk);
    });
    client.on('close', () => {
      conns.delete(conn);
      upstream.destroy();
    });
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  Object.assign(proxy, {
    port: server.address().port,
    cut() {
      refusing = true;
      for (const s of sockets)
        reset(s);
    },
    restore() {
      refusing = false;
    },
    drop() {
      const was = proxy.open();
      for (const s of sockets)
        reset(s);
      return was;
    },
    open: () => [...conns].map((c) => ({ ...c })),
    /// The next chunk from the gateway for which `when({ request, answered,
    /// starts, text })` holds is dropped and every connection reset, once;
    /// resolves with the request it answered, what was open then, and
    /// `at`, the index in `requests` of the first request after it.
    loseNext(when) {
      return new Promise((resolve) => { trap = { when, resolve }; });
    },
    async close() {
      proxy.cut();
      server.close();
      await once(server, 'close');
    },
  });
  return proxy;
}

// -- the story's shared state --------------------------------------------------------

let gw; // the gateway (tests/js/gateway.mjs)
let limited; // a second gateway with a tight rate limit, for one test
const stderrs = []; // every gateway's stderr, in start order
const proxies = {}; // name -> proxy
let browser;
const pages = {}; // name -> { page, errors[], sent[] (the JSON frames it sent) }
const page_errors = {}; // name -> errors[], kept after a page is closed
let shotDir = process.env.PARLEY_SCREENSHOT_DIR || null;

/// Runs a test body; on failure adds both pages' state, screenshots and the
/// gateway's stderr to the error.
function story(fn) {
  return async () => {
    try {
      await fn();
    } catch (e) {
      let extra = '';
      for (const [name, { page }] of Object.entries(pages))
        extra += `\n--- ${name}'s page ---\n${await pageState(page)}`;
      try {
        const dir = await mkdtemp(path.join(os.tmpdir(), 'parley-chat-page-'));
        for (const [name, { page }] of Object.entries(pages))
          await page.screenshot({ path: path.join(dir, `${name}.png`), timeout: 5_000 });
        extra += `\n--- screenshots in ${dir} ---`;
      } catch {
        // a page that cannot be drawn: the state above has to do
      }
      stderrs.forEach((err, i) => { extra += `\n--- parley-gateway #${i + 1} stderr ---\n${err()}`; });
      if (!stderrs.length)
        extra += '\n--- parley-gateway did not start ---';
      e.message += extra;
      if (typeof e.stack === 'string')
        e.stack += extra;
      throw e;
    }
  };
}

/// What a page shows, in a few lines, for a failure message.
async function pageState(page) {
  try {
    return await page.evaluate(() => {
      const q = (sel) => [...document.querySelectorAll(sel)];
      const status = document.querySelector('[data-testid=status]');
      return [
        `url: ${location.href}`,
        `status: ${status?.dataset.state} (${status?.title})`,
        `state: ${JSON.stringify(window.parleyChat?.state)}`,
        `rooms: ${q('[data-testid=room-item]').map((e) => `${e.dataset.room} (${e.querySelector('[data-testid=room-members]')?.textContent})`).join(' | ')}`,
        `members: ${q('[data-testid=member]').map((e) => e.dataset.user).join(', ')}`,
        `messages: ${q('[data-testid=message]').map((e) => `#${e.dataset.seq} ${e.dataset.sender}: ${e.querySelector('[data-testid=message-text]')?.textContent}`).join(' | ')}`,
        `dividers: ${q('#messages .divider').map((e) => e.textContent).join(' | ')}`,
        `notice: ${document.querySelector('[data-testid=notice]')?.hidden ? '-' : document.querySelector('[data-testid=notice-text]')?.textContent}`,
      ].join('\n');
    });
  } catch (e) {
    return `(could not read the page: ${e.message})`;
  }
}

/// Waits for `fn(arg)` to be truthy in the page; `what` names it in the failure.
async function until(page, what, fn, arg, timeout = wait_ms) {
  try {
    return await (await page.waitForFunction(fn, arg, { timeout, polling: 'raf' })).jsonValue();
  } catch (e) {
    throw new Error(`waited ${timeout} ms for ${what}: ${e.message.split('\n')[0]}`);
  }
}

async function shot(name) {
  if (!shotDir)
    return;
  await mkdir(shotDir, { recursive: true });
  for (const [user, { page }] of Object.entries(pages))
    await page.screenshot({ path: path.join(shotDir, `${name}-${user}.png`) });
}

// -- what a user does and sees -------------------------------------------------------

/// Opens the page for `name` in a fresh context. With `route`, the page's
/// WebSocket passes through Playwright, and the returned `inject` object
/// sends frames of the test's own to the page (`toPage`) or the gateway
/// (`toServer`, whose answer the page never sees).
async function openPage(name, baseUrl, { route = false, hash = '', tls = false, phone = false, noWebSocket = false,
                                         setup = null } = {}) {
  // tls: the gateway's certificate is from a private authority made for the
  // test, which this browser does not know. phone: a 375 x 740 touch screen,
  // without motion, so that a drawer is where it ends up when it is measured
  // (the stylesheet drops its slide under prefers-reduced-motion).
  const screen = phone ? { viewport: phone_screen, isMobile: true, hasTouch: true, deviceScaleFactor: 2,
                           reducedMotion: 'reduce' }
                       : { viewport: { width: 1100, height: 720 } };
  const context = await browser.newContext({ ...screen, ignoreHTTPSErrors: tls });
  context.setDefaultTimeout(wait_ms);
  if (noWebSocket) {
    // A browser behind a proxy that lets no WebSocket through, as far as the
    // page can tell: there is no WebSocket at all.
    await context.addInitScript(() => { delete window.WebSocket; });
  }
  await setup?.(context);
  const sent = [];
  const inject = {};
  if (route) {
    await context.routeWebSocket(/\/ws$/, (ws) => {
      const server = ws.connectToServer();
      const ours = new Set();
      ws.onMessage((m) => {
        sent.push(parseFrame(m));
        server.send(m);
      });
      server.onMessage((m) => {
        if (!ours.delete(parseFrame(m)?.ref))
          ws.send(m);
      });
      inject.toPage = (frame) => ws.send(JSON.stringify(frame));
      inject.toServer = (frame) => {
        ours.add(frame.ref);
        server.send(JSON.stringify(frame));
      };
    });
  }
  const page = await context.newPage();
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  if (!route)
    page.on('websocket', (ws) => ws.on('framesent', ({ payload }) => sent.push(parseFrame(payload))));
  const errors = [];
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    // Failed WebSocket connects while the proxy refuses are expected; script
    // errors and CSP refusals are not.
    if (m.type() === 'error' && /Content Security Policy|Uncaught|TypeError|ReferenceError/.test(m.text()))
      errors.push(`console: ${m.text()}`);
  });
  const response = await page.goto(`${baseUrl}/${hash}`);
  assert.equal(response.status(), 200, `GET / for ${name}`);
  pages[name] = { page, errors, sent, inject, sockets };
  page_errors[name] = errors;
  return page;
}

function parseFrame(payload) {
  try {
    return JSON.parse(typeof payload === 'string' ? payload : payload.toString());
  } catch {
    return null;
  }
}

/// The joins `name`'s page sent for `room` since `mark` (an index into sent).
function joinsSent(name, room, mark = 0) {
  return pages[name].sent.slice(mark).filter((f) => f?.join?.room === room).map((f) => f.join);
}

/// The highest seq a page shows.
async function lastSeq(page) {
  const seqs = (await shown(page)).map((m) => BigInt(m.seq));
  return seqs.reduce((a, b) => (b > a ? b : a), 0n).toString();
}

function status(page, state, timeout = wait_ms) {
  return until(page, `the status to be '${state}'`,
               (s) => document.querySelector('[data-testid=status]')?.dataset.state === s, state, timeout);
}

const transport_labels = { websocket: 'WebSocket', sse: 'Server-Sent Events', longpoll: 'long-polling' };

/// Waits until the status line says the page is connected over `transport`
/// ('websocket', 'sse', 'longpoll'), in words.
function onTransport(page, transport) {
  return until(page, `the status to show the transport '${transport_labels[transport]}'`, ([t, label]) => {
    const status = document.querySelector('[data-testid=status]');
    const el = document.querySelector('[data-testid=transport]');
    return status?.dataset.state === 'connected' && el && !el.hidden && el.dataset.transport === t
      && el.textContent === label && status.textContent.includes(label);
  }, [transport, transport_labels[transport]]);
}

async function signIn(page, name) {
  await page.getByTestId('name-input').fill(name);
  await page.getByTestId('name-input').press('Enter');
  await status(page, 'connected');
  await until(page, `the page to greet ${guestName(name)}`,
              (n) => document.querySelector('[data-testid=user-name]')?.textContent === n,
              guestName(name));
}

/// Waits until the page is in `name` and its connection is a member.
function inRoom(page, name, timeout = wait_ms) {
  return until(page, `the page to be in room '${name}'`, (n) => {
    const title = document.querySelector('[data-testid=room-title]');
    const composer = document.querySelector('[data-testid=composer]');
    return title?.dataset.room === n && composer?.dataset.ready === 'true';
  }, name, timeout);
}

/// Sends `text` (Enter, or the Send button) and waits until the page shows it
/// back from the server; resolves to its seq.
async function say(page, text, { click = false } = {}) {
  await page.getByTestId('message-input').fill(text);
  if (click)
    await page.getByTestId('send-button').click();
  else
    await page.getByTestId('message-input').press('Enter');
  return seen(page, text);
}

/// Waits until a message with `text` is shown; resolves to its seq.
function seen(page, text, timeout = wait_ms) {
  return until(page, `the message '${text}'`, (t) => {
    const el = [...document.querySelectorAll('[data-testid=message]')]
      .find((m) => m.querySelector('[data-testid=message-text]')?.textContent === t);
    return el?.dataset.seq ?? false;
  }, text, timeout);
}

/// The messages shown, as [{ seq, sender, text }], in DOM order.
function shown(page) {
  return page.$$eval('[data-testid=message]', (els) => els.map((e) => ({
    seq: e.dataset.seq,
    sender: e.dataset.sender,
    text: e.querySelector('[data-testid=message-text]')?.textContent,
  })));
}

/// Asserts that every seq is shown once, in increasing order.
function assertOnceInOrder(messages, who) {
  const seqs = messages.map((m) => BigInt(m.seq));
  const dupes = seqs.filter((s, i) => seqs.indexOf(s) !== i);
  assert.deepEqual(dupes, [], `${who} shows these seqs more than once: ${dupes.join(', ')}`);
  for (let i = 1; i < seqs.length; ++i)
    assert.ok(seqs[i - 1] < seqs[i], `${who} shows #${seqs[i - 1]} before #${seqs[i]}`);
}

function countOf(messages, text) {
  return messages.filter((m) => m.text === text).length;
}

/// The name rooms show for a user who signed in as `name`: the gateway runs
/// with its default --auth=guests, so a user without a token is "~name".
const guestName = (name) => `~${name}`;

function members(page, expected) {
  const want = expected.map(guestName).sort();
  return until(page, `members to be [${want.join(', ')}]`, (w) => {
    const got = [...document.querySelectorAll('[data-testid=member]')].map((e) => e.dataset.user).sort();
    return JSON.stringify(got) === JSON.stringify(w);
  }, want);
}

function roomListed(page, name, count) {
  return until(page, `the rooms list to show '${name}' with ${count} here`, ([n, c]) => {
    const item = [...document.querySelectorAll('[data-testid=room-item]')].find((e) => e.dataset.room === n);
    return item?.querySelector('[data-testid=room-members]')?.textContent === `${c} here`;
  }, [name, count]);
}

// -- the story -----------------------------------------------------------------------

/// The page under test: web/ of this checkout, read from disk (--web-root),
/// so an edit of the page is tested without rebuilding the gateway. The
/// client library it imports (/parley-client/) is the gateway's compiled-in
/// copy either way.
const web_root = fileURLToPath(new URL('../../web', import.meta.url));

/// A gateway of its own for a test: rooms in memory (no data folder shared
/// between gateways, and a restart forgets the rooms), the page from web_root.
async function newGateway(args = []) {
  const g = await startGateway(['--store=memory', `--web-root=${web_root}`, `--backlog=${backlog}`, ...args]);
  stderrs.push(g.stderr);
  return g;
}

describe('the chat page in Chromium', { timeout: 12 * test_ms }, () => {
  let ann;
  let bob;
  let cid;

  before(async () => {
    const chromium = await needPlaywright();
    const executablePath = await needChromium();
    gw = await newGateway();
    proxies.ann = await startProxy(gw.port);
    proxies.bob = await startProxy(gw.port);
    browser = await chromium.launch({ executablePath, args: chromium_args, timeout: 30_000 });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    for (const p of Object.values(proxies))
      await p.close().catch(() => {});
    await limited?.stop();
    const result = await gw?.stop();
    // A sanitizer report or a hung drain ends the run red, with the log.
    if (result && (result.code !== 0 || result.timedOut))
      throw new Error(`parley-gateway ended with ${JSON.stringify(result)}\n${gw.stderr()}`);
  });

  test('the gateway serves the page, which asks for a name', { timeout: test_ms }, story(async () => {
    const res = await fetch(`${gw.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/html/);
    for (const file of ['app.js', 'style.css', 'favicon.svg'])
      assert.equal((await fetch(`${gw.url}/${file}`)).status, 200, `GET /${file}`);

    ann = await openPage('ann', `http://127.0.0.1:${proxies.ann.port}`);
    await ann.getByTestId('name-input').waitFor({ state: 'visible' });
    assert.equal(await ann.title(), 'Parley chat');
    assert.equal(await ann.getByTestId('status').getAttribute('data-state'), 'offline');
    // Labels name the controls (what a screen reader announces).
    assert.equal(await ann.getByLabel('Your name').getAttribute('id'), 'name-input');
    await shot('1-login');
  }));

  test('a refused name and a refused room name show the server\'s reason', { timeout: test_ms },
       story(async () => {
    await ann.getByTestId('name-input').fill('ann!');
    await ann.getByTestId('name-input').press('Enter');
    await ann.getByTestId('name-error').waitFor({ state: 'visible' });
    assert.match(await ann.getByTestId('name-error').textContent(), /letters, digits/);

    await signIn(ann, 'ann');
    await ann.getByTestId('room-input').fill('no spaces here');
    await ann.getByTestId('room-input').press('Enter');
    await ann.getByTestId('room-error').waitFor({ state: 'visible' });
    const reason = await ann.getByTestId('room-error').textContent();
    assert.match(reason, /room name holds letters, digits/);
    assert.doesNotMatch(reason, /parley\.invalid_room_name\(/, 'CAF\'s rendering is unwrapped');
    assert.equal(await ann.getByTestId('room-title').getAttribute('data-room'), '');
  }));

  test('two users join one room and see each other, their messages and the rooms list',
       { timeout: test_ms }, story(async () => {
    await ann.getByTestId('room-input').fill(room);
    await ann.getByTestId('room-input').press('Enter');
    await inRoom(ann, room);
    await members(ann, ['ann']);

    bob = await openPage('bob', `http://127.0.0.1:${proxies.bob.port}`);
    await signIn(bob, 'bob');
    await roomListed(bob, room, 1); // listed when bob arrived
    await bob.locator(`[data-testid=room-item][data-room="${room}"] button`).click();
    await inRoom(bob, room);
    await members(bob, ['ann', 'bob']);
    await members(ann, ['ann', 'bob']); // a presence diff

    const s1 = await say(ann, 'hello bob <b>not bold</b>'); // Enter sends
    assert.equal(await seen(bob, 'hello bob <b>not bold</b>'), s1);
    assert.equal(await bob.locator('#messages b').count(), 0, 'user text is never parsed as HTML');
    const s2 = await say(bob, 'hi ann', { click: true });
    assert.equal(await seen(ann, 'hi ann'), s2);
    assert.ok(BigInt(s2) > BigInt(s1));

    // The list follows the change without a click or a long timer: bob's
    // arrival was a presence diff for ann's room.
    await roomListed(ann, room, 2);
    // Both are on a WebSocket, and say so.
    await onTransport(ann, 'websocket');
    await onTransport(bob, 'websocket');
    await shot('2-chatting');
  }));

  test('a reload rejoins the room and shows every message once', { timeout: test_ms },
       story(async () => {
    const before_reload = await shown(ann);
    assert.ok(before_reload.length >= 2);
    const since = await lastSeq(ann);
    const mark = pages.ann.sent.length;
    await ann.reload();
    await status(ann, 'connected');
    await inRoom(ann, room);
    assert.deepEqual(joinsSent('ann', room, mark), [{ room, sinceSeq: since }],
                     'after a reload the page resumes from the last seq it showed');
    const after_reload = await shown(ann);
    assertOnceInOrder(after_reload, 'ann after a reload');
    assert.deepEqual(after_reload, before_reload, 'the same messages, each once');

    const seq = await say(bob, 'after your reload');
    assert.equal(await seen(ann, 'after your reload'), seq);
    const now = await shown(ann);
    assertOnceInOrder(now, 'ann');
    assert.equal(countOf(now, 'after your reload'), 1);
    await members(ann, ['ann', 'bob']);
  }));

  test('a dropped connection reconnects and shows what was missed, once', { timeout: test_ms },
       story(async () => {
    const since = await lastSeq(ann);
    const mark = pages.ann.sent.length;
    proxies.ann.cut();
    await status(ann, 'reconnecting');
    // While it waits to try again the page counts down to it, and says no transport.
    const countdown = await until(ann, 'the status to count down to the next try', () => {
      const text = document.querySelector('[data-testid=status]')?.textContent ?? '';
      return /^Reconnecting in \d+ s…$/.test(text) && document.querySelector('[data-testid=transport]').hidden
        && text;
    }, undefined, reconnect_ms);
    assert.ok(Number(/\d+/.exec(countdown)[0]) <= 10, `the backoff is capped at 10 s: '${countdown}'`);
    await members(bob, ['bob']); // the gateway saw ann go

    const missed = ['while you were away 1', 'while you were away 2', 'while you were away 3'];
    for (const text of missed)
      await say(bob, text);
    const meanwhile = await shown(ann);
    for (const text of missed)
      assert.equal(countOf(meanwhile, text), 0, `ann cannot have '${text}' yet`);
    await shot('3-reconnecting');

    proxies.ann.restore();
    await status(ann, 'connected', reconnect_ms);
    await inRoom(ann, room);
    for (const text of missed)
      await seen(ann, text);
    assert.deepEqual(joinsSent('ann', room, mark), [{ room, sinceSeq: since }],
                     'the page rejoins once, from the last seq it showed');
    await members(ann, ['ann', 'bob']);
    await members(bob, ['ann', 'bob']);

    const back = await say(ann, 'back again');
    assert.equal(await seen(bob, 'back again'), back);
    const now = await shown(ann);
    assertOnceInOrder(now, 'ann after reconnecting');
    for (const text of [...missed, 'back again'])
      assert.equal(countOf(now, text), 1, `'${text}' is shown once`);
    assert.equal(await ann.getByTestId('gap').count(), 0, 'nothing was lost: no gap');
  }));

  test('a drop longer than the backlog loses nothing: the rest comes from the history store',
       { timeout: test_ms }, story(async () => {
    proxies.ann.cut();
    await status(ann, 'reconnecting');
    const texts = Array.from({ length: backlog + 3 }, (_, i) => `burst ${i + 1}`);
    for (const text of texts) {
      await bob.getByTestId('message-input').fill(text);
      await bob.getByTestId('message-input').press('Enter');
    }
    await seen(bob, texts.at(-1));

    proxies.ann.restore();
    await status(ann, 'connected', reconnect_ms);
    await seen(ann, texts.at(-1));
    const now = await shown(ann);
    assertOnceInOrder(now, 'ann after a long drop');
    // The room's memory holds the last `backlog` messages; the 3 before
    // them come from the store with the rest of the resume.
    for (const text of texts)
      assert.equal(countOf(now, text), 1, `'${text}' is shown once`);
    assert.equal(await ann.getByTestId('gap').count(), 0, 'nothing was lost: no gap');
    await shot('4-long-drop');
  }));

  test('sending too fast shows an unobtrusive notice and keeps the connection',
       { timeout: test_ms }, story(async () => {
    // Its own gateway: a burst of 10 requests and one more every 10 s, so the
    // outcome does not depend on how fast the machine is.
    const burst = 10;
    limited = await newGateway([`--rate-burst=${burst}`, '--rate-limit=0.1']);
    const dan = await openPage('dan', limited.url);
    await signIn(dan, 'dan');
    await dan.getByTestId('room-input').fill('quiet');
    await dan.getByTestId('room-input').press('Enter');
    await inRoom(dan, 'quiet');
    const n = burst + 5;
    // Submitted through the page's own form, faster than a person could.
    await dan.evaluate((count) => {
      const input = document.querySelector('[data-testid=message-input]');
      const form = document.querySelector('[data-testid=composer]');
      for (let i = 1; i <= count; ++i) {
        input.value = `flood ${i}`;
        form.requestSubmit();
      }
    }, n);
    await dan.getByTestId('notice').waitFor({ state: 'visible' });
    assert.match(await dan.getByTestId('notice-text').textContent(), /too fast/);
    await until(dan, 'every publish of the flood to be answered',
                () => window.parleyChat.state.pending === 0);
    assert.equal(await dan.getByTestId('status').getAttribute('data-state'), 'connected');
    // A refused text goes back into the box instead of being lost.
    assert.match(await dan.getByTestId('message-input').inputValue(), /^flood \d+$/);
    const got = await shown(dan);
    assertOnceInOrder(got, 'dan');
    const accepted = got.filter((m) => m.text.startsWith('flood ')).length;
    assert.ok(accepted > 0 && accepted < n, `${accepted} of ${n} accepted: some, not all`);
    await dan.context().close();
    delete pages.dan;
    assert.equal((await limited.stop()).code, 0, 'the rate-limited gateway exits cleanly');
    limited = null;
  }));

  test('a newcomer gets the backlog once, in order', { timeout: test_ms }, story(async () => {
    cid = await openPage('cid', gw.url, { route: true });
    await signIn(cid, 'cid');
    await roomListed(cid, room, 2);
    await cid.getByTestId('room-input').fill(room); // typed, not clicked: the same room
    await cid.getByTestId('room-input').press('Enter');
    await inRoom(cid, room);
    await members(cid, ['ann', 'bob', 'cid']);
    const got = await shown(cid);
    assertOnceInOrder(got, 'cid');
    assert.equal(got.length, backlog, `the room's backlog of ${backlog}`);
    assert.equal(got.at(-1).seq, await lastSeq(bob));
    assert.deepEqual(joinsSent('cid', room), [{ room }], 'a first join asks for the backlog');
  }));

  test('a room restart (left: ROOM_RESTARTED) rejoins from the last seq, nothing twice',
       { timeout: test_ms }, story(async () => {
    const since = await lastSeq(cid);
    const mark = pages.cid.sent.length;
    // What a restarted room does: the member is gone on the server and its
    // connection gets `left`. The test plays both halves.
    pages.cid.inject.toServer({ ref: 'test-leave', leave: { room } });
    await members(bob, ['ann', 'bob']);
    pages.cid.inject.toPage({ left: { room, reason: 'LEFT_REASON_ROOM_RESTARTED',
                                      detail: 'the room restarted: join again with sinceSeq' } });
    const during = await say(bob, 'while the room restarted');
    await members(bob, ['ann', 'bob', 'cid']);
    assert.equal(await seen(cid, 'while the room restarted'), during);
    assert.deepEqual(joinsSent('cid', room, mark), [{ room, sinceSeq: since }]);
    // A message delivered twice (say, live and again in a resume's answer) is
    // still shown once: the page keys messages by seq. Frames reach the page
    // in order, so once bob's next message shows, the replay has been handled.
    pages.cid.inject.toPage({ message: { room, seq: during, sender: 'bob',
                                         text: 'while the room restarted' } });
    const next = await say(bob, 'after the replay');
    assert.equal(await seen(cid, 'after the replay'), next);
    const got = await shown(cid);
    assertOnceInOrder(got, 'cid after the room restarted');
    assert.equal(countOf(got, 'while the room restarted'), 1);
    await inRoom(cid, room);
    await cid.context().close();
    delete pages.cid;
    await members(bob, ['ann', 'bob']);
  }));

  test('leaving the room updates presence, and the room stays listed', { timeout: test_ms },
       story(async () => {
    await ann.getByTestId('leave-button').click();
    await ann.getByTestId('chat-empty').waitFor({ state: 'visible' });
    await members(bob, ['bob']);
    await roomListed(ann, room, 1);
    // After leaving, a reload does not bring ann back into the room.
    await ann.reload();
    await status(ann, 'connected');
    assert.equal(await ann.getByTestId('room-title').getAttribute('data-room'), '');
  }));

  test('a restarted gateway: both pages come back, and the old seqs do not hide new messages',
       { timeout: test_ms }, story(async () => {
    // ann is back in the room (the last test left it), bob never left.
    await ann.locator(`[data-testid=room-item][data-room="${room}"] button`).click();
    await inRoom(ann, room);
    const old_seq = BigInt(await lastSeq(ann));
    assert.ok(old_seq > 2n);

    for (const p of Object.values(proxies))
      p.cut();
    const { code } = await gw.stop();
    assert.equal(code, 0, 'the first gateway exits cleanly on SIGTERM');
    gw = await newGateway(); // rooms live in memory: the room starts over at seq 0
    for (const p of Object.values(proxies)) {
      p.target = gw.port;
      p.restore();
    }
    for (const page of [ann, bob]) {
      await status(page, 'connected', reconnect_ms);
      await inRoom(page, room);
      await page.getByTestId('reset').waitFor({ state: 'visible' });
    }
    const seq = await say(bob, 'first words after the restart');
    assert.ok(BigInt(seq) < old_seq, `the new room reuses small seqs (#${seq})`);
    assert.equal(await seen(ann, 'first words after the restart'), seq);
    for (const [who, page] of [['ann', ann], ['bob', bob]]) {
      const got = await shown(page);
      assertOnceInOrder(got, who);
      assert.deepEqual(got.map((m) => m.text), ['first words after the restart'],
                       `${who} shows the new room only`);
    }
    await members(ann, ['ann', 'bob']);
    await shot('5-restarted');
  }));

  test('the pages raised no script errors and no CSP refusals', { timeout: test_ms }, story(async () => {
    for (const [name, errors] of Object.entries(page_errors))
      assert.deepEqual(errors, [], `${name}'s page`);
  }));
});

// -- without WebSockets: Server-Sent Events and long-polling (docs/protocol.md) ---------

/// Polls `fn` in this process until it returns something truthy.
async function eventually(what, fn, timeout = wait_ms) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await fn();
    if (value)
      return value;
    if (Date.now() > end)
      throw new Error(`waited ${timeout} ms for ${what}`);
    await new Promise((resolve) => { setTimeout(resolve, 20); });
  }
}

describe('the chat page without WebSockets', { timeout: 4 * test_ms }, () => {
  let httpGw;

  before(async () => {
    const chromium = await needPlaywright();
    const executablePath = await needChromium();
    httpGw = await newGateway();
    browser = await chromium.launch({ executablePath, args: chromium_args, timeout: 30_000 });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    for (const name of ['hal', 'ida'])
      await proxies[name]?.close().catch(() => {});
    const result = await httpGw?.stop();
    if (result && (result.code !== 0 || result.timedOut))
      throw new Error(`parley-gateway ended with ${JSON.stringify(result)}\n${httpGw.stderr()}`);
  });

  // hal's browser has no WebSocket: the library falls back to Server-Sent
  // Events. ida's has none either, and her network also refuses event
  // streams (as some buffering proxies do): long-polling. Each chats with a
  // user on a WebSocket, then loses a frame in flight on its way in.
  const cases = [
    { name: 'hal', other: 'gus', transport: 'sse', refuseEvents: false,
      // A frame on the open event stream.
      lose: (c) => /^GET \/v1\/sessions\/[^/]+\/events(\?|$)/.test(c.request ?? '') && c.answered
                   && c.text.includes('data:') && c.text.includes('during the cut 1') },
    { name: 'ida', other: 'jon', transport: 'longpoll', refuseEvents: true,
      // The answer to a waiting poll.
      lose: (c) => /^GET \/v1\/sessions\/[^/]+\/poll\?ack=\d+/.test(c.request ?? '') && c.starts
                   && c.text.includes('during the cut 1') },
  ];
  for (const { name, other, transport, refuseEvents, lose } of cases) {
    test(`a page without WebSocket (${transport_labels[transport]}) chats with one on a WebSocket, and `
         + 'a frame lost with its connection mid-poll still arrives once, in order', { timeout: test_ms },
         story(async () => {
      const where = `no-ws-${transport}`;
      const proxy = proxies[name] = await startProxy(httpGw.port);
      const setup = refuseEvents
        ? (context) => context.route(/\/v1\/sessions\/[^/]+\/events/, (route) => route.fulfill({
          status: 502, contentType: 'application/json', body: '{"error":"no event streams through this proxy"}',
        }))
        : null;
      const p = await openPage(name, `http://127.0.0.1:${proxy.port}`, { noWebSocket: true, setup });
      assert.equal(await p.evaluate(() => typeof window.WebSocket), 'undefined');
      await signIn(p, name);
      await onTransport(p, transport);
      const q = await openPage(other, httpGw.url);
      await signIn(q, other);
      await onTransport(q, 'websocket');

      for (const page of [p, q]) {
        await page.getByTestId('room-input').fill(where);
        await page.getByTestId('room-input').press('Enter');
        await inRoom(page, where);
      }
      await members(p, [name, other]);
      await members(q, [name, other]);
      const hello = `hello over ${transport_labels[transport]}`;
      const s1 = await say(p, hello);
      assert.equal(await seen(q, hello), s1);
      const s2 = await say(q, 'hello over a WebSocket');
      assert.equal(await seen(p, 'hello over a WebSocket'), s2);

      // What came through the network: an HTTP session read the chosen way,
      // and no WebSocket at all.
      assert.deepEqual(pages[name].sockets, [], `${name}'s page opened no WebSocket`);
      assert.ok(proxy.requests.includes('POST /v1/sessions'), `a session was opened: ${proxy.requests}`);
      assert.ok(!proxy.requests.some((r) => / \/ws\b/.test(r)), `no /ws request: ${proxy.requests}`);
      const reads = transport === 'sse' ? /\/events/ : /\/poll\?ack=/;
      assert.ok(proxy.requests.some((r) => reads.test(r)), `${name} reads with ${reads}: ${proxy.requests}`);
      if (refuseEvents)
        assert.ok(!proxy.requests.some((r) => /\/events/.test(r)), 'the refused event stream never got through');

      // The next frame for the page is lost with its connection, mid-poll
      // (or mid-stream): every socket of the page's network is reset as the
      // gateway answers, and the page must get that frame again, once.
      const lost = proxy.loseNext(lose);
      const during = ['during the cut 1', 'during the cut 2', 'during the cut 3'];
      const seqs = [await say(q, during[0])];
      const fired = await Promise.race([lost, new Promise((resolve) => { setTimeout(resolve, wait_ms, null); })]);
      assert.ok(fired, `the proxy saw ${name}'s ${transport} read answered with the message, and cut it`);
      assert.match(fired.request, reads, 'the lost answer was to a poll / the event stream');
      for (const text of during.slice(1))
        seqs.push(await say(q, text));
      for (const [i, text] of during.entries())
        assert.equal(await seen(p, text, reconnect_ms), seqs[i], `${name} got '${text}'`);
      await onTransport(p, transport); // the same transport, connected again
      // It picked up where it was: its first read after the cut is the lost
      // one again, on the same session: a poll with the same ack (so the
      // gateway sends the lost frames again), or the event stream reopened
      // (resuming by Last-Event-ID); not a new session.
      const afterCut = proxy.requests.slice(fired.at);
      assert.equal(afterCut.find((r) => reads.test(r)), fired.request,
                   `${name}'s first read after the cut: ${afterCut.join(', ')}`);
      assert.ok(!afterCut.includes('POST /v1/sessions'), `no new session: ${afterCut.join(', ')}`);

      const s3 = await say(p, 'after the cut');
      assert.equal(await seen(q, 'after the cut'), s3);
      await members(p, [name, other]);
      await members(q, [name, other]);
      const want = [hello, 'hello over a WebSocket', ...during, 'after the cut'];
      for (const [who, page] of [[name, p], [other, q]]) {
        const got = await shown(page);
        assertOnceInOrder(got, who);
        assert.deepEqual(got.map((m) => m.text), want, `${who} shows every message once, in seq order`);
        assert.equal(await page.getByTestId('gap').count(), 0, `${who}: nothing was lost, no gap`);
      }
      assert.deepEqual(await shown(p), await shown(q), 'both show the same seqs');
      for (const who of [name, other]) {
        assert.deepEqual(page_errors[who], [], `${who}'s page`);
        await pages[who].page.context().close();
        delete pages[who];
      }
    }));
  }
});

// -- signing in with a token (docs/security.md) ---------------------------------------

/// An HS256 JSON Web Token, as a login service would sign it.
function jwt(secret, claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

describe('the chat page with a sign-in token', { timeout: 4 * test_ms }, () => {
  const secret = 'a-secret-for-the-page-test-only-0123456789abcdef';
  let tokenGw;
  let dir;

  before(async () => {
    const chromium = await needPlaywright();
    const executablePath = await needChromium();
    dir = await mkdtemp(path.join(os.tmpdir(), 'parley-page-token-'));
    await writeFile(path.join(dir, 'jwt.secret'), `${secret}\n`);
    tokenGw = await newGateway(['--auth=required', `--jwt-secret-file=${path.join(dir, 'jwt.secret')}`]);
    browser = await chromium.launch({ executablePath, args: chromium_args, timeout: 30_000 });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    const result = await tokenGw?.stop();
    await rm(dir, { recursive: true, force: true });
    if (result && (result.code !== 0 || result.timedOut))
      throw new Error(`parley-gateway ended with ${JSON.stringify(result)}\n${tokenGw.stderr()}`);
  });

  test('a page opened with #token= is the token\'s user, with the rooms it grants',
       { timeout: test_ms }, story(async () => {
    const token = jwt(secret, { sub: 'dora', exp: Math.floor(Date.now() / 1000) + 600,
                                rooms: { 'ops-*': 'all' } });
    const page = await openPage('dora', `http://127.0.0.1:${tokenGw.port}`, { hash: `#token=${token}` });
    await page.getByTestId('name-input').fill('whoever');
    await page.getByTestId('name-input').press('Enter');
    await status(page, 'connected');
    await until(page, 'the page to greet dora',
                () => document.querySelector('[data-testid=user-name]')?.textContent === 'dora');
    // The fragment never reached the server in a URL: the token came in hello.
    assert.ok(pages.dora.sent.some((f) => f?.hello?.token === token), 'hello carried the token');
    await page.getByTestId('room-input').fill('ops-night');
    await page.getByTestId('room-input').press('Enter');
    await until(page, 'dora to be listed in ops-night', () =>
      [...document.querySelectorAll('[data-testid=member]')].some((e) => e.dataset.user === 'dora'));
    // A room outside the token's grants is refused with the server's reason.
    await page.getByTestId('room-input').fill('hr-private');
    await page.getByTestId('room-input').press('Enter');
    await page.getByTestId('room-error').waitFor({ state: 'visible' });
    assert.match(await page.getByTestId('room-error').textContent(), /may not join room 'hr-private'/);
    assert.deepEqual(page_errors.dora, []);
  }));

  test('without a token the page says that the server needs a sign-in', { timeout: test_ms },
       story(async () => {
    const page = await openPage('nobody', `http://127.0.0.1:${tokenGw.port}`);
    await page.getByTestId('name-input').fill('eve');
    await page.getByTestId('name-input').press('Enter');
    await page.getByTestId('name-error').waitFor({ state: 'visible' });
    assert.match(await page.getByTestId('name-error').textContent(), /needs you to sign in/);
    assert.equal(await page.getByTestId('status').getAttribute('data-state'), 'offline');
    assert.deepEqual(page_errors.nobody, []);
  }));
});

// -- over TLS (docs/deploy.md) -----------------------------------------------------------

describe('the chat page over https', { timeout: 4 * test_ms }, () => {
  let tlsGw;
  let dir;

  before(async () => {
    const chromium = await needPlaywright();
    const executablePath = await needChromium();
    dir = await mkdtemp(path.join(os.tmpdir(), 'parley-page-tls-'));
    execFileSync('bash', [fileURLToPath(new URL('../../scripts/tls-cert.sh', import.meta.url)),
                          dir, 'localhost', '127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    tlsGw = await newGateway([`--tls-cert=${path.join(dir, 'gateway.pem')}`,
                              `--tls-key=${path.join(dir, 'gateway.key')}`]);
    browser = await chromium.launch({ executablePath, args: chromium_args, timeout: 30_000 });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    const result = await tlsGw?.stop();
    await rm(dir, { recursive: true, force: true });
    if (result && (result.code !== 0 || result.timedOut))
      throw new Error(`parley-gateway ended with ${JSON.stringify(result)}\n${tlsGw.stderr()}`);
  });

  test('two users chat on a page served over https, through wss', { timeout: test_ms },
       story(async () => {
    const base = `https://localhost:${tlsGw.port}`;
    const eve = await openPage('eve', base, { tls: true });
    await signIn(eve, 'eve');
    const fay = await openPage('fay', base, { tls: true });
    await signIn(fay, 'fay');
    for (const page of [eve, fay]) {
      await page.getByTestId('room-input').fill('secure');
      await page.getByTestId('room-input').press('Enter');
      await inRoom(page, 'secure');
    }
    const seq = await say(eve, 'only over TLS');
    assert.equal(await seen(fay, 'only over TLS'), seq);
    // The page chose wss: because it was loaded over https:, and the
    // Content-Security-Policy ('self') allowed it.
    for (const name of ['eve', 'fay']) {
      assert.ok(pages[name].sockets.length > 0, `${name} opened a WebSocket`);
      for (const url of pages[name].sockets)
        assert.match(url, new RegExp(`^wss://localhost:${tlsGw.port}/ws`), `${name}'s socket`);
      assert.deepEqual(page_errors[name], []);
    }
  }));
});

// -- on a phone, with names in any script (issue "What a newcomer trips over") ------------

/// The box of `testid` on `page` (null if it is not rendered).
async function box(page, testid) {
  return page.getByTestId(testid).boundingBox();
}

function overlaps(a, b) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

function inside(b, screen) {
  return b.x >= 0 && b.y >= 0 && b.x + b.width <= screen.width + 0.5 && b.y + b.height <= screen.height + 0.5;
}

/// What the phone layout promises, from the elements' boxes (not pixels):
/// each part visible and on the screen, none over another, the message box
/// at the bottom, and nothing to scroll but the messages.
async function expectPhoneLayout(page, what) {
  const parts = {};
  for (const id of ['status', 'open-rooms', 'room-title', 'open-people', 'messages', 'message-input',
                    'send-button'])
    assert.ok(await page.getByTestId(id).isVisible(), `${what}: ${id} is visible`);
  parts.topbar = await page.locator('header.topbar').boundingBox();
  parts.head = await page.locator('#chat .panel-head').boundingBox();
  parts.messages = await box(page, 'messages');
  parts.composer = await box(page, 'composer');
  for (const [name, b] of Object.entries(parts))
    assert.ok(b && inside(b, phone_screen), `${what}: ${name} ${JSON.stringify(b)} is on the screen`);
  const names = Object.keys(parts);
  for (let i = 0; i < names.length; ++i)
    for (let j = i + 1; j < names.length; ++j)
      assert.ok(!overlaps(parts[names[i]], parts[names[j]]),
                `${what}: ${names[i]} ${JSON.stringify(parts[names[i]])} overlaps ${names[j]} `
                + JSON.stringify(parts[names[j]]));
  const bottom = parts.composer.y + parts.composer.height;
  assert.ok(bottom >= phone_screen.height - 24, `${what}: the message box is pinned to the bottom (ends at ${bottom})`);
  for (const id of ['rooms', 'presence'])
    assert.ok(!(await page.getByTestId(id).isVisible()), `${what}: the ${id} drawer is closed`);
  const scroll = await page.evaluate(() => ({ h: document.documentElement.scrollHeight,
                                              w: document.documentElement.scrollWidth }));
  assert.ok(scroll.h <= phone_screen.height && scroll.w <= phone_screen.width,
            `${what}: the page itself does not scroll (${JSON.stringify(scroll)})`);
  const file = path.join(shotDir ?? os.tmpdir(), `phone-${what.replace(/\W+/g, '-')}.png`);
  await mkdir(path.dirname(file), { recursive: true });
  await page.screenshot({ path: file });
}

async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

describe('the chat page on a phone, with names in any script', { timeout: 4 * test_ms }, () => {
  let phoneGw;
  let dir;
  let adminPort;
  const operatorSecret = 'phone-test-operator-0123456789abcdefghijkl';

  before(async () => {
    const chromium = await needPlaywright();
    const executablePath = await needChromium();
    dir = await mkdtemp(path.join(os.tmpdir(), 'parley-page-phone-'));
    const tokens = path.join(dir, 'admin.tokens');
    await writeFile(tokens, `ops:${operatorSecret}\n`, { mode: 0o600 });
    adminPort = await freePort();
    phoneGw = await newGateway([`--admin-port=${adminPort}`, `--admin-token-file=${tokens}`]);
    browser = await chromium.launch({ executablePath, args: chromium_args, timeout: 30_000 });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    const result = await phoneGw?.stop();
    await rm(dir, { recursive: true, force: true });
    if (result && (result.code !== 0 || result.timedOut))
      throw new Error(`parley-gateway ended with ${JSON.stringify(result)}\n${phoneGw.stderr()}`);
  });

  test('at 375 x 740 the chat fills the screen, the message box stays at the bottom, rooms and '
       + 'people are drawers', { timeout: test_ms }, story(async () => {
    const jose = await openPage('jose', phoneGw.url, { phone: true });
    await signIn(jose, 'José'); // welcomed as ~José: a name in another script than ASCII
    assert.doesNotMatch(await jose.getByTestId('message-input').getAttribute('placeholder'), /Shift/,
                        'a phone has no Shift+Enter');
    assert.ok(!(await jose.getByTestId('rooms').isVisible()), 'the rooms drawer starts closed');
    await jose.getByTestId('open-rooms').click();
    await jose.getByTestId('room-input').waitFor({ state: 'visible' });
    const drawer = await box(jose, 'rooms');
    assert.ok(inside(drawer, phone_screen), `the rooms drawer ${JSON.stringify(drawer)} is on the screen`);
    assert.equal(await jose.getByTestId('open-rooms').getAttribute('aria-expanded'), 'true');
    await jose.getByTestId('room-input').fill('café');
    await jose.getByTestId('room-input').press('Enter');
    await inRoom(jose, 'café');
    await jose.getByTestId('rooms').waitFor({ state: 'hidden' }); // joining closes the drawer
    await expectPhoneLayout(jose, 'joined');

    // Enough messages to scroll: the newest stays in view above the message box.
    let last = null;
    for (let i = 1; i <= 14; ++i)
      last = await say(jose, `line ${i} ✓`);
    const newest = await jose.locator(`[data-testid=message][data-seq="${last}"]`).boundingBox();
    const composer = await box(jose, 'composer');
    const list = await box(jose, 'messages');
    assert.ok(newest.y >= list.y && newest.y + newest.height <= composer.y + 1,
              `the newest message ${JSON.stringify(newest)} shows above the message box ${JSON.stringify(composer)}`);
    // One sender in a row: the name and time once, at the top of the group.
    const kinds = await jose.$$eval('[data-testid=message]', (els) => els.map((e) => e.classList.contains('cont')));
    assert.equal(kinds[0], false, 'the first message of a group shows its sender');
    assert.ok(kinds.slice(1).every(Boolean), `the rest of the group does not repeat it: ${kinds}`);
    await expectPhoneLayout(jose, 'scrolled');

    // A notice (here: a message over the size limit) covers neither the
    // message box nor the Send button.
    await jose.getByTestId('message-input').fill('x'.repeat(5000));
    await jose.getByTestId('send-button').click();
    await jose.getByTestId('notice').waitFor({ state: 'visible' });
    const notice = await box(jose, 'notice');
    for (const id of ['send-button', 'message-input'])
      assert.ok(!overlaps(notice, await box(jose, id)), `the notice does not cover ${id}`);
    await jose.getByTestId('message-input').fill('');

    // People: a drawer from the right; the backdrop closes it.
    assert.equal(await jose.getByTestId('people-count').textContent(), '1');
    await jose.getByTestId('open-people').click();
    await jose.getByTestId('presence').waitFor({ state: 'visible' });
    assert.deepEqual(await jose.$$eval('[data-testid=member]', (els) => els.map((e) => e.dataset.user)),
                     ['~José']);
    await jose.getByTestId('drawer-backdrop').click({ position: { x: 10, y: 400 } });
    await jose.getByTestId('presence').waitFor({ state: 'hidden' });

    // An operator's notice is not dressed as a person's message.
    const res = await fetch(`http://127.0.0.1:${adminPort}/rooms/${encodeURIComponent('café')}/notice`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operatorSecret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'maintenance at noon' }),
    });
    assert.equal(res.status, 200, await res.text());
    await seen(jose, 'maintenance at noon');
    const op = jose.locator('[data-testid=message]', { hasText: 'maintenance at noon' });
    assert.equal(await op.getAttribute('data-kind'), 'operator');
    assert.equal(await op.getAttribute('data-sender'), '@ops');
    assert.equal(await op.getByTestId('sender-badge').textContent(), 'operator');
    assert.ok(!(await op.evaluate((e) => e.classList.contains('cont'))), 'a new sender starts a group');
    assert.deepEqual(page_errors.jose, []);
  }));

  test('a name that looks like someone\'s in the room is refused there, in words for the person',
       { timeout: test_ms }, story(async () => {
    const other = await openPage('jose2', phoneGw.url, { phone: true });
    await signIn(other, 'JOSÉ'); // another name, the same look as ~José's
    await other.getByTestId('open-rooms').click();
    await other.getByTestId('room-input').fill('café');
    await other.getByTestId('room-input').press('Enter');
    await other.getByTestId('room-error').waitFor({ state: 'visible' });
    assert.match(await other.getByTestId('room-error').textContent(),
                 /"~José" is in café and looks like "~JOSÉ": choose another name/);
    // Another room is fine.
    await other.getByTestId('room-input').fill('salon');
    await other.getByTestId('room-input').press('Enter');
    await inRoom(other, 'salon');
    assert.deepEqual(page_errors.jose2, []);
  }));
});
