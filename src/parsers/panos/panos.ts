import type { IdentityClaim, JoinKeys, ParsedEvent, ParseResult, RawRecord } from '../../model/events';
import { decodeText, eventId, guard } from '../common';
import type { Parser } from '../types';
import { rowFromCef } from './cef';
import type { ResolvedPanosOptions } from './config';
import { splitCsv, syslogBodyStart } from './csv';
import { GLOBALPROTECT as GP, HEADER, layoutFor, THREAT as TH, TRAFFIC as TR, USERID as UID } from './fields';
import { isoTime, parsePanosTime } from './time';
import { isIp, splitThreat, splitUrl, splitUser, toPort, toUint, type UserRef } from './values';

type Rec = Record<string, unknown>;

/** Earliest high-resolution timestamp taken as real: PAN-OS writes 1970-01-01 when it has none. */
const MIN_REAL_TIME_MS = Date.UTC(2000, 0, 1);

/** Elastic panw pipeline: THREAT/TRAFFIC subtype → event.action. */
const ACTION_BY_SUBTYPE: ReadonlyMap<string, string> = new Map(Object.entries({
  start: 'flow_started',
  end: 'flow_terminated',
  drop: 'flow_dropped',
  deny: 'flow_denied',
  data: 'data_match',
  file: 'file_match',
  flood: 'flood_detected',
  packet: 'packet_attack',
  scan: 'scan_detected',
  spyware: 'spyware_detected',
  url: 'url_filtering',
  virus: 'virus_detected',
  vulnerability: 'exploit_detected',
  wildfire: 'wildfire_verdict',
  'wildfire-virus': 'wildfire_virus_detected',
}));

/** Elastic panw pipeline: traffic subtype → extra event.type values. */
const TRAFFIC_TYPES: ReadonlyMap<string, readonly string[]> = new Map(Object.entries({
  start: ['start', 'connection'],
  end: ['end', 'connection'],
  drop: ['denied', 'connection'],
  deny: ['denied', 'connection'],
}));

const ALLOWED_ACTIONS = new Set(['alert', 'allow', 'continue']);
const DENIED_ACTIONS = new Set([
  'deny',
  'drop',
  'drop-icmp',
  'reset-client',
  'reset-server',
  'reset-both',
  'block-url',
  'block-ip',
  'random-drop',
  'sinkhole',
  'block',
  'block-continue',
  'block-override',
  'override-lockout',
]);

/** Threat severity → ECS event.severity (Elastic's numbering: critical 1 … informational 5). */
const SEVERITY: ReadonlyMap<string, number> = new Map(Object.entries({ critical: 1, high: 2, medium: 3, low: 4, informational: 5 }));

/** Users that name no one: GlobalProtect logs `pre-logon` before the user signs in. */
const NOT_A_USER = new Set(['pre-logon', 'unknown', 'any']);

const OBSERVER_VENDOR = 'Palo Alto Networks';
const OBSERVER_PRODUCT = 'PAN-OS';

/** Set `k` unless the value is absent or empty. */
function put(o: Rec, k: string, v: unknown): void {
  if (v !== undefined && v !== '') o[k] = v;
}

function hasKeys(o: Rec): boolean {
  for (const _ in o) return true;
  return false;
}

/** Attach `child` under `k` when it has any key. */
function attach(o: Rec, k: string, child: Rec): void {
  if (hasKeys(child)) o[k] = child;
}

const col = (row: string[], i: number): string => (i < row.length ? row[i]! : '');

/** PAN-OS writes 0.0.0.0 (or ::) with port 0 when no NAT applied. */
const isUnsetAddr = (ip: string): boolean => ip === '0.0.0.0' || ip === '::';

function reject(code: 'invalid_field' | 'wrong_field_count' | 'unknown_type' | 'unsupported_format', reason: string, field?: string): ParseResult {
  return { ok: false, rejection: field === undefined ? { code, reason } : { code, reason, field } };
}

