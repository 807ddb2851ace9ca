import type { ParseRejection } from '../../model/events';
import { parseTzOffset } from './config';
import { GLOBALPROTECT as GP, HEADER, LAYOUTS, OTHER_LAYOUT, OTHER_TYPES, THREAT as TH, TRAFFIC as TR, USERID as UID } from './fields';
import { isoTime, parsePanosTime } from './time';
import { toUint } from './values';

/**
 * PAN-OS CEF (ArcSight Common Event Format), as produced by the firewall's "CEF" syslog custom
 * log format (Palo Alto's CEF configuration guide) and by Cortex Data Lake / Strata Logging
 * Service forwarding:
 *
 *   CEF:0|Palo Alto Networks|PAN-OS|10.1.0|end|TRAFFIC|1|rt=... src=... cs1Label=Rule cs1=...
 *
 * PAN-OS puts the subtype before the type (`|end|TRAFFIC|`, `|url|THREAT|`); Cortex Data Lake
 * reverses them (`|TRAFFIC|end|`); both are accepted. The record is rebuilt as a row in the CSV
 * layout of its type, so one mapping serves both formats. Custom fields are resolved by their
 * label (`cs1Label=Rule`), falling back to PAN-OS's default assignment when a label is absent.
 */

export interface CefRecord {
  version: string;
  vendor: string;
  product: string;
  deviceVersion: string;
  classId: string;
  name: string;
  severity: string;
  ext: Map<string, string>;
}

const KNOWN_TYPES = (t: string): boolean => Object.prototype.hasOwnProperty.call(LAYOUTS, t) || OTHER_TYPES.has(t);

function isKeyChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 /* _ */ || c === 45 /* - */ || c === 46 /* . */ || c === 91 || c === 93
  );
}

/** Undo CEF extension escapes: `\=` `\|` `\\` `\n` `\r`. */
function unescapeValue(v: string): string {
  if (v.indexOf('\\') < 0) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\' && i + 1 < v.length) {
      const n = v[++i]!;
      out += n === 'n' ? '\n' : n === 'r' ? '\r' : n;
    } else {
      out += c;
    }
  }
  return out;
}

/** True when the character at i is escaped by an odd run of backslashes before it. */
function escaped(s: string, i: number): boolean {
  let n = 0;
  for (let k = i - 1; k >= 0 && s.charCodeAt(k) === 92; k--) n++;
  return n % 2 === 1;
}

/** Parse `key=value key2=value with spaces ...` (values end where the next ` key=` starts). */
export function parseCefExtension(ext: string): Map<string, string> {
  const map = new Map<string, string>();
  let key: string | undefined;
  let valStart = 0;
  for (let j = ext.indexOf('='); j >= 0; j = ext.indexOf('=', j + 1)) {
    if (escaped(ext, j)) continue;
    let k = j - 1;
    while (k >= 0 && isKeyChar(ext.charCodeAt(k))) k--;
    if (k + 1 === j || (k >= 0 && ext.charCodeAt(k) !== 32)) continue; // not ` key=`: '=' inside a value
    if (key !== undefined) map.set(key, unescapeValue(ext.slice(valStart, Math.max(k, valStart)).trim()));
    key = ext.slice(k + 1, j);
    valStart = j + 1;
  }
  if (key !== undefined) map.set(key, unescapeValue(ext.slice(valStart).trim()));
  return map;
}

/** Split `CEF:0|vendor|product|version|class|name|severity|extension` (header escapes `\|` `\\`). */
export function parseCef(body: string): CefRecord | ParseRejection {
  if (!body.startsWith('CEF:')) return { code: 'unsupported_format', reason: 'record does not start with CEF:' };
  const parts: string[] = [];
  let seg = 4;
  let i = 4;
  while (parts.length < 7) {
    const bar = body.indexOf('|', i);
    if (bar < 0) break;
    if (escaped(body, bar)) {
      i = bar + 1;
      continue;
    }
    const part = body.slice(seg, bar);
    parts.push(part.indexOf('\\') >= 0 ? part.replace(/\\([|\\])/g, '$1') : part);
    seg = i = bar + 1;
  }
  if (parts.length < 7) {
    return { code: 'wrong_field_count', reason: `CEF header has ${parts.length + 1} of 8 |-separated fields` };
  }
  const [version, vendor, product, deviceVersion, classId, name, severity] = parts as [string, string, string, string, string, string, string];
  return { version, vendor, product, deviceVersion, classId, name, severity, ext: parseCefExtension(body.slice(seg)) };
}

