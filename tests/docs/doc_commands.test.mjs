// The commands in README.md and docs/*.md, checked against the build they
// name, so that a command copied from the docs does what they say: every
// `build/PRESET/PATH` is a program of the build and takes every `--flag` the
// docs give it (per its --help), every `--preset` exists, every `--target` is
// a target of the build, every `scripts/X.sh` exists, and every `ctest
// --preset P` comes after the docs configured or built P (a run on a tree
// never built finds no tests).
//
// Commands are the lines of ```sh blocks, and lines starting with "$ " in
// other blocks. Servers are not started and nothing is built: what is run is
// `PROGRAM --help` (and `PROGRAM SUBCOMMAND --help`).
//
//   PARLEY_BUILD_DIR=build/debug-asan node --test tests/docs/doc_commands.test.mjs
//
// The build that is checked is PARLEY_BUILD_DIR: binaries are found there
// whichever preset a command names (the layout of every preset's tree is the
// same), and the preset named must exist in CMakePresets.json.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const buildDir = process.env.PARLEY_BUILD_DIR
  ? path.resolve(root, process.env.PARLEY_BUILD_DIR) : null;

const presets = JSON.parse(readFileSync(path.join(root, 'CMakePresets.json'), 'utf8'));
const configurePresets = new Set(presets.configurePresets.filter((p) => !p.hidden).map((p) => p.name));