/** Shared state while one row is mapped. */
interface Ctx {
  raw: RawRecord;
  row: string[];
  opts: ResolvedPanosOptions;
  type: string;
  subtype: string;
  receivedMs: number;
  generatedMs: number;
  /** ISO forms of the two header times (validated in mapRow). */
  receivedIso: string;
  generatedIso: string;
}

function addressCheck(row: string[], index: number, name: string): ParseResult | undefined {
  const v = col(row, index);
  if (v === '' || isIp(v)) return undefined;
  return reject('invalid_field', `${name} "${v.slice(0, 64)}" is not an IP address`, name);
}

function userObject(u: UserRef | undefined): Rec | undefined {
  if (u === undefined || u.name === undefined) return undefined;
  return u.domain === undefined ? { name: u.name } : { name: u.name, domain: u.domain };
}

function userClaim(subject: string, id: string): IdentityClaim {
  return { method: 'firewall_userid', subject, source: 'panos', strength: 'network', verdict: 'unverifiable', eventId: id };
}

/** High-resolution timestamp when the row has a real one, else the generated time. */
function eventTimeMs(c: Ctx, highResIndex: number): { ms: number; highRes?: string } {
  const hr = col(c.row, highResIndex);
  if (hr !== '') {
    const t = parsePanosTime(hr, c.opts.tzOffsetMs);
    const iso = t >= MIN_REAL_TIME_MS ? isoTime(t) : undefined;
    if (iso !== undefined) return { ms: t, highRes: iso };
  }
  return { ms: c.generatedMs };
}

function observer(row: string[], serial: string, deviceName: string): Rec {
  const o: Rec = { vendor: OBSERVER_VENDOR, product: OBSERVER_PRODUCT, type: 'firewall' };
  put(o, 'serial_number', serial);
  put(o, 'hostname', deviceName);
  return o;
}

function baseEvent(c: Ctx, kind: string, tsMs: number, ecs: Rec, join: JoinKeys, claims: IdentityClaim[], id: string): ParsedEvent {
  return {
    id,
    source: 'panos',
    kind,
    timestamp: tsMs === c.generatedMs ? c.generatedIso : isoTime(tsMs)!,
    ecs,
    join,
    claims,
    ref: c.raw.ref,
  };
}

function related(ips: (string | undefined)[], users: (string | undefined)[], hosts: (string | undefined)[]): Rec {
  const r: Rec = {};
  const ip: string[] = [];
  for (const v of ips) if (v && !isUnsetAddr(v) && !ip.includes(v)) ip.push(v);
  const user: string[] = [];
  for (const v of users) if (v && !user.includes(v)) user.push(v);
  const host: string[] = [];
  for (const v of hosts) if (v && !host.includes(v)) host.push(v);
  if (ip.length) r.ip = ip;
  if (user.length) r.user = user;
  if (host.length) r.hosts = host;
  return r;
}

/** App-ID metadata columns of 10.2+ rows, under panw.panos.application. */
function application(row: string[], L: typeof TR | typeof TH): Rec {
  const a: Rec = {};
  if (row.length <= L.subcategory_of_app) return a;
  put(a, 'sub_category', col(row, L.subcategory_of_app));
  put(a, 'category', col(row, L.category_of_app));
  put(a, 'technology', col(row, L.technology_of_app));
  put(a, 'risk_level', toUint(col(row, L.risk_of_app)));
  put(a, 'characteristics', col(row, L.characteristic_of_app));
  put(a, 'container', col(row, L.container_of_app));
  put(a, 'tunneled', col(row, L.tunneled_app));
  put(a, 'is_saas', col(row, L.is_saas_of_app));
  put(a, 'is_sanctioned', col(row, L.sanctioned_state_of_app));
  return a;
}