const norm = (label: string): string => label.toLowerCase().replace(/[^a-z0-9]/g, '');

/** Custom-field keys, their PAN-OS default meaning, and the labels that name each meaning. */
const CUSTOM_KEYS = ['cs1', 'cs2', 'cs3', 'cs4', 'cs5', 'cs6', 'cn1', 'cn2', 'cn3', 'flexString1', 'flexString2', 'flexNumber1', 'flexNumber2'];
const DEFAULT_KEY: Readonly<Record<string, string>> = {
  rule: 'cs1',
  urlcategory: 'cs2',
  vsys: 'cs3',
  fromzone: 'cs4',
  tozone: 'cs5',
  logprofile: 'cs6',
  sessionid: 'cn1',
  packets: 'cn2',
  elapsed: 'cn3',
  flags: 'flexString1',
  direction: 'flexString2',
  bytes: 'flexNumber1',
};
const LABEL_ALIASES: Readonly<Record<string, readonly string[]>> = {
  rule: ['rule', 'rulename'],
  urlcategory: ['urlcategory', 'category'],
  vsys: ['virtualsystem', 'virtuallocation', 'vsys'],
  fromzone: ['sourcezone', 'fromzone'],
  tozone: ['destinationzone', 'tozone'],
  logprofile: ['logprofile', 'logsetting', 'logforwardingprofile'],
  sessionid: ['sessionid'],
  packets: ['packets', 'packetstotal', 'totalpackets'],
  elapsed: ['elapsedtimeinseconds', 'elapsedtime', 'sessionduration'],
  flags: ['flags'],
  direction: ['direction', 'directionofattack'],
  bytes: ['totalbytes', 'bytes'],
};

/** Resolves values by key, first present alias wins; custom fields by label. */
class Ext {
  private readonly byLabel = new Map<string, string>();
  constructor(private readonly m: Map<string, string>) {
    for (const k of CUSTOM_KEYS) {
      const label = m.get(`${k}Label`);
      const v = m.get(k);
      if (label !== undefined && v !== undefined) this.byLabel.set(norm(label), v);
    }
  }
  get(...keys: string[]): string {
    for (const k of keys) {
      const v = this.m.get(k);
      if (v !== undefined && v !== '') return v;
    }
    return '';
  }
  custom(meaning: string): string {
    for (const a of LABEL_ALIASES[meaning] ?? []) {
      const v = this.byLabel.get(a);
      if (v !== undefined) return v;
    }
    const dk = DEFAULT_KEY[meaning];
    if (dk !== undefined && !this.m.has(`${dk}Label`)) return this.m.get(dk) ?? '';
    return '';
  }
}

/** CEF time → ISO string (so the row mapper parses it like a CSV column); unparsable values pass through. */
function time(v: string, tzOffsetMs: number): string {
  if (v === '') return '';
  const t = parsePanosTime(v, tzOffsetMs);
  return Number.isNaN(t) ? v : (isoTime(t) ?? v);
}

/**
 * Rebuild a CEF record as a PAN-OS CSV row of its type. Returns a rejection for a malformed
 * header, a non-Palo Alto vendor or an unknown log type.
 */