/// { file, line, text } for every command in the docs.
function commands() {
  const files = ['README.md', ...readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const out = [];
  for (const file of files) {
    const lines = readFileSync(path.join(root, file), 'utf8').split('\n');
    let fence = null; // the language of the open block, '' for none
    let pending = null;
    for (let i = 0; i < lines.length; ++i) {
      const line = lines[i];
      const m = /^```(\w*)\s*$/.exec(line);
      if (m) {
        fence = fence === null ? m[1] : null;
        continue;
      }
      if (fence === null)
        continue;
      let text = line;
      if (fence !== 'sh') {
        if (!text.startsWith('$ '))
          continue;
        text = text.slice(2);
      }
      // Continuation lines make one command.
      if (pending) {
        pending.text += ` ${text.trim()}`;
      } else {
        pending = { file, line: i + 1, text: text.trim() };
      }
      if (pending.text.endsWith('\\')) {
        pending.text = pending.text.slice(0, -1);
        continue;
      }
      out.push(pending);
      pending = null;
    }
  }
  return out;
}

/// The simple commands of a shell line: split at ; && || | and &, comments
/// dropped, quotes kept simple (docs do not nest them), leading VAR=value
/// assignments and `sudo` dropped.
function simpleCommands(text) {
  const words = [];
  let cur = '';
  let quote = null;
  const result = [];
  const flush = () => {
    if (cur !== '')
      words.push(cur);
    cur = '';
  };
  const end = () => {
    flush();
    if (words.length)
      result.push(words.splice(0));
  };
  for (let i = 0; i < text.length; ++i) {
    const c = text[i];
    if (quote) {
      if (c === quote)
        quote = null;
      else
        cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      continue;
    }
    if (c === '#' && cur === '')
      break; // a comment
    if (c === ' ' || c === '\t') {
      flush();
      continue;
    }
    if (c === ';' || c === '|' || c === '&' || c === '(' || c === ')') {
      end();
      continue;
    }
    cur += c;
  }
  end();
  return result.map((argv) => {
    while (argv.length && (/^[A-Za-z_][A-Za-z0-9_]*=/.test(argv[0]) || argv[0] === 'sudo'
                           || argv[0] === 'exec' || argv[0] === 'time'))
      argv.shift();
    return argv;
  }).filter((argv) => argv.length > 0);
}

const helpCache = new Map();

/// What `bin --help` (and `bin SUB --help` for a subcommand) prints.
function helpOf(bin, sub) {
  const key = `${bin}\0${sub ?? ''}`;
  if (!helpCache.has(key)) {
    const args = sub ? [sub, '--help'] : ['--help'];
    const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 30_000,
                                     env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
    helpCache.set(key, r.status === 0 ? `${r.stdout}\n${r.stderr}` : null);
  }
  return helpCache.get(key);
}

let targets = null;

/// The targets of the build (the Makefile generator's `help` target).
function buildTargets() {
  if (!targets) {
    const out = execFileSync('cmake', ['--build', buildDir, '--target', 'help'], { encoding: 'utf8' });
    targets = new Set(out.split('\n').map((l) => /^\.\.\. (\S+)/.exec(l)?.[1]).filter(Boolean));
  }
  return targets;
}

/// Every problem with one command, as "FILE:LINE: what".
function check(cmd, built) {
  const problems = [];
  const where = `${cmd.file}:${cmd.line}`;
  // A program named in a value (P=build/..., --bin=build/...) must exist too.
  for (const m of cmd.text.matchAll(/(?:^|\s)(?:[A-Za-z_][A-Za-z0-9_]*|--[\w-]+)=((?:\.\/)?build\/[\w-]+\/[\w./-]+)/g)) {
    const rel = /^(?:\.\/)?build\/[\w-]+\/(.+)$/.exec(m[1])[1];
    const bin = path.join(buildDir, rel);
    if (!existsSync(bin))
      problems.push(`${where}: ${m[1]} is not a program of the build (no ${rel} in ${buildDir})`);
  }
  for (const argv of simpleCommands(cmd.text)) {
    let [prog, ...args] = argv;
    if (prog === 'bash' && args[0]?.startsWith('scripts/'))
      [prog, ...args] = args;
    if (/^(\.\/)?scripts\/[\w.-]+$/.test(prog)) {
      if (!existsSync(path.join(root, prog)))
        problems.push(`${where}: ${prog} does not exist`);
      continue;
    }
    const b = /^(?:\.\/)?build\/([\w-]+)\/(\S+)$/.exec(prog);
    if (b) {
      const [, preset, rel] = b;
      if (!configurePresets.has(preset)) {
        problems.push(`${where}: build/${preset} is not the folder of a preset (${[...configurePresets].join(', ')})`);
        continue;
      }
      const bin = path.join(buildDir, rel);
      if (!existsSync(bin) || !statSync(bin).isFile()) {
        problems.push(`${where}: ${prog} is not a program of the build (no ${rel} in ${buildDir})`);
        continue;
      }
      const helps = [helpOf(bin)];
      if (helps[0] === null) {
        problems.push(`${where}: ${prog} --help did not exit 0`);
        continue;
      }
      // A subcommand (parley-cli admin ...) has flags of its own.
      for (const a of args.slice(0, 2))
        if (/^[a-z][\w-]*$/.test(a))
          helps.push(helpOf(bin, a) ?? '');
      const help = helps.join('\n');
      for (const a of args) {
        const flag = /^(--[A-Za-z0-9][\w-]*)/.exec(a)?.[1];
        // Google Benchmark prints its flags as [--benchmark_filter=<regex>].
        if (flag && flag !== '--help' && !new RegExp(`(^|[\\s,\\[|])${flag}(?![\\w-])`, 'm').test(help))
          problems.push(`${where}: ${prog} has no flag ${flag} (not in its --help)`);
      }
      continue;
    }
    if (prog === 'cmake' || prog === 'ctest') {
      for (let i = 0; i < args.length; ++i) {
        const a = args[i];
        const preset = a === '--preset' ? args[i + 1] : /^--preset=(.+)$/.exec(a)?.[1];
        if (preset !== undefined) {
          if (!configurePresets.has(preset))
            problems.push(`${where}: there is no preset '${preset}'`);
          else if (prog === 'ctest' && !built.has(preset))
            problems.push(`${where}: ctest --preset ${preset} before the docs configure or build ${preset}: it would find no tests`);
          if (prog === 'cmake')
            built.add(preset);
        }
        if (a === '--target') {
          for (let j = i + 1; j < args.length && !args[j].startsWith('-'); ++j)
            if (!buildTargets().has(args[j]))
              problems.push(`${where}: there is no target '${args[j]}'`);
        }
      }
      const testDir = args.indexOf('--test-dir');
      if (prog === 'ctest' && testDir >= 0) {
        const p = /^build\/([\w-]+)$/.exec(args[testDir + 1] ?? '')?.[1];
        if (p && !built.has(p))
          problems.push(`${where}: ctest --test-dir build/${p} before the docs configure or build ${p}`);
      }
    }
  }
  return problems;
}

test('the commands in the docs name programs, flags, presets, targets and scripts that exist',
     { skip: buildDir ? false : 'set PARLEY_BUILD_DIR to the build to check against' }, () => {
  const all = commands();
  assert.ok(all.length > 50, `found only ${all.length} commands: is the parser broken?`);
  const problems = [];
  const builtPerFile = new Map();
  let programs = 0;
  for (const cmd of all) {
    if (!builtPerFile.has(cmd.file))
      builtPerFile.set(cmd.file, new Set());
    if (/build\/[\w-]+\/\S+/.test(cmd.text))
      ++programs;
    problems.push(...check(cmd, builtPerFile.get(cmd.file)));
  }
  assert.ok(programs > 20, `found only ${programs} commands that run a built program`);
  assert.deepEqual(problems, []);
});

// The checker itself: each rule catches what it is for.
test('the checker catches a renamed program, an unknown flag, a missing preset and an unbuilt ctest',
     { skip: buildDir ? false : 'set PARLEY_BUILD_DIR to the build to check against' }, () => {
  const probe = (text, built = new Set()) => check({ file: 'probe.md', line: 1, text }, built);
  assert.deepEqual(probe('build/release/gateway/parley-gateway --port=8080 --data-dir=data'), []);
  assert.match(probe('build/release/examples/no_such_example --rounds=1')[0], /not a program of the build/);
  assert.match(probe('build/release/gateway/parley-gateway --no-such-flag=1')[0], /has no flag --no-such-flag/);
  assert.match(probe('build/nightly/gateway/parley-gateway')[0], /not the folder of a preset/);
  assert.match(probe('ctest --preset debug-asan')[0], /would find no tests/);
  assert.deepEqual(probe('cmake --preset release && cmake --build --preset release -j2 && ctest --preset release'), []);
  assert.match(probe('cmake --build --preset release --target no_such_target')[0], /no target 'no_such_target'/);
  assert.match(probe('bash scripts/no-such-script.sh')[0], /does not exist/);
  assert.deepEqual(probe('PARLEY_BACKLOG=7 build/release/gateway/parley-gateway --backlog=9 # a comment --x'), []);
  assert.match(probe('CLI=build/release/gateway/parley-cli')[0], /not a program of the build/);
  assert.deepEqual(probe('G=build/release/gateway/parley-gateway'), []);
  assert.match(probe('bash scripts/cluster-netns.sh --bin=build/release/examples/no_such_example')[0], /not a program/);
});