/** TRAFFIC and THREAT share columns 7–30 (addresses, users, zones, ports, protocol, action). */
function mapSession(c: Ctx, L: typeof TR | typeof TH): ParseResult | ParsedEvent {
  const { row } = c;
  for (const [i, name] of [
    [L.src, 'src'],
    [L.dst, 'dst'],
    [L.natsrc, 'natsrc'],
    [L.natdst, 'natdst'],
  ] as const) {
    const bad = addressCheck(row, i, name);
    if (bad) return bad;
  }
  const isTraffic = c.type === 'TRAFFIC';
  const id = eventId(c.raw);
  const src = row[L.src]!;
  const dst = row[L.dst]!;
  const natsrc = row[L.natsrc]!;
  const natdst = row[L.natdst]!;
  const sport = toPort(row[L.sport]);
  const dport = toPort(row[L.dport]);
  const natsport = toPort(row[L.natsport]);
  const natdport = toPort(row[L.natdport]);
  const action = row[L.action]!;
  const subtype = c.subtype;
  const deviceName = col(row, L.device_name);
  const ruleName = row[L.rule]!;
  const sessionId = row[L.sessionid]!;

  const panos: Rec = { type: c.type, sub_type: subtype };
  put(panos, 'action', action);
  put(panos, 'ruleset', ruleName);
  put(panos, 'flow_id', sessionId);
  put(panos, 'virtual_sys', row[L.vsys]);
  put(panos, 'vsys_name', col(row, L.vsys_name));
  put(panos, 'repeat_count', toUint(row[L.repeatcnt]));
  put(panos, 'log_profile', row[L.logset]);
  put(panos, 'sequence_number', col(row, L.seqno));
  put(panos, 'action_flags', col(row, L.actionflags));
  put(panos, 'tunnel_type', col(row, L.tunnel));
  put(panos, 'parent_session', col(row, L.parent_session_id) === '' ? undefined : { id: col(row, L.parent_session_id) });

  // source / destination
  const source: Rec = {};
  put(source, 'ip', src);
  put(source, 'port', sport);
  if (natsrc !== '' && !(isUnsetAddr(natsrc) && !natsport)) {
    const nat: Rec = { ip: natsrc };
    put(nat, 'port', natsport);
    source.nat = nat;
  }
  const destination: Rec = {};
  put(destination, 'ip', dst);
  put(destination, 'port', dport);
  if (natdst !== '' && !(isUnsetAddr(natdst) && !natdport)) {
    const nat: Rec = { ip: natdst };
    put(nat, 'port', natdport);
    destination.nat = nat;
  }
  const srcUser = splitUser(row[L.srcuser]!);
  const dstUser = splitUser(row[L.dstuser]!);
  if (srcUser?.xff !== undefined) panos.x_forwarded_for = srcUser.xff;
  const su = userObject(srcUser);
  const du = userObject(dstUser);
  if (su) source.user = su;
  if (du) destination.user = du;

  // event
  const event: Rec = { kind: isTraffic ? 'event' : 'alert' };
  event.category = isTraffic ? ['network'] : ['intrusion_detection', 'threat', 'network'];
  put(event, 'action', ACTION_BY_SUBTYPE.get(subtype));
  event.outcome = isTraffic ? (action === 'allow' ? 'success' : 'failure') : ALLOWED_ACTIONS.has(action) ? 'success' : 'failure';
  const types: string[] = [];
  if (ALLOWED_ACTIONS.has(action)) types.push('allowed');
  else if (DENIED_ACTIONS.has(action)) types.push('denied');
  if (isTraffic) {
    const extra = TRAFFIC_TYPES.get(subtype);
    if (extra) for (const t of extra) if (!types.includes(t)) types.push(t);
  }
  if (types.length) event.type = types;
  event.created = c.receivedIso;
  event.timezone = c.opts.tzName;

  const network: Rec = {};
  const proto = row[L.proto]!;
  if (proto !== '') network.transport = proto.toLowerCase();
  const app = row[L.app]!;
  if (app !== '') network.application = app.toLowerCase();
  if (src !== '') network.type = src.indexOf(':') >= 0 ? 'ipv6' : 'ipv4';

  const obs = observer(row, row[HEADER.serial]!, deviceName);
  const ingress: Rec = {};
  put(ingress, 'zone', row[L.from]);
  if (row[L.inbound_if]) ingress.interface = { name: row[L.inbound_if] };
  attach(obs, 'ingress', ingress);
  const egress: Rec = {};
  put(egress, 'zone', row[L.to]);
  if (row[L.outbound_if]) egress.interface = { name: row[L.outbound_if] };
  attach(obs, 'egress', egress);

  const rule: Rec = {};
  put(rule, 'name', ruleName);
  put(rule, 'uuid', col(row, L.rule_uuid));

  const ecs: Rec = { event, source, destination, network, observer: obs };
  if (su) ecs.user = { ...su };
  if (hasKeys(rule)) ecs.rule = rule;

  const join: JoinKeys = {};
  if (src !== '') join.clientIp = src;
  if (sport !== undefined) join.clientPort = sport;
  if (source.nat) {
    join.natClientIp = natsrc;
    if (natsport !== undefined) join.natClientPort = natsport;
  }
  if (dst !== '') join.serverIp = dst;
  if (dport !== undefined) join.serverPort = dport;
  if (destination.nat) {
    join.natServerIp = natdst;
    if (natdport !== undefined) join.natServerPort = natdport;
  }
  if (sessionId !== '') join.sessionId = sessionId;

  const { ms: tsMs, highRes } = eventTimeMs(c, L.high_res_timestamp);
  if (highRes) panos.high_resolution_timestamp = highRes;

  const xffIp = col(row, L.xff_ip);
  if (xffIp !== '' && isIp(xffIp)) network.forwarded_ip = xffIp;

  if (isTraffic) {
    const T = TR;
    put(network, 'bytes', toUint(row[T.bytes]));
    put(network, 'packets', toUint(row[T.packets]));
    put(source, 'bytes', toUint(row[T.bytes_sent]));
    put(source, 'packets', toUint(col(row, T.pkts_sent)));
    put(destination, 'bytes', toUint(row[T.bytes_received]));
    put(destination, 'packets', toUint(col(row, T.pkts_received)));
    put(panos, 'endreason', col(row, T.session_end_reason));
    put(panos, 'action_source', col(row, T.action_source));
    const cat = row[T.category]!;
    if (cat !== '') panos.url = { category: cat };
    const elapsed = toUint(row[T.elapsed]);
    const startMs = parsePanosTime(row[T.start]!, c.opts.tzOffsetMs);
    if (elapsed !== undefined) {
      event.duration = elapsed * 1_000_000_000;
      panos.elapsed_time = elapsed;
    }
    const endMs = startMs + (elapsed ?? 0) * 1000;
    if (startMs >= MIN_REAL_TIME_MS && isoTime(endMs) !== undefined) {
      event.start = isoTime(startMs);
      event.end = isoTime(endMs);
      join.startMs = startMs;
      join.endMs = endMs;
    } else {
      join.startMs = tsMs;
      join.endMs = tsMs;
    }
    attach(panos, 'application', application(row, T));
  } else {
    const H = TH;
    const misc = row[H.misc]!;
    const threat = splitThreat(row[H.threatid]!);
    const t: Rec = {};
    put(t, 'id', threat.id);
    put(t, 'name', threat.name);
    attach(panos, 'threat', t);
    put(panos, 'threat_category', col(row, H.thr_category));
    put(panos, 'content_version', col(row, H.contentver));
    const cat = row[H.category]!;
    if (cat !== '') panos.url = { category: cat };
    const sev = row[H.severity]!.toLowerCase();
    if (sev !== '') {
      ecs.log = { level: sev };
      put(event, 'severity', SEVERITY.get(sev));
    }
    const dir = row[H.direction]!;
    network.direction =
      dir === 'client-to-server' || dir === '0' ? 'inbound' : dir === 'server-to-client' || dir === '1' ? 'outbound' : 'unknown';
    // URL / file name, by subtype (Elastic's rules)
    if (misc !== '') {
      const hasSlash = misc.indexOf('/') >= 0;
      if (subtype === 'url' || ((subtype === 'virus' || subtype === 'vulnerability') && hasSlash)) {
        const u = splitUrl(misc);
        const url: Rec = { original: u.original };
        put(url, 'scheme', u.scheme);
        put(url, 'domain', u.domain);
        put(url, 'port', u.port);
        put(url, 'path', u.path);
        put(url, 'query', u.query);
        put(url, 'extension', u.extension);
        ecs.url = url;
        if (u.domain !== undefined && u.port === undefined) destination.domain = u.domain;
      } else if (subtype === 'file' && (hasSlash || misc.indexOf('\\') >= 0)) {
        let k = misc.lastIndexOf('/');
        if (k < 0) k = misc.lastIndexOf('\\');
        ecs.file = { path: misc, name: misc.slice(k + 1) };
      } else if (subtype === 'file' || subtype === 'virus' || subtype === 'vulnerability' || subtype === 'wildfire') {
        ecs.file = { name: misc };
      } else {
        panos.misc = misc;
      }
    }
    const filetype = col(row, H.filetype);
    if (filetype !== '') ecs.file = { ...(ecs.file as Rec | undefined), type: filetype };
    const digest = col(row, H.filedigest);
    if (digest !== '') panos.file = { hash: digest };
    const http: Rec = {};
    const req: Rec = {};
    put(req, 'method', col(row, H.http_method));
    put(req, 'referrer', col(row, H.referer));
    attach(http, 'request', req);
    attach(ecs, 'http', http);
    const ua = col(row, H.user_agent);
    if (ua !== '') ecs.user_agent = { original: ua };
    const xff = col(row, H.xff);
    if (xff !== '') {
      if (isIp(xff)) network.forwarded_ip = xff;
      else if (panos.x_forwarded_for === undefined) panos.x_forwarded_for = xff;
    }
    const sender = col(row, H.sender);
    if (sender !== '') source.user = { ...(source.user as Rec | undefined), email: sender };
    const recipient = col(row, H.recipient);
    if (recipient !== '') destination.user = { ...(destination.user as Rec | undefined), email: recipient };
    put(panos, 'url_idx', col(row, H.url_idx));
    const list = col(row, H.url_category_list).trim();
    if (list !== '') panos.url_category_list = list.split(',');
    attach(panos, 'application', application(row, H));
    join.startMs = tsMs;
    join.endMs = tsMs;
  }

  ecs.related = related(
    [src, dst, (source.nat as Rec | undefined)?.ip as string | undefined, (destination.nat as Rec | undefined)?.ip as string | undefined],
    [su?.name as string | undefined, du?.name as string | undefined],
    [deviceName],
  );
  ecs.panw = { panos };

  const claims: IdentityClaim[] = [];
  if (srcUser?.name !== undefined && !NOT_A_USER.has(srcUser.name.toLowerCase())) claims.push(userClaim(row[L.srcuser]!.trim(), id));

  return baseEvent(c, isTraffic ? 'traffic' : 'threat', tsMs, ecs, join, claims, id);
}

