#!/usr/bin/env node
// auditmesh local test infrastructure: Kafka (single KRaft broker) + Elasticsearch, no Docker.
//
//   node scripts/infra.mjs start            start both, stay in the foreground until Ctrl-C
//   node scripts/infra.mjs start --detach   start both in the background, then exit
//   node scripts/infra.mjs env              print `export AUDITMESH_TEST_...=...` lines
//   node scripts/infra.mjs status           show what is running
//   node scripts/infra.mjs stop             stop what `start` started
//
// Developer loop:  node scripts/infra.mjs start --detach && eval "$(node scripts/infra.mjs env)"
//                  npx jest --selectProjects integration   # reuses the running servers
//
// Downloads are cached in ${AUDITMESH_INFRA_CACHE:-${XDG_CACHE_HOME:-~/.cache}/auditmesh-infra}.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const h = require('./infra/harness.cjs');

const log = (msg) => process.stderr.write(`[infra] ${msg}\n`);

function fail(err) {
  if (err && err.harness) process.stderr.write(`${err.message}\n`);
  else process.stderr.write(`auditmesh test harness: unexpected error: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}

function alive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** A state file whose processes are all gone is stale: clean it up. */
function liveState() {
  const s = h.readState();
  if (!s) return null;
  const groups = [s.kafka?.pid, s.elasticsearch?.pid].filter(Boolean);
  if (groups.some((p) => h.groupAlive(p))) return s;
  h.removeState(s.runDir);
  return null;
}

async function start(detach) {
  const existing = liveState();
  if (existing) {
    throw new h.HarnessError(
      `auditmesh test harness: already running (Kafka ${existing.kafka.brokers}, Elasticsearch ${existing.elasticsearch.url}); ` +
        'use `node scripts/infra.mjs stop` first',
    );
  }
  let handle = null;
  let stopping = null;
  let detached = false;
  const stopNow = async () => {
    if (!stopping) {
      stopping = (async () => {
        try {
          await h.stopAll(handle, { log });
        } finally {
          h.removeState(handle.runDir);
        }
      })();
    }
    return stopping;
  };
  // Ctrl-C / kill, also during the (long) start, must not leave anything behind.
  const onSignal = (sig) => {
    log(`${sig} received, stopping`);
    const code = sig === 'SIGINT' ? 130 : 143;
    if (!handle) {
      h.abortSync();
      process.exit(code);
    }
    stopNow().then(
      () => process.exit(code),
      (e) => {
        process.stderr.write(`${e.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // Last-resort synchronous cleanup on any other exit path.
  process.on('exit', () => {
    if (detached || stopping) return;
    h.abortSync();
    if (handle) h.removeState(handle.runDir);
  });

  handle = await h.startAll({ log });
  h.writeState({ ...h.serializable(handle), mode: detach ? 'detached' : 'foreground', ownerPid: process.pid });
  process.stdout.write(`${h.envLines(handle.env)}\n`);

  if (detach) {
    detached = true;
    h.unref(handle);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGHUP', onSignal);
    log(`running in the background; state in ${h.stateFile()}`);
    log('load the env with: eval "$(node scripts/infra.mjs env)"; stop with: node scripts/infra.mjs stop');
    return;
  }

  // Foreground: exit if a server dies on its own.
  log('running in the foreground; Ctrl-C to stop. In another shell: eval "$(node scripts/infra.mjs env)"');
  setInterval(() => {
    if (stopping) return;
    for (const [name, svc] of [
      ['Kafka', handle.kafka],
      ['Elasticsearch', handle.elasticsearch],
    ]) {
      if (!h.groupAlive(svc.pid)) {
        log(`${name} exited unexpectedly (log: ${svc.logFile}); stopping`);
        stopNow().finally(() => process.exit(1));
        return;
      }
    }
  }, 1000);
}

async function stop() {
  const s = h.readState();
  if (!s) {
    log('nothing to stop (no state file)');
    return;
  }
  // A foreground `start` owns the servers: ask it to stop them and wait for it to exit.
  if (s.mode === 'foreground' && s.ownerPid && s.ownerPid !== process.pid && alive(s.ownerPid)) {
    try {
      process.kill(s.ownerPid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const deadline = Date.now() + 30_000;
    while (alive(s.ownerPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  }
  await h.stopAll(s, { log }); // no-op for groups that are already gone; verifies nothing remains
  h.removeState(s.runDir);
}

async function status() {
  const s = liveState();
  if (!s) {
    process.stdout.write('not running\n');
    process.exitCode = 3;
    return;
  }
  const [k, e] = await Promise.all([h.kafkaAnswers(s.kafka.brokers), h.elasticsearchAnswers(s.elasticsearch.url)]);
  process.stdout.write(
    [
      `run dir:        ${s.runDir} (${s.mode}, started ${s.startedAt})`,
      `Kafka:          ${s.kafka.brokers}  pgid ${s.kafka.pid}  ${k ? 'answering' : 'NOT answering'}`,
      `Elasticsearch:  ${s.elasticsearch.url}  pgid ${s.elasticsearch.pid}  ${e ? 'answering' : 'NOT answering'}`,
      '',
    ].join('\n'),
  );
  if (!k || !e) process.exitCode = 1;
}

function env() {
  const s = liveState();
  if (!s) throw new h.HarnessError('auditmesh test harness: not running; start it with `node scripts/infra.mjs start --detach`');
  process.stdout.write(`${h.envLines(s.env)}\n`);
}

const [cmd, ...rest] = process.argv.slice(2);
const usage = 'usage: node scripts/infra.mjs start [--detach] | stop | status | env';
try {
  switch (cmd) {
    case 'start':
      await start(rest.includes('--detach') || rest.includes('-d'));
      break;
    case 'stop':
      await stop();
      break;
    case 'status':
      await status();
      break;
    case 'env':
      env();
      break;
    default:
      process.stderr.write(`${usage}\n`);
      process.exit(cmd === undefined || cmd === 'help' || cmd === '--help' ? 0 : 2);
  }
} catch (e) {
  fail(e);
}
