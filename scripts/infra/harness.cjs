'use strict';
/**
 * auditmesh test harness core (CommonJS so that both the `scripts/infra.mjs` CLI
 * and jest's TypeScript globalSetup/globalTeardown can require it).
 *
 * Downloads (once, into a cache outside the repo), starts on loopback with free
 * ports, waits for readiness and stops:
 *   - Apache Kafka as a single KRaft broker+controller (jars from Maven Central,
 *     run with the machine's Java 17+),
 *   - Elasticsearch from org.elasticsearch.distribution.integ-test-zip.
 *
 * No Docker. Each run gets a fresh temp dir (data, logs, config) that is deleted
 * at stop; the logs are kept (and their tail printed) when a start fails.
 */

const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const crypto = require('node:crypto');
const { spawn, spawnSync } = require('node:child_process');
const { Readable } = require('node:stream');
const { pipeline } = require('node:stream/promises');

const KAFKA_VERSION = '3.9.1';
const SCALA_VERSION = '2.13';
const SLF4J_RELOAD4J_VERSION = '1.7.36';
const ES_VERSION = '8.19.4';
const ES_ZIP_URL =
  `https://repo1.maven.org/maven2/org/elasticsearch/distribution/integ-test-zip/elasticsearch/` +
  `${ES_VERSION}/elasticsearch-${ES_VERSION}.zip`;
const ES_USER = 'auditmesh-es';
const MIN_JAVA = 17;

const KAFKA_READY_TIMEOUT_MS = 90_000;
const ES_READY_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 20_000;

const ENV_KAFKA = 'AUDITMESH_TEST_KAFKA_BROKERS';
const ENV_ES = 'AUDITMESH_TEST_ELASTICSEARCH_URL';

/** An expected, user-facing failure: print the message, not a stack trace. */
class HarnessError extends Error {
  constructor(message) {
    super(message);
    this.name = 'HarnessError';
    this.harness = true;
  }
}

const PREFIX = 'auditmesh test harness';

function defaultLog(msg) {
  process.stderr.write(`[infra] ${msg}\n`);
}

function secs(ms) {
  return `${(ms / 1000).toFixed(1)}s`;
}

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

function cacheDir() {
  if (process.env.AUDITMESH_INFRA_CACHE) return path.resolve(process.env.AUDITMESH_INFRA_CACHE);
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'auditmesh-infra');
}

function stateFile() {
  return path.join(cacheDir(), 'run.json');
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

function which(cmd) {
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean);
  for (const d of dirs) {
    const p = path.join(d, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

/** Run a command, resolve with {code, stdout, stderr}; never rejects on exit code. */
function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tail(file, lines = 40) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Pick `n` distinct free loopback ports (all listeners held open together). */
async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      await new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', resolve);
      });
      servers.push(srv);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r()))));
  }
}

// ---------------------------------------------------------------------------
// Java / Maven checks
// ---------------------------------------------------------------------------

const JAVA_HINT = 'install it with `apt-get install openjdk-17-jre-headless` (or set JAVA_HOME to a JDK/JRE 17+)';

let javaCache = null;
/** Locate Java 17+; returns { home, bin, major }. */
async function findJava() {
  if (javaCache) return javaCache;
  let bin = null;
  const jh = process.env.JAVA_HOME;
  if (jh && fs.existsSync(path.join(jh, 'bin', 'java'))) bin = path.join(jh, 'bin', 'java');
  if (!bin) {
    const onPath = which('java');
    if (onPath) bin = fs.realpathSync(onPath);
  }
  if (!bin) {
    throw new HarnessError(`${PREFIX}: Java ${MIN_JAVA}+ is required to run Kafka and Elasticsearch, but \`java\` was not found; ${JAVA_HINT}`);
  }
  bin = fs.realpathSync(bin);
  const home = path.dirname(path.dirname(bin));
  let res;
  try {
    res = await run(bin, ['-version']);
  } catch (e) {
    throw new HarnessError(`${PREFIX}: could not run ${bin} (${e.message}); ${JAVA_HINT}`);
  }
  const m = /version "(\d+)(?:\.(\d+))?/.exec(res.stderr + res.stdout);
  if (!m) throw new HarnessError(`${PREFIX}: could not determine the Java version of ${bin}; ${JAVA_HINT}`);
  let major = Number(m[1]);
  if (major === 1 && m[2]) major = Number(m[2]); // "1.8.0" style
  if (major < MIN_JAVA) {
    throw new HarnessError(
      `${PREFIX}: Java ${MIN_JAVA}+ is required to run Kafka and Elasticsearch, but ${bin} is Java ${major}; ${JAVA_HINT}`,
    );
  }
  javaCache = { home, bin, major };
  return javaCache;
}

