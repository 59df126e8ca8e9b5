// Starts the real parley-gateway binary for a JavaScript test and stops it.
// Node built-ins only, so it works before anything else is imported (and
// `need` imports the npm packages, saying how to install a missing one).
//
//   const gw = await startGateway(['--max-frame-bytes=1024']);
//   new WebSocket(gw.wsUrl) ...
//   const { code } = await gw.stop(); // SIGTERM, then the exit code
//
// The binary comes from PARLEY_GATEWAY_BIN (CTest sets it). It listens on
// port 0; the port is read from the line the gateway prints to stderr.

import { spawn } from 'node:child_process';

/// How long the gateway gets to print its listening line, and to exit after SIGTERM.
export const startup_timeout_ms = 15_000;
export const stop_timeout_ms = 15_000;

const listening = /parley-gateway listening on (127\.0\.0\.1):(\d+)/;

/// Imports an npm package from tests/js/node_modules (its default export),
/// failing (not skipping) with the command that installs it.
export async function need(name) {
  try {
    return (await import(name)).default;
  } catch (e) {
    if (e.code === 'ERR_MODULE_NOT_FOUND')
      throw new Error(`the npm package '${name}' is missing from tests/js/node_modules: `
                      + "run 'bash scripts/deps.sh --test' (or 'npm ci' in tests/js)", { cause: e });
    throw e;
  }
}

/// The gateway binary named by PARLEY_GATEWAY_BIN; throws if it is not set.
export function gatewayBin() {
  const bin = process.env.PARLEY_GATEWAY_BIN;
  if (!bin)
    throw new Error('PARLEY_GATEWAY_BIN is not set: point it at the parley-gateway binary '
                    + '(ctest sets it; by hand: PARLEY_GATEWAY_BIN=build/<preset>/gateway/parley-gateway)');
  return bin;
}

/// Starts `parley-gateway --port=0 ...args` and resolves once it listens.
/// Resolves to { port, host, url, wsUrl, child, stderr(), exited, stop() }.
export function startGateway(args = [], { timeoutMs = startup_timeout_ms } = {}) {
  const bin = gatewayBin();
  const child = spawn(bin, ['--port=0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => { err += chunk; });
  // Settles once, with the exit code (or the signal that ended it).
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (e) => resolve({ code: null, signal: null, error: e }));
  });

  const stop = async ({ timeoutMs: stopMs = stop_timeout_ms } = {}) => {
    if (child.exitCode === null && child.signalCode === null)
      child.kill('SIGTERM');
    let timer;
    const late = new Promise((resolve) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve({ code: null, signal: 'SIGKILL', timedOut: true });
      }, stopMs);
    });
    const result = await Promise.race([exited, late]);
    clearTimeout(timer);
    return result;
  };

  return new Promise((resolve, reject) => {
    const fail = (why) => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`${bin}: ${why}\nstderr:\n${err}`));
    };
    const onData = () => {
      const m = listening.exec(err);
      if (!m)
        return;
      cleanup();
      const host = m[1];
      const port = Number(m[2]);
      resolve({
        host, port, child, exited, stop,
        url: `http://${host}:${port}`,
        wsUrl: `ws://${host}:${port}/ws`,
        stderr: () => err,
      });
    };
    const onExit = ({ code, signal, error }) =>
      fail(error ? `could not start: ${error.message}`
                 : `exited before listening (code ${code}, signal ${signal})`);
    const timer = setTimeout(() => fail(`did not report listening within ${timeoutMs} ms`),
                             timeoutMs);
    function cleanup() {
      clearTimeout(timer);
      child.stderr.off('data', onData);
      exitWatch.cancelled = true;
    }
    const exitWatch = { cancelled: false };
    exited.then((r) => { if (!exitWatch.cancelled) onExit(r); });
    child.stderr.on('data', onData);
  });
}