function mapUserid(c: Ctx): ParseResult | ParsedEvent {
  const { row } = c;
  const L = UID;
  const bad = addressCheck(row, L.ip, 'ip');
  if (bad) return bad;
  const id = eventId(c.raw);
  const ip = row[L.ip]!;
  const logged = row[L.user]!.trim();
  const byName = col(row, L.userbysource);
  const u = splitUser(logged !== '' ? logged : byName);
  const user = userObject(u);

  const event: Rec = { kind: 'event', category: ['network', 'iam'] };
  put(event, 'code', row[L.eventid]);
  event.created = c.receivedIso;
  event.timezone = c.opts.tzName;

  const source: Rec = {};
  put(source, 'ip', ip);
  const sport = toPort(row[L.beginport]);
  put(source, 'port', sport);
  if (user) source.user = user;
  const destination: Rec = {};
  put(destination, 'port', toPort(row[L.endport]));

  const panos: Rec = { type: c.type, sub_type: c.subtype };
  put(panos, 'virtual_sys', row[L.vsys]);
  put(panos, 'datasourcename', row[L.datasourcename]);
  put(panos, 'datasource', row[L.datasource]);
  put(panos, 'datasourcetype', row[L.datasourcetype]);
  put(panos, 'repeat_count', toUint(row[L.repeatcnt]));
  put(panos, 'timeout', toUint(row[L.timeout]));
  put(panos, 'sequence_number', col(row, L.seqno));
  put(panos, 'action_flags', col(row, L.actionflags));
  put(panos, 'vsys_name', col(row, L.vsys_name));
  put(panos, 'vsys_id', col(row, L.vsys_id));
  put(panos, 'factortype', col(row, L.factortype));
  put(panos, 'factorcompletiontime', isoTime(parsePanosTime(col(row, L.factorcompletiontime), c.opts.tzOffsetMs)));
  put(panos, 'factorno', toUint(col(row, L.factorno)));
  put(panos, 'ugflags', col(row, L.ugflags));
  put(panos, 'user_by_source', byName);
  if (u?.xff !== undefined) panos.x_forwarded_for = u.xff;

  const deviceName = col(row, L.device_name);
  const { ms: tsMs, highRes } = eventTimeMs(c, L.high_res_timestamp);
  if (highRes) panos.high_resolution_timestamp = highRes;

  const ecs: Rec = { event, source };
  attach(ecs, 'destination', destination);
  if (user) ecs.user = { ...user };
  if (ip !== '') ecs.network = { type: ip.indexOf(':') >= 0 ? 'ipv6' : 'ipv4' };
  ecs.observer = observer(row, row[HEADER.serial]!, deviceName);
  ecs.related = related([ip], [user?.name as string | undefined], [deviceName]);
  ecs.panw = { panos };

  const join: JoinKeys = { startMs: tsMs, endMs: tsMs };
  if (ip !== '') join.clientIp = ip;
  if (sport) join.clientPort = sport;

  // A login maps the address to the user; a logout or timeout ends the mapping and names no one.
  const claims: IdentityClaim[] = [];
  if (c.subtype === 'login' && u?.name !== undefined && !NOT_A_USER.has(u.name.toLowerCase())) {
    claims.push(userClaim(logged !== '' ? logged : byName, id));
  }
  return baseEvent(c, 'userid', tsMs, ecs, join, claims, id);
}