function requireMaven() {
  const mvn = which('mvn');
  if (!mvn) {
    throw new HarnessError(
      `${PREFIX}: Apache Maven is required (once) to download Kafka ${KAFKA_VERSION}'s jars from Maven Central, ` +
        'but `mvn` was not found; install it with `apt-get install maven`',
    );
  }
  return mvn;
}

// ---------------------------------------------------------------------------
// Downloads (cached, atomic)
// ---------------------------------------------------------------------------

async function download(url, dest, log) {
  const tmp = `${dest}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new HarnessError(`${PREFIX}: could not download ${url}: ${e.cause?.message || e.message}`);
  }
  if (!res.ok || !res.body) throw new HarnessError(`${PREFIX}: could not download ${url}: HTTP ${res.status}`);
  try {
    await pipeline(Readable.fromWeb(res.body), fs.createWriteStream(tmp));
    await fsp.rename(tmp, dest);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw new HarnessError(`${PREFIX}: could not download ${url}: ${e.message}`);
  }
  log(`downloaded ${url}`);
}

async function sha1File(file) {
  const h = crypto.createHash('sha1');
  await pipeline(fs.createReadStream(file), h);
  return h.digest('hex');
}

/** Extract `zip` into `destDir` (which must not exist) with unzip, python3 or jar. */
async function extractZip(zip, destDir) {
  await fsp.mkdir(destDir, { recursive: true });
  let res;
  if (which('unzip')) {
    res = await run('unzip', ['-q', '-o', zip, '-d', destDir]);
  } else if (which('python3')) {
    res = await run('python3', ['-m', 'zipfile', '-e', zip, destDir]);
  } else {
    const java = await findJava();
    const jar = path.join(java.home, 'bin', 'jar');
    if (!fs.existsSync(jar)) {
      throw new HarnessError(
        `${PREFIX}: \`unzip\` is required to unpack Elasticsearch; install it with \`apt-get install unzip\``,
      );
    }
    res = await run(jar, ['xf', zip], { cwd: destDir });
  }
  if (res.code !== 0) throw new HarnessError(`${PREFIX}: could not unpack ${zip}: ${res.stderr.trim()}`);
}

/** Recursively make a tree world-readable (dirs traversable) and bin/* executable. */
async function fixPermissions(home) {
  const walk = async (p) => {
    const st = await fsp.lstat(p);
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) {
      await fsp.chmod(p, st.mode | 0o755);
      for (const e of await fsp.readdir(p)) await walk(path.join(p, e));
    } else {
      await fsp.chmod(p, st.mode | 0o444);
    }
  };
  await walk(home);
  for (const e of await fsp.readdir(path.join(home, 'bin'))) {
    const p = path.join(home, 'bin', e);
    const st = await fsp.stat(p);
    if (st.isFile()) await fsp.chmod(p, st.mode | 0o755);
  }
}