export function rowFromCef(body: string, tzOffsetMs: number): string[] | ParseRejection {
  const cef = parseCef(body);
  if ('code' in cef) return cef;
  if (!/palo\s*alto/i.test(cef.vendor)) {
    return { code: 'unsupported_format', reason: `CEF vendor "${cef.vendor.slice(0, 40)}" is not Palo Alto Networks`, field: 'vendor' };
  }
  let type = cef.name.trim().toUpperCase();
  let subtype = cef.classId.trim();
  if (!KNOWN_TYPES(type)) {
    const alt = cef.classId.trim().toUpperCase();
    if (!KNOWN_TYPES(alt)) {
      return { code: 'unknown_type', reason: `unknown PAN-OS log type in CEF header "${cef.classId.slice(0, 40)}|${cef.name.slice(0, 40)}"`, field: 'type' };
    }
    type = alt;
    subtype = cef.name.trim();
  }
  const e = new Ext(cef.ext);
  const dtz = e.get('dtz');
  const tzFromRecord = dtz === '' ? undefined : parseTzOffset(dtz);
  const tz = tzFromRecord ?? tzOffsetMs;
  const layout = Object.prototype.hasOwnProperty.call(LAYOUTS, type) ? LAYOUTS[type as keyof typeof LAYOUTS] : OTHER_LAYOUT;
  const row: string[] = new Array<string>(layout.columns).fill('');
  const rt = e.get('rt', 'deviceReceiptTime');
  const generated = e.get('start', 'PanOSTimeGenerated') || rt;
  row[0] = '1';
  row[HEADER.receive_time] = time(rt || generated, tz);
  row[HEADER.serial] = e.get('deviceExternalId');
  row[HEADER.type] = type;
  row[HEADER.subtype] = subtype.toLowerCase();
  row[HEADER.config_ver] = e.get('PanOSConfigVersion');
  row[HEADER.time_generated] = time(generated, tz);

  if (type === 'TRAFFIC' || type === 'THREAT') {
    const L = type === 'TRAFFIC' ? TR : TH;
    row[L.src] = e.get('src', 'c6a2', 'sourceAddress');
    row[L.dst] = e.get('dst', 'c6a3', 'destinationAddress');
    row[L.natsrc] = e.get('sourceTranslatedAddress');
    row[L.natdst] = e.get('destinationTranslatedAddress');
    row[L.rule] = e.custom('rule');
    row[L.srcuser] = e.get('suser', 'suser0');
    row[L.dstuser] = e.get('duser', 'duser0');
    row[L.app] = e.get('app');
    row[L.vsys] = e.custom('vsys');
    row[L.from] = e.custom('fromzone');
    row[L.to] = e.custom('tozone');
    row[L.inbound_if] = e.get('deviceInboundInterface');
    row[L.outbound_if] = e.get('deviceOutboundInterface');
    row[L.logset] = e.custom('logprofile');
    row[L.sessionid] = e.custom('sessionid');
    row[L.repeatcnt] = e.get('cnt');
    row[L.sport] = e.get('spt');
    row[L.dport] = e.get('dpt');
    row[L.natsport] = e.get('sourceTranslatedPort');
    row[L.natdport] = e.get('destinationTranslatedPort');
    row[L.flags] = e.custom('flags');
    row[L.proto] = e.get('proto');
    row[L.action] = e.get('act');
    row[L.seqno] = e.get('externalId');
    row[L.actionflags] = e.get('PanOSActionFlags');
    row[L.srcloc] = e.get('PanOSSourceLocation', 'PanOSSrcLocation');
    row[L.dstloc] = e.get('PanOSDestinationLocation', 'PanOSDstLocation');
    row[L.dg_hier_level_1] = e.get('PanOSDGl1', 'PanOSDGHierarchyLevel1');
    row[L.dg_hier_level_2] = e.get('PanOSDGl2', 'PanOSDGHierarchyLevel2');
    row[L.dg_hier_level_3] = e.get('PanOSDGl3', 'PanOSDGHierarchyLevel3');
    row[L.dg_hier_level_4] = e.get('PanOSDGl4', 'PanOSDGHierarchyLevel4');
    row[L.vsys_name] = e.get('PanOSVsysName', 'PanOSVirtualSystemName');
    row[L.device_name] = e.get('dvchost');
    row[L.parent_session_id] = e.get('PanOSParentSessionID');
    row[L.tunnel] = e.get('PanOSTunnelType', 'PanOSTunnel');
    row[L.rule_uuid] = e.get('PanOSRuleUUID');
    row[L.http2_connection] = e.get('PanOSHTTP2Con', 'PanOSHTTP2Connection');
    row[L.xff_ip] = e.get('PanOSXFFAddress', 'PanOSX-Forwarded-ForIP');
    row[L.high_res_timestamp] = time(e.get('PanOSTimeGeneratedHighResolution', 'PanOSTimeGeneratedHighRes'), tz);
  }
  if (type === 'TRAFFIC') {
    const bytes = e.custom('bytes') || e.get('PanOSBytes');
    row[TR.bytes] = bytes;
    // PAN-OS CEF template: in=$bytes_sent out=$bytes_received
    row[TR.bytes_sent] = e.get('in');
    row[TR.bytes_received] = e.get('out');
    row[TR.packets] = e.custom('packets');
    row[TR.elapsed] = e.custom('elapsed');
    row[TR.category] = e.custom('urlcategory');
    row[TR.pkts_sent] = e.get('PanOSPacketsSent');
    row[TR.pkts_received] = e.get('PanOSPacketsReceived');
    row[TR.session_end_reason] = e.get('reason');
    row[TR.action_source] = e.get('cat');
    let start = time(e.get('PanOSSessionStartTime', 'PanOSStartTime'), tz);
    // The firewall's CEF template has no session start column: an end log is generated when the
    // session ends, so start ≈ generated time − elapsed.
    const elapsed = toUint(row[TR.elapsed]);
    if (start === '' && elapsed !== undefined && subtype.toLowerCase() === 'end') {
      const gen = parsePanosTime(row[HEADER.time_generated]!, tz);
      if (!Number.isNaN(gen)) start = isoTime(gen - elapsed * 1000) ?? '';
    }
    row[TR.start] = start;
  } else if (type === 'THREAT') {
    row[TH.misc] = e.get('request', 'PanOSMisc');
    row[TH.threatid] = e.get('PanOSThreatID', 'cat');
    row[TH.category] = e.custom('urlcategory');
    row[TH.severity] = e.get('PanOSSeverity').toLowerCase();
    row[TH.direction] = e.custom('direction').replace(/ /g, '-');
    row[TH.contenttype] = e.get('PanOSContentType');
    row[TH.pcap_id] = e.get('fileId');
    row[TH.filedigest] = e.get('fileHash', 'PanOSFileHash');
    row[TH.url_idx] = e.get('PanOSURLIndex', 'PanOSURLCounter');
    row[TH.user_agent] = e.get('requestClientApplication');
    row[TH.filetype] = e.get('fileType', 'PanOSFileType');
    row[TH.xff] = e.get('PanOSXForwardedFor', 'PanOSX-Forwarded-For');
    row[TH.referer] = e.get('requestContext', 'PanOSReferer');
    row[TH.sender] = e.get('PanOSSender', 'PanOSSenderEmail');
    row[TH.subject] = e.get('PanOSSubject', 'PanOSEmailSubject');
    row[TH.recipient] = e.get('PanOSRecipient', 'PanOSRecipientEmail');
    row[TH.reportid] = e.get('PanOSReportID');
    row[TH.http_method] = e.get('requestMethod', 'PanOSHTTPMethod');
    row[TH.thr_category] = e.get('PanOSThreatCategory');
    row[TH.contentver] = e.get('PanOSContentVer', 'PanOSContentVersion');
  } else if (type === 'USERID') {
    row[UID.vsys] = e.custom('vsys');
    row[UID.ip] = e.get('src', 'c6a2');
    row[UID.user] = e.get('suser', 'duser');
    row[UID.beginport] = e.get('spt');
    row[UID.endport] = e.get('dpt');
    row[UID.repeatcnt] = e.get('cnt');
    row[UID.seqno] = e.get('externalId');
    row[UID.device_name] = e.get('dvchost');
    row[UID.datasource] = e.get('PanOSDataSource');
    row[UID.datasourcetype] = e.get('PanOSDataSourceType');
    row[UID.timeout] = e.get('PanOSTimeout');
  } else if (type === 'GLOBALPROTECT') {
    row[GP.vsys] = e.custom('vsys');
    row[GP.eventid] = e.get('PanOSEventID', 'PanOSEventIDValue');
    row[GP.stage] = e.get('PanOSStage');
    row[GP.srcuser] = e.get('suser', 'duser');
    row[GP.public_ip] = e.get('src');
    row[GP.private_ip] = e.get('PanOSPrivateIP', 'PanOSPrivateIPv4');
    row[GP.private_ipv6] = e.get('PanOSPrivateIPv6');
    row[GP.machinename] = e.get('shost', 'PanOSMachineName');
    row[GP.status] = e.get('outcome', 'PanOSStatus').toLowerCase();
    row[GP.portal] = e.get('PanOSPortal');
    row[GP.seqno] = e.get('externalId');
    row[GP.device_name] = e.get('dvchost');
  }
  return row;
}