function mapGlobalProtect(c: Ctx): ParseResult | ParsedEvent {
  const { row } = c;
  const L = GP;
  for (const [i, name] of [
    [L.public_ip, 'public_ip'],
    [L.public_ipv6, 'public_ipv6'],
    [L.private_ip, 'private_ip'],
    [L.private_ipv6, 'private_ipv6'],
  ] as const) {
    const bad = addressCheck(row, i, name);
    if (bad) return bad;
  }
  const id = eventId(c.raw);
  // Elastic: the private (tunnel) address is the source, the public one its NAT; IPv6 when the IPv4 one is unset.
  let srcIp = row[L.private_ip]!;
  const pv6 = row[L.private_ipv6]!;
  if ((srcIp === '' || srcIp === '0.0.0.0') && pv6 !== '' && pv6 !== '0.0.0.0') srcIp = pv6;
  let natIp = row[L.public_ip]!;
  const pubv6 = row[L.public_ipv6]!;
  if ((natIp === '' || natIp === '0.0.0.0') && pubv6 !== '' && pubv6 !== '0.0.0.0') natIp = pubv6;

  const logged = row[L.srcuser]!.trim();
  const u = splitUser(logged);
  const user = userObject(u);

  const event: Rec = { kind: 'event', category: ['network'] };
  put(event, 'code', row[L.eventid]);
  const status = row[L.status]!;
  if (status === 'success' || status === 'failure') event.outcome = status;
  put(event, 'reason', row[L.reason]);
  const duration = toUint(row[L.login_duration]);
  if (duration !== undefined) event.duration = duration * 1_000_000_000;
  event.created = c.receivedIso;
  event.timezone = c.opts.tzName;

  const source: Rec = {};
  put(source, 'ip', srcIp);
  if (natIp !== '') source.nat = { ip: natIp };
  if (user) source.user = user;

  const host: Rec = {};
  put(host, 'ip', srcIp);
  put(host, 'id', row[L.hostid]);
  put(host, 'name', row[L.machinename]);
  const os: Rec = {};
  put(os, 'family', row[L.client_os]);
  put(os, 'full', row[L.client_os_ver]);
  attach(host, 'os', os);

  const panos: Rec = { type: c.type, sub_type: c.subtype };
  put(panos, 'virtual_sys', row[L.vsys]);
  put(panos, 'stage', row[L.stage]);
  put(panos, 'auth_method', row[L.auth_method]);
  put(panos, 'tunnel_type', row[L.tunnel_type]);
  put(panos, 'serial_number', row[L.serialnumber]);
  put(panos, 'client_ver', row[L.client_ver]);
  put(panos, 'repeat_count', toUint(row[L.repeatcnt]));
  put(panos, 'error_message', row[L.error]);
  put(panos, 'description', row[L.opaque]);
  put(panos, 'connect_method', row[L.connect_method]);
  const ec = row[L.error_code]!;
  put(panos, 'error_code', ec === '' ? undefined : Number.isInteger(Number(ec)) ? Number(ec) : ec);
  put(panos, 'portal', row[L.portal]);
  put(panos, 'sequence_number', col(row, L.seqno));
  put(panos, 'action_flags', col(row, L.actionflags));
  put(panos, 'gateway', col(row, L.gateway));
  put(panos, 'priority', col(row, L.priority));
  put(panos, 'response_time', toUint(col(row, L.response_time)));
  if (u?.xff !== undefined) panos.x_forwarded_for = u.xff;

  const deviceName = col(row, L.device_name);
  const { ms: tsMs, highRes } = eventTimeMs(c, L.high_res_timestamp);
  if (highRes) panos.high_resolution_timestamp = highRes;

  const ecs: Rec = { event, source };
  if (user) ecs.user = { ...user };
  attach(ecs, 'host', host);
  if (srcIp !== '') ecs.network = { type: srcIp.indexOf(':') >= 0 ? 'ipv6' : 'ipv4' };
  ecs.observer = observer(row, row[HEADER.serial]!, deviceName);
  ecs.related = related([srcIp, natIp], [user?.name as string | undefined], [deviceName, row[L.machinename]]);
  ecs.panw = { panos };

  const join: JoinKeys = { startMs: tsMs, endMs: tsMs };
  if (srcIp !== '') join.clientIp = srcIp;
  if (natIp !== '') join.natClientIp = natIp;

  const claims: IdentityClaim[] = [];
  if (u?.name !== undefined && !NOT_A_USER.has(u.name.toLowerCase())) claims.push(userClaim(logged, id));
  return baseEvent(c, 'globalprotect', tsMs, ecs, join, claims, id);
}