/** Ensure the ES distribution is unpacked in the cache; returns ES home. */
async function ensureElasticsearch(log = defaultLog) {
  const dir = path.join(cacheDir(), `elasticsearch-${ES_VERSION}`);
  const home = path.join(dir, 'home');
  if (fs.existsSync(path.join(home, 'bin', 'elasticsearch'))) return home;
  const t0 = Date.now();
  await fsp.mkdir(dir, { recursive: true });
  const zip = path.join(dir, `elasticsearch-${ES_VERSION}.zip`);
  if (!fs.existsSync(zip)) {
    log(`downloading Elasticsearch ${ES_VERSION} (~97 MB, once) into ${dir}`);
    const tmpZip = `${zip}.unverified-${process.pid}`;
    try {
      const [, shaRes] = await Promise.all([download(ES_ZIP_URL, tmpZip, log), fetch(`${ES_ZIP_URL}.sha1`)]);
      if (!shaRes.ok) throw new HarnessError(`${PREFIX}: could not download ${ES_ZIP_URL}.sha1: HTTP ${shaRes.status}`);
      const expected = (await shaRes.text()).trim().split(/\s+/)[0].toLowerCase();
      const actual = await sha1File(tmpZip);
      if (expected !== actual) {
        throw new HarnessError(`${PREFIX}: SHA-1 mismatch for ${ES_ZIP_URL}: expected ${expected}, got ${actual}`);
      }
      await fsp.rename(tmpZip, zip);
    } finally {
      await fsp.rm(tmpZip, { force: true });
    }
  }
  const work = path.join(dir, `.unpack-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    await extractZip(zip, work);
    const top = path.join(work, `elasticsearch-${ES_VERSION}`);
    if (!fs.existsSync(path.join(top, 'bin', 'elasticsearch'))) {
      throw new HarnessError(`${PREFIX}: unexpected layout in ${zip} (no elasticsearch-${ES_VERSION}/bin/elasticsearch)`);
    }
    await fixPermissions(top);
    try {
      await fsp.rename(top, home);
    } catch (e) {
      if (!fs.existsSync(path.join(home, 'bin', 'elasticsearch'))) throw e; // else: a concurrent run won
    }
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
  // The zip is no longer needed once unpacked.
  await fsp.rm(zip, { force: true });
  log(`Elasticsearch ${ES_VERSION} unpacked in ${secs(Date.now() - t0)}`);
  return home;
}

function kafkaPom() {
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>auditmesh</groupId>
  <artifactId>auditmesh-kafka-runtime</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_VERSION}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>${SLF4J_RELOAD4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
`;
}

/** Ensure Kafka's runtime jars are in the cache; returns the libs dir. */
async function ensureKafka(log = defaultLog) {
  const dir = path.join(cacheDir(), `kafka-${KAFKA_VERSION}`);
  const libs = path.join(dir, 'libs');
  if (fs.existsSync(path.join(libs, `kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar`))) return libs;
  const mvn = requireMaven();
  const t0 = Date.now();
  log(`downloading Kafka ${KAFKA_VERSION} jars (once) into ${libs}`);
  await fsp.mkdir(dir, { recursive: true });
  const work = path.join(dir, `.resolve-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  await fsp.mkdir(work, { recursive: true });
  try {
    await fsp.writeFile(path.join(work, 'pom.xml'), kafkaPom());
    const out = path.join(work, 'libs');
    const res = await run(
      mvn,
      ['-q', '-B', '-f', path.join(work, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${out}`, '-DincludeScope=runtime'],
      { cwd: work },
    );
    if (res.code !== 0 || !fs.existsSync(path.join(out, `kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar`))) {
      throw new HarnessError(
        `${PREFIX}: Maven could not download Kafka ${KAFKA_VERSION}'s jars:\n${(res.stdout + res.stderr).trim().split('\n').slice(-30).join('\n')}`,
      );
    }
    await fsp.copyFile(path.join(work, 'pom.xml'), path.join(dir, 'pom.xml'));
    try {
      await fsp.rename(out, libs);
    } catch (e) {
      if (!fs.existsSync(path.join(libs, `kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar`))) throw e;
    }
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
  log(`Kafka ${KAFKA_VERSION} jars ready in ${secs(Date.now() - t0)}`);
  return libs;
}

// ---------------------------------------------------------------------------
// Process groups
// ---------------------------------------------------------------------------

/** Process groups and run dirs created by this process, for abortSync(). */
const spawnedGroups = new Set();
const createdRunDirs = new Set();

/** Live (non-zombie) pids whose process group is `pgid` (Linux /proc); null if unknown. */
function groupMembers(pgid) {
  let entries;
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return null;
  }
  const out = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp ...  — comm may contain spaces/parens
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = rest[0];
    const pgrp = Number(rest[2]);
    if (pgrp === pgid && state !== 'Z' && state !== 'X') out.push(Number(e));
  }
  return out;
}

function groupAlive(pgid) {
  const members = groupMembers(pgid);
  if (members) return members.length > 0;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

function signalGroup(pgid, sig) {
  try {
    process.kill(-pgid, sig);
  } catch {
    /* already gone */
  }
}

/** SIGTERM the group, wait up to `graceMs`, then SIGKILL; resolves true if the group is gone. */
async function stopGroup(pgid, graceMs = STOP_GRACE_MS) {
  if (!pgid || !groupAlive(pgid)) {
    spawnedGroups.delete(pgid);
    return true;
  }
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!groupAlive(pgid)) break;
    await sleep(100);
  }
  if (groupAlive(pgid)) {
    signalGroup(pgid, 'SIGKILL');
    const killDeadline = Date.now() + 5000;
    while (Date.now() < killDeadline && groupAlive(pgid)) await sleep(100);
  }
  const gone = !groupAlive(pgid);
  if (gone) spawnedGroups.delete(pgid);
  return gone;
}

/**
 * Synchronous emergency cleanup (for 'exit'/signal handlers, e.g. Ctrl-C during a start):
 * SIGKILL every process group this process spawned and delete the run dirs it created.
 */
function abortSync() {
  for (const pgid of spawnedGroups) signalGroup(pgid, 'SIGKILL');
  spawnedGroups.clear();
  for (const d of createdRunDirs) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  createdRunDirs.clear();
}

