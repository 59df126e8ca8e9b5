// Runs the examples of docs/clients.md as they are written: the Node one
// with Node against a fresh gateway (its output must be what the doc says),
// and the page in Debian's Chromium, served by the gateway, once as it is
// and once with window.WebSocket removed (it must go on over SSE).
//
//   PARLEY_GATEWAY_BIN=build/release/gateway/parley-gateway node --test tests/js/clients_doc.test.mjs

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, constants as fs_constants, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { startGateway } from './gateway.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const test_ms = 30_000;

async function section(title) {
  const doc = await readFile(path.join(here, '..', '..', 'docs', 'clients.md'), 'utf8');
  const s = doc.split(`\n## ${title}\n`)[1]?.split('\n## ')[0];
  assert.ok(s, `docs/clients.md lacks '## ${title}'`);
  return s;
}

describe('the Node example of docs/clients.md', { timeout: 2 * test_ms }, () => {
  let gw;
  before(async () => { gw = await startGateway(['--store=memory']); }); // fresh: seq 1
  after(async () => { await gw?.stop(); });

  test('runs as documented and prints what the doc says', { timeout: test_ms }, async () => {
    const s = await section('From Node.js');
    const code = /\n```js\n([\s\S]*?)\n```\n/.exec(s)?.[1];
    const printed = /\nIt prints[^\n]*:\n\n```\n([\s\S]*?)\n```\n/.exec(s)?.[1];
    assert.ok(code && printed, 'the section needs a ```js block and an "It prints" block');
    // From tests/js, where `ws` and `@parley/client` (client/js) are installed
    // as a user's npm install puts them.
    const { stdout } = await promisify(execFile)(
      process.execPath, ['--input-type=module', '--eval', code],
      { cwd: here, timeout: 20_000, killSignal: 'SIGKILL', env: { ...process.env, PARLEY_URL: gw.url } });
    assert.equal(stdout.trimEnd(), printed);
  });
});

describe('the page example of docs/clients.md in Chromium', { timeout: 4 * test_ms }, () => {
  let gw;
  let dir;
  let browser;
  before(async () => {
    const s = await section('From a web page');
    const files = [...s.matchAll(/<!-- page: ([\w.]+) -->\n```\w+\n([\s\S]*?)\n```\n/g)];
    assert.deepEqual(files.map((f) => f[1]), ['index.html', 'app.js'],
                     'the section needs <!-- page: index.html --> and <!-- page: app.js --> blocks');
    dir = await mkdtemp(path.join(os.tmpdir(), 'parley-clients-doc-'));
    for (const [, name, text] of files)
      await writeFile(path.join(dir, name), text);
    // The page from the folder; /parley-client/ is the library compiled in.
    gw = await startGateway(['--store=memory', `--web-root=${dir}`]);
    const bin = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';
    await access(bin, fs_constants.X_OK).catch((e) => {
      throw new Error(`Chromium is not installed at ${bin}: run 'bash scripts/deps.sh --test'`, { cause: e });
    });
    let chromium;
    try {
      const mod = await import('playwright-core');
      chromium = mod.chromium ?? mod.default.chromium;
    } catch (e) {
      throw new Error("playwright-core is missing from tests/js/node_modules: run 'bash scripts/deps.sh --test'",
                      { cause: e });
    }
    browser = await chromium.launch({ executablePath: bin,
                                      args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
    if (dir)
      await rm(dir, { recursive: true, force: true });
  });

  async function run(withoutWebSocket) {
    const context = await browser.newContext();
    const errors = [];
    try {
      if (withoutWebSocket)
        await context.addInitScript(() => { delete window.WebSocket; });
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(gw.url + '/');
      await page.waitForFunction(() => /hello from a page/.test(document.getElementById('log').textContent),
                                 null, { timeout: 15_000 });
      return (await page.textContent('#log')).trim().split('\n');
    } finally {
      await context.close();
      assert.deepEqual(errors, []);
    }
  }

  test('the page connects over a WebSocket, joins and publishes', { timeout: test_ms }, async () => {
    const lines = await run(false);
    assert.ok(lines.includes('open websocket'), lines.join('\n'));
    assert.ok(lines.some((l) => /^#\d+ ~ann: hello from a page$/.test(l)), lines.join('\n'));
  });

  test('without window.WebSocket the same page goes on over Server-Sent Events', { timeout: test_ms }, async () => {
    const lines = await run(true);
    assert.ok(lines.includes('open sse'), lines.join('\n'));
    assert.ok(!lines.includes('open websocket'));
    assert.ok(lines.some((l) => /^#\d+ ~ann: hello from a page$/.test(l)), lines.join('\n'));
  });
});