/** SYSTEM, CONFIG, HIPMATCH, ...: the common header only. */
function mapOther(c: Ctx): ParsedEvent {
  const id = eventId(c.raw);
  const event: Rec = { kind: 'event', created: c.receivedIso, timezone: c.opts.tzName };
  const ecs: Rec = {
    event,
    observer: observer(c.row, c.row[HEADER.serial]!, ''),
    panw: { panos: { type: c.type, sub_type: c.subtype } },
  };
  return baseEvent(c, c.type.toLowerCase(), c.generatedMs, ecs, { startMs: c.generatedMs, endMs: c.generatedMs }, [], id);
}

/** Map one split row (CSV, or CEF rebuilt in CSV layout) to an event. */
export function mapRow(raw: RawRecord, row: string[], opts: ResolvedPanosOptions, resplit?: () => string[]): ParseResult {
  if (row.length < HEADER.type + 1) {
    return reject('unsupported_format', `not a PAN-OS CSV row or CEF record (${row.length} comma-separated fields)`);
  }
  let type = row[HEADER.type]!;
  let layout = layoutFor(type);
  if (layout === undefined) {
    type = type.trim().toUpperCase();
    layout = layoutFor(type);
  }
  if (layout === undefined) {
    return reject('unknown_type', `unknown PAN-OS log type "${row[HEADER.type]!.slice(0, 40)}" in column 4`, 'type');
  }
  if (type === 'TRAFFIC' && resplit !== undefined) row = resplit();
  if (row.length < layout.minColumns) {
    return reject(
      'wrong_field_count',
      `${type} row has ${row.length} columns; PAN-OS ${type} logs have at least ${layout.minColumns}`,
    );
  }
  const receivedMs = parsePanosTime(row[HEADER.receive_time]!, opts.tzOffsetMs);
  const receivedIso = isoTime(receivedMs);
  if (receivedIso === undefined) {
    return reject('invalid_field', `receive_time "${row[HEADER.receive_time]!.slice(0, 40)}" is not a PAN-OS time`, 'receive_time');
  }
  const generatedMs = parsePanosTime(row[HEADER.time_generated]!, opts.tzOffsetMs);
  const generatedIso = isoTime(generatedMs);
  if (generatedIso === undefined) {
    return reject('invalid_field', `time_generated "${row[HEADER.time_generated]!.slice(0, 40)}" is not a PAN-OS time`, 'time_generated');
  }
  const c: Ctx = { raw, row, opts, type, subtype: row[HEADER.subtype]!, receivedMs, generatedMs, receivedIso, generatedIso };
  let r: ParseResult | ParsedEvent;
  switch (layout.type) {
    case 'TRAFFIC':
      r = mapSession(c, TR);
      break;
    case 'THREAT':
      r = mapSession(c, TH);
      break;
    case 'USERID':
      r = mapUserid(c);
      break;
    case 'GLOBALPROTECT':
      r = mapGlobalProtect(c);
      break;
    default:
      r = mapOther(c);
  }
  return 'ok' in r ? r : { ok: true, events: [r] };
}