function spawnGroup(cmd, args, { cwd, env, logFile }) {
  const fd = fs.openSync(logFile, 'a');
  try {
    const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
    const info = { child, pid: child.pid, exited: null };
    if (child.pid) spawnedGroups.add(child.pid);
    child.on('exit', (code, signal) => {
      info.exited = { code, signal };
    });
    child.on('error', (e) => {
      info.exited = { code: null, signal: null, error: e };
    });
    return info;
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------
// Readiness checks
// ---------------------------------------------------------------------------

async function kafkaAnswers(brokers, timeoutMs = 3000) {
  const { Kafka, logLevel } = require('kafkajs');
  const kafka = new Kafka({
    clientId: 'auditmesh-infra-check',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    connectionTimeout: Math.min(timeoutMs, 2000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/**
 * Make the group coordinator available before tests run: the first FindCoordinator
 * request creates __consumer_offsets; until it has a leader, clients log
 * "The group coordinator is not available". Best effort.
 */
async function kafkaWarmUp(brokers) {
  const { Kafka, logLevel } = require('kafkajs');
  const kafka = new Kafka({
    clientId: 'auditmesh-infra-warmup',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.describeGroups(['auditmesh-infra-warmup']);
  } catch {
    /* tests will retry on their own */
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

async function elasticsearchAnswers(url, timeoutMs = 3000) {
  try {
    const res = await fetch(`${url.replace(/\/$/, '')}/_cluster/health?wait_for_status=yellow&timeout=${Math.max(1, Math.floor(timeoutMs / 1000))}s`, {
      signal: AbortSignal.timeout(timeoutMs + 1000),
    });
    if (res.status !== 200) return false;
    const body = await res.json();
    return body.status === 'yellow' || body.status === 'green';
  } catch {
    return false;
  }
}

async function waitReady(name, proc, logFile, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exited) {
      const e = new HarnessError(
        `${PREFIX}: ${name} exited before becoming ready (${proc.exited.error ? proc.exited.error.message : `code ${proc.exited.code}, signal ${proc.exited.signal}`})`,
      );
      e.logFile = logFile;
      e.exitedEarly = true;
      throw e;
    }
    if (await check()) return;
    await sleep(250);
  }
  const e = new HarnessError(`${PREFIX}: ${name} did not become ready within ${secs(timeoutMs)}`);
  e.logFile = logFile;
  throw e;
}

const BIND_CONFLICT = /Address already in use|BindException|BindHttpException|BindTransportException/;

// ---------------------------------------------------------------------------
// Kafka
// ---------------------------------------------------------------------------

function kafkaClusterId() {
  // Kafka Uuid: 16 random bytes, base64url without padding, must not start with '-'.
  for (;;) {
    const id = crypto.randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * Prepare a Kafka run: its own dir (data, logs, config) under `runDir`, two free ports, formatted
 * storage. `launchKafka` starts it; it can be stopped and launched again from the same preparation
 * (same ports, same data: a broker restart).
 */
async function prepareKafka(runDir, libs, java) {
  const dir = await fsp.mkdtemp(path.join(runDir, 'kafka-'));
  const dataDir = path.join(dir, 'data');
  const logsDir = path.join(dir, 'logs');
  await fsp.mkdir(dataDir);
  await fsp.mkdir(logsDir);
  const [port, controllerPort] = await freePorts(2);
  const props = path.join(dir, 'server.properties');
  await fsp.writeFile(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${dataDir}`,
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=1',
      'group.initial.rebalance.delay.ms=0',
      'num.partitions=1',
      'auto.create.topics.enable=true',
      'delete.topic.enable=true',
      '',
    ].join('\n'),
  );
  const log4j = path.join(dir, 'log4j.properties');
  await fsp.writeFile(
    log4j,
    [
      'log4j.rootLogger=WARN, stdout',
      'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
      'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.kafka.server.BrokerServer=INFO',
      'log4j.logger.kafka.server.KafkaRaftServer=INFO',
      '',
    ].join('\n'),
  );
  const cp = `${libs}${path.sep}*`;
  const logFile = path.join(logsDir, 'kafka.out');
  const fmt = await run(java.bin, [
    '-Xmx256m',
    `-Dlog4j.configuration=file:${log4j}`,
    '-cp',
    cp,
    'kafka.tools.StorageTool',
    'format',
    '-t',
    kafkaClusterId(),
    '-c',
    props,
  ]);
  await fsp.writeFile(path.join(logsDir, 'format.out'), fmt.stdout + fmt.stderr);
  if (fmt.code !== 0) {
    const e = new HarnessError(`${PREFIX}: formatting Kafka storage failed`);
    e.logFile = path.join(logsDir, 'format.out');
    throw e;
  }
  return { kind: 'kafka', dir, port, controllerPort, props, log4j, cp, logsDir, logFile, java, brokers: `127.0.0.1:${port}` };
}

/** Start the broker of a `prepareKafka` preparation and wait until it answers. */
async function launchKafka(prep) {
  const { dir, port, controllerPort, props, log4j, cp, logsDir, logFile, java, brokers } = prep;
  const proc = spawnGroup(
    java.bin,
    [
      '-Xms256m',
      '-Xmx512m',
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-Djava.awt.headless=true',
      `-Dkafka.logs.dir=${logsDir}`,
      `-Dlog4j.configuration=file:${log4j}`,
      '-cp',
      cp,
      'kafka.Kafka',
      props,
    ],
    { cwd: dir, env: { ...process.env }, logFile },
  );
  const svc = { name: 'kafka', pid: proc.pid, port, controllerPort, brokers, dir, logFile, proc };
  try {
    await waitReady('Kafka', proc, logFile, () => kafkaAnswers(brokers, 2000), KAFKA_READY_TIMEOUT_MS);
    await kafkaWarmUp(brokers);
  } catch (e) {
    await stopGroup(proc.pid, 5000);
    e.service = svc;
    throw e;
  }
  return svc;
}

async function startKafkaOnce(runDir, libs, java) {
  return launchKafka(await prepareKafka(runDir, libs, java));
}

// ---------------------------------------------------------------------------
// Elasticsearch
// ---------------------------------------------------------------------------

let esUserCache = null;
/** When running as root: ensure the unprivileged system user exists; returns {uid, gid}. */
async function ensureEsUser() {
  if (esUserCache) return esUserCache;
  const lookup = async () => {
    const u = await run('id', ['-u', ES_USER]);
    const g = await run('id', ['-g', ES_USER]);
    return u.code === 0 && g.code === 0 ? { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) } : null;
  };
  let ids = await lookup();
  if (!ids) {
    if (!which('useradd')) {
      throw new HarnessError(
        `${PREFIX}: Elasticsearch refuses to run as root and \`useradd\` is missing to create the '${ES_USER}' user; run as a non-root user`,
      );
    }
    const res = await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', ES_USER]);
    ids = await lookup();
    if (!ids) throw new HarnessError(`${PREFIX}: could not create user '${ES_USER}': ${res.stderr.trim()}`);
  }
  if (!which('setpriv')) {
    throw new HarnessError(
      `${PREFIX}: Elasticsearch refuses to run as root and \`setpriv\` is missing to drop privileges; install it with \`apt-get install util-linux\` or run as a non-root user`,
    );
  }
  esUserCache = ids;
  return ids;
}

async function chownTree(p, uid, gid) {
  const st = await fsp.lstat(p);
  await fsp.lchown(p, uid, gid);
  if (st.isDirectory()) for (const e of await fsp.readdir(p)) await chownTree(path.join(p, e), uid, gid);
}

/** Hard-link copy of a directory tree (falls back to a plain copy across filesystems). */
async function linkTree(src, dest) {
  if (which('cp')) {
    const res = await run('cp', ['-al', src, dest]);
    if (res.code === 0) return;
    await fsp.rm(dest, { recursive: true, force: true });
  }
  await fsp.cp(src, dest, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
}

/**
 * Prepare an Elasticsearch run: its own dir (data, logs, config, tmp; a hard-linked home when root)
 * under `runDir` and two free ports. `launchElasticsearch` starts it; it can be stopped and launched
 * again from the same preparation (same ports, same data: a node restart).
 */
async function prepareElasticsearch(runDir, cachedHome, java) {
  const dir = await fsp.mkdtemp(path.join(runDir, 'es-'));
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const ids = asRoot ? await ensureEsUser() : null;
  await fsp.chmod(dir, 0o755);
  const dataDir = path.join(dir, 'data');
  const logsDir = path.join(dir, 'logs');
  const confDir = path.join(dir, 'config');
  const tmpDir = path.join(dir, 'tmp');
  for (const d of [dataDir, logsDir, tmpDir]) await fsp.mkdir(d);
  // Per-run config dir (ES writes its keystore there), so the cached home stays pristine.
  await fsp.cp(path.join(cachedHome, 'config'), confDir, { recursive: true });
  let home = cachedHome;
  if (asRoot) {
    // The cache usually lives under /root (mode 700) which the ES user cannot traverse:
    // run from a hard-linked copy inside the (traversable) run dir instead.
    home = path.join(dir, 'home');
    await linkTree(cachedHome, home);
    for (const d of [dataDir, logsDir, tmpDir, confDir]) await chownTree(d, ids.uid, ids.gid);
  }
  const [port, transportPort] = await freePorts(2);
  const settings = {
    'cluster.name': 'auditmesh-test',
    'node.name': 'auditmesh-test-node',
    'discovery.type': 'single-node',
    'network.host': '127.0.0.1',
    'http.port': String(port),
    'transport.port': String(transportPort),
    'path.data': dataDir,
    'path.logs': logsDir,
    'xpack.security.enabled': 'false',
    'xpack.ml.enabled': 'false',
    'cluster.routing.allocation.disk.threshold_enabled': 'false',
    'action.destructive_requires_name': 'false',
  };
  const esArgs = Object.entries(settings).map(([k, v]) => `-E${k}=${v}`);
  const env = {
    ...process.env,
    ES_JAVA_HOME: java.home,
    ES_JAVA_OPTS: '-Xms512m -Xmx512m',
    ES_PATH_CONF: confDir,
    ES_TMPDIR: tmpDir,
  };
  delete env.JAVA_HOME;
  const esBin = path.join(home, 'bin', 'elasticsearch');
  const logFile = path.join(logsDir, 'elasticsearch.out');
  const url = `http://127.0.0.1:${port}`;
  return { kind: 'elasticsearch', dir, port, transportPort, url, esBin, esArgs, env, asRoot, ids, logFile };
}

/** Start the node of a `prepareElasticsearch` preparation and wait until it answers (yellow or green). */
async function launchElasticsearch(prep) {
  const { dir, port, transportPort, url, esBin, esArgs, asRoot, ids, logFile } = prep;
  const env = { ...prep.env };
  let proc;
  if (asRoot) {
    env.HOME = dir;
    env.USER = ES_USER;
    env.LOGNAME = ES_USER;
    proc = spawnGroup('setpriv', [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', esBin, ...esArgs], {
      cwd: dir,
      env,
      logFile,
    });
  } else {
    proc = spawnGroup(esBin, esArgs, { cwd: dir, env, logFile });
  }
  const svc = { name: 'elasticsearch', pid: proc.pid, port, transportPort, url, dir, logFile, proc };
  try {
    await waitReady('Elasticsearch', proc, logFile, () => elasticsearchAnswers(url, 1000), ES_READY_TIMEOUT_MS);
  } catch (e) {
    await stopGroup(proc.pid, 5000);
    e.service = svc;
    throw e;
  }
  return svc;
}

async function startElasticsearchOnce(runDir, cachedHome, java) {
  return launchElasticsearch(await prepareElasticsearch(runDir, cachedHome, java));
}

// ---------------------------------------------------------------------------
// Start / stop
// ---------------------------------------------------------------------------

/** Start a service, retrying once (fresh ports) if it died on a port bind conflict. */
async function withBindRetry(name, fn, log) {
  try {
    return await fn();
  } catch (e) {
    if (e.exitedEarly && e.logFile && BIND_CONFLICT.test(tail(e.logFile, 200))) {
      log(`${name}: port conflict, retrying once with new ports`);
      return await fn();
    }
    throw e;
  }
}

/**
 * Start Kafka and Elasticsearch in parallel. Returns a serializable handle:
 * { runDir, kafka: {pid, port, controllerPort, brokers, logFile}, elasticsearch: {pid, port, url, logFile}, env }.
 */
async function startAll({ log = defaultLog } = {}) {
  const t0 = Date.now();
  // Check prerequisites before downloading or starting anything.
  const java = await findJava();
  if (!fs.existsSync(path.join(cacheDir(), `kafka-${KAFKA_VERSION}`, 'libs', `kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar`))) {
    requireMaven();
  }
  const runDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'auditmesh-infra-'));
  createdRunDirs.add(runDir);
  await fsp.chmod(runDir, 0o755);

  const kafkaP = (async () => {
    const t = Date.now();
    const libs = await ensureKafka(log);
    const svc = await withBindRetry('Kafka', () => startKafkaOnce(runDir, libs, java), log);
    log(`Kafka ${KAFKA_VERSION} ready at ${svc.brokers} in ${secs(Date.now() - t)}`);
    return svc;
  })();
  const esP = (async () => {
    const t = Date.now();
    const home = await ensureElasticsearch(log);
    const svc = await withBindRetry('Elasticsearch', () => startElasticsearchOnce(runDir, home, java), log);
    log(`Elasticsearch ${ES_VERSION} ready at ${svc.url} in ${secs(Date.now() - t)}`);
    return svc;
  })();

  const [k, e] = await Promise.allSettled([kafkaP, esP]);
  if (k.status === 'rejected' || e.status === 'rejected') {
    // Stop whatever did come up, keep the logs, report.
    if (k.status === 'fulfilled') await stopGroup(k.value.pid);
    if (e.status === 'fulfilled') await stopGroup(e.value.pid);
    const errors = [k, e].filter((r) => r.status === 'rejected').map((r) => r.reason);
    await removeDataKeepLogs(runDir);
    const parts = [];
    for (const err of errors) {
      if (!err || !err.harness) {
        parts.push(`${PREFIX}: ${err && err.stack ? err.stack : String(err)}`);
        continue;
      }
      parts.push(err.message);
      if (err.logFile) parts.push(`--- last 40 lines of ${err.logFile} ---\n${tail(err.logFile, 40)}`);
    }
    parts.push(`(logs kept in ${runDir})`);
    createdRunDirs.delete(runDir);
    throw new HarnessError(parts.join('\n'));
  }
  const kafka = k.value;
  const es = e.value;
  log(`infra ready in ${secs(Date.now() - t0)} (run dir ${runDir})`);
  return {
    runDir,
    startedAt: new Date().toISOString(),
    kafka: { pid: kafka.pid, port: kafka.port, controllerPort: kafka.controllerPort, brokers: kafka.brokers, logFile: kafka.logFile },
    elasticsearch: { pid: es.pid, port: es.port, transportPort: es.transportPort, url: es.url, logFile: es.logFile },
    env: { [ENV_KAFKA]: kafka.brokers, [ENV_ES]: es.url },
    // non-serializable ChildProcess objects, used by unref()
    _children: [kafka.proc.child, es.proc.child],
  };
}

async function removeDataKeepLogs(runDir) {
  try {
    for (const svc of await fsp.readdir(runDir)) {
      for (const sub of ['data', 'home', 'tmp']) {
        await fsp.rm(path.join(runDir, svc, sub), { recursive: true, force: true });
      }
    }
  } catch {
    /* best effort */
  }
}

/** Let the calling Node process exit while the servers keep running. */
function unref(handle) {
  for (const c of handle._children || []) {
    c.unref();
  }
}

/** Stop both services (process groups), verify nothing remains, delete the run dir. */
async function stopAll(handle, { log = defaultLog } = {}) {
  if (!handle) return;
  const t0 = Date.now();
  const pids = [handle.kafka?.pid, handle.elasticsearch?.pid].filter(Boolean);
  const results = await Promise.all(pids.map((p) => stopGroup(p)));
  const left = pids.filter((p, i) => !results[i]);
  if (left.length) {
    throw new HarnessError(`${PREFIX}: process group(s) ${left.join(', ')} still running after SIGKILL`);
  }
  if (handle.runDir) {
    await fsp.rm(handle.runDir, { recursive: true, force: true });
    createdRunDirs.delete(handle.runDir);
  }
  log(`infra stopped in ${secs(Date.now() - t0)}`);
}

// ---------------------------------------------------------------------------
// A dedicated server that a test may stop and start again (fault injection)
// ---------------------------------------------------------------------------

/**
 * Start ONE Kafka broker or ONE Elasticsearch node in its own run dir, for a test that stops it
 * (the shared servers of globalSetup must never be stopped: other suites use them). Returns:
 *
 *   { kind, runDir, port, brokers | url, logFile, pid(), running(),
 *     stop({ signal }), start(), dispose() }
 *
 * `stop()` ends the process group (SIGTERM, then SIGKILL after the grace; `{ signal: 'SIGKILL' }`
 * kills at once) and keeps the data; `start()` launches it again on the SAME ports with the SAME
 * data dir (retrying for a while if the port is still held); `dispose()` stops it and deletes the
 * run dir. Everything it spawned is also covered by abortSync().
 */
async function startDedicated(kind, { log = defaultLog } = {}) {
  if (kind !== 'kafka' && kind !== 'elasticsearch') throw new TypeError(`startDedicated: kind must be 'kafka' or 'elasticsearch' (got ${kind})`);
  const t0 = Date.now();
  const java = await findJava();
  const runDir = await fsp.mkdtemp(path.join(os.tmpdir(), `auditmesh-${kind}-`));
  createdRunDirs.add(runDir);
  await fsp.chmod(runDir, 0o755);
  const name = kind === 'kafka' ? 'Kafka' : 'Elasticsearch';
  let prep;
  let svc;
  try {
    const prepare = kind === 'kafka' ? async () => prepareKafka(runDir, await ensureKafka(log), java) : async () => prepareElasticsearch(runDir, await ensureElasticsearch(log), java);
    const launch = kind === 'kafka' ? launchKafka : launchElasticsearch;
    svc = await withBindRetry(name, async () => launch((prep = await prepare())), log);
  } catch (e) {
    await removeDataKeepLogs(runDir);
    createdRunDirs.delete(runDir);
    const parts = [e && e.harness ? e.message : `${PREFIX}: ${e && e.stack ? e.stack : e}`];
    if (e && e.logFile) parts.push(`--- last 40 lines of ${e.logFile} ---\n${tail(e.logFile, 40)}`);
    parts.push(`(logs kept in ${runDir})`);
    throw new HarnessError(parts.join('\n'));
  }
  log(`dedicated ${name} ready at ${prep.brokers ?? prep.url} in ${secs(Date.now() - t0)}`);
  const launch = kind === 'kafka' ? launchKafka : launchElasticsearch;
  let current = svc;
  const handle = {
    kind,
    runDir,
    port: prep.port,
    logFile: prep.logFile,
    ...(kind === 'kafka' ? { brokers: prep.brokers } : { url: prep.url }),
    pid: () => current && current.pid,
    running: () => Boolean(current && groupAlive(current.pid)),
    async stop({ signal = 'SIGTERM' } = {}) {
      if (!current) return;
      const pid = current.pid;
      const t = Date.now();
      if (signal === 'SIGKILL') signalGroup(pid, 'SIGKILL');
      if (!(await stopGroup(pid))) throw new HarnessError(`${PREFIX}: ${name} (process group ${pid}) still running after SIGKILL`);
      current = undefined;
      log(`dedicated ${name} stopped (${signal}) in ${secs(Date.now() - t)}`);
    },
    async start() {
      if (current) throw new HarnessError(`${PREFIX}: dedicated ${name} is already running`);
      const t = Date.now();
      // The old process's listener may linger for a moment (or a client took the port as its
      // ephemeral port): retry the bind on the same port for up to a minute.
      for (let attempt = 1; ; attempt++) {
        try {
          current = await launch(prep);
          break;
        } catch (e) {
          const bind = e.exitedEarly && e.logFile && BIND_CONFLICT.test(tail(e.logFile, 200));
          if (!bind || attempt >= 12) {
            const parts = [e && e.harness ? e.message : String(e)];
            if (e && e.logFile) parts.push(`--- last 40 lines of ${e.logFile} ---\n${tail(e.logFile, 40)}`);
            throw new HarnessError(parts.join('\n'));
          }
          log(`dedicated ${name}: port ${prep.port} still in use, retrying`);
          await sleep(5000);
        }
      }
      log(`dedicated ${name} restarted at ${prep.brokers ?? prep.url} in ${secs(Date.now() - t)}`);
    },
    async dispose() {
      try {
        if (current && !(await stopGroup(current.pid))) throw new HarnessError(`${PREFIX}: ${name} (process group ${current.pid}) still running after SIGKILL`);
        current = undefined;
      } finally {
        await fsp.rm(runDir, { recursive: true, force: true });
        createdRunDirs.delete(runDir);
      }
    },
  };
  return handle;
}

/** Synchronous last-resort cleanup for process 'exit' handlers. */
function killSync(handle) {
  if (!handle) return;
  for (const p of [handle.kafka?.pid, handle.elasticsearch?.pid]) if (p) signalGroup(p, 'SIGKILL');
  if (handle.runDir) {
    try {
      fs.rmSync(handle.runDir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
}

function serializable(handle) {
  const { _children, ...rest } = handle;
  return rest;
}

// ---------------------------------------------------------------------------
// State file (for the by-hand CLI)
// ---------------------------------------------------------------------------

function readState() {
  try {
    return JSON.parse(fs.readFileSync(stateFile(), 'utf8'));
  } catch {
    return null;
  }
}

function writeState(state) {
  fs.mkdirSync(cacheDir(), { recursive: true });
  const tmp = `${stateFile()}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(serializable(state), null, 2) + '\n');
  fs.renameSync(tmp, stateFile());
}

function removeState(expectedRunDir) {
  const s = readState();
  if (s && expectedRunDir && s.runDir !== expectedRunDir) return; // someone else's
  fs.rmSync(stateFile(), { force: true });
}

function envLines(env) {
  return Object.entries(env)
    .map(([k, v]) => `export ${k}=${v}`)
    .join('\n');
}

module.exports = {
  KAFKA_VERSION,
  ES_VERSION,
  ENV_KAFKA,
  ENV_ES,
  HarnessError,
  cacheDir,
  stateFile,
  findJava,
  ensureKafka,
  ensureElasticsearch,
  startAll,
  stopAll,
  startDedicated,
  stopGroup,
  groupAlive,
  killSync,
  abortSync,
  unref,
  serializable,
  kafkaAnswers,
  elasticsearchAnswers,
  readState,
  writeState,
  removeState,
  envLines,
};