/** Parse one raw PAN-OS record (CSV or CEF, with or without syslog header) into one event. */
export function parsePanos(raw: RawRecord, opts: ResolvedPanosOptions): ParseResult {
  const text = decodeText(raw);
  if (typeof text !== 'string') return { ok: false, rejection: text };
  let line = text;
  const last = line.charCodeAt(line.length - 1);
  if (last === 10 || last === 13 || last === 32 || last === 9) line = line.trimEnd();
  const first = line.charCodeAt(0);
  if (first === 32 || first === 9 || first === 0xfeff) line = line.replace(/^[\s\uFEFF]+/, '');
  const start = syslogBodyStart(line);
  const body = start > 0 ? line.slice(start) : line;
  const isCef = body.startsWith('CEF:');
  if (isCef) {
    if (opts.format === 'csv') return reject('unsupported_format', 'CEF record received but format is csv; set format: auto or cef');
    const row = rowFromCef(body, opts.tzOffsetMs);
    if (!Array.isArray(row)) return { ok: false, rejection: row };
    return mapRow(raw, row, opts);
  }
  if (opts.format === 'cef') return reject('unsupported_format', 'record has no CEF: marker but format is cef; set format: auto or csv');
  const row = splitCsv(body);
  const resplit = body.indexOf('{') >= 0 ? () => splitCsv(body, true) : undefined;
  return mapRow(raw, row, opts, resplit);
}

/** The guarded parser function: bad input becomes a rejection, never an exception. */
export function createPanosParser(opts: ResolvedPanosOptions): Parser {
  return guard((raw) => parsePanos(raw, opts));
}
