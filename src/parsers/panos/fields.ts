/**
 * PAN-OS CSV column layouts by log type (0-based positions), named after the field names of
 * Palo Alto's "Syslog Field Descriptions" (PAN-OS 8.1 – 11.x). Every release only appends
 * columns, so positions are stable: 8.x rows stop early, 10.x/11.x rows are longer. A row must
 * reach `minColumns` (the classic prefix the parser relies on); missing trailing columns read as
 * empty and extra ones are ignored.
 */

/** Columns shared by every log type. */
export const HEADER = {
  receive_time: 1,
  serial: 2,
  type: 3,
  subtype: 4,
  config_ver: 5,
  time_generated: 6,
} as const;

/** TRAFFIC: 65 columns in 8.1, 115 in 11.x. */
export const TRAFFIC = {
  ...HEADER,
  src: 7,
  dst: 8,
  natsrc: 9,
  natdst: 10,
  rule: 11,
  srcuser: 12,
  dstuser: 13,
  app: 14,
  vsys: 15,
  from: 16,
  to: 17,
  inbound_if: 18,
  outbound_if: 19,
  logset: 20,
  sessionid: 22,
  repeatcnt: 23,
  sport: 24,
  dport: 25,
  natsport: 26,
  natdport: 27,
  flags: 28,
  proto: 29,
  action: 30,
  bytes: 31,
  bytes_sent: 32,
  bytes_received: 33,
  packets: 34,
  start: 35,
  elapsed: 36,
  category: 37,
  seqno: 39,
  actionflags: 40,
  srcloc: 41,
  dstloc: 42,
  pkts_sent: 44,
  pkts_received: 45,
  session_end_reason: 46,
  dg_hier_level_1: 47,
  dg_hier_level_2: 48,
  dg_hier_level_3: 49,
  dg_hier_level_4: 50,
  vsys_name: 51,
  device_name: 52,
  action_source: 53,
  parent_session_id: 58,
  parent_start_time: 59,
  tunnel: 60,
  // 9.0+
  rule_uuid: 65,
  http2_connection: 66,
  // 9.1+
  link_change_count: 67,
  link_switches: 69,
  dynusergroup_name: 74,
  xff_ip: 75,
  // 10.0+
  src_host: 82,
  src_mac: 83,
  dst_host: 90,
  dst_mac: 91,
  session_owner: 101,
  high_res_timestamp: 102,
  // 10.2+
  subcategory_of_app: 105,
  category_of_app: 106,
  technology_of_app: 107,
  risk_of_app: 108,
  characteristic_of_app: 109,
  container_of_app: 110,
  tunneled_app: 111,
  is_saas_of_app: 112,
  sanctioned_state_of_app: 113,
  offloaded: 114,
} as const;

/** THREAT (url, virus, vulnerability, spyware, scan, file, wildfire, data, flood, packet): 76 columns in 8.1, 121+ in 11.x. */
export const THREAT = {
  ...HEADER,
  src: 7,
  dst: 8,
  natsrc: 9,
  natdst: 10,
  rule: 11,
  srcuser: 12,
  dstuser: 13,
  app: 14,
  vsys: 15,
  from: 16,
  to: 17,
  inbound_if: 18,
  outbound_if: 19,
  logset: 20,
  sessionid: 22,
  repeatcnt: 23,
  sport: 24,
  dport: 25,
  natsport: 26,
  natdport: 27,
  flags: 28,
  proto: 29,
  action: 30,
  misc: 31,
  threatid: 32,
  category: 33,
  severity: 34,
  direction: 35,
  seqno: 36,
  actionflags: 37,
  srcloc: 38,
  dstloc: 39,
  contenttype: 41,
  pcap_id: 42,
  filedigest: 43,
  cloud: 44,
  url_idx: 45,
  user_agent: 46,
  filetype: 47,
  xff: 48,
  referer: 49,
  sender: 50,
  subject: 51,
  recipient: 52,
  reportid: 53,
  dg_hier_level_1: 54,
  dg_hier_level_2: 55,
  dg_hier_level_3: 56,
  dg_hier_level_4: 57,
  vsys_name: 58,
  device_name: 59,
  http_method: 63,
  parent_session_id: 66,
  parent_start_time: 67,
  tunnel: 68,
  thr_category: 69,
  contentver: 70,
  // 9.0+
  url_category_list: 75,
  rule_uuid: 76,
  http2_connection: 77,
  dynusergroup_name: 78,
  xff_ip: 79,
  src_host: 86,
  src_mac: 87,
  dst_host: 94,
  dst_mac: 95,
  partial_hash: 106,
  high_res_timestamp: 107,
  reason: 108,
  justification: 109,
  subcategory_of_app: 111,
  category_of_app: 112,
  technology_of_app: 113,
  risk_of_app: 114,
  characteristic_of_app: 115,
  container_of_app: 116,
  tunneled_app: 117,
  is_saas_of_app: 118,
  sanctioned_state_of_app: 119,
} as const;

/** USERID (login, logout, ...): 20 columns in 8.x, 32+ in 10.x. */
export const USERID = {
  ...HEADER,
  vsys: 7,
  ip: 8,
  user: 9,
  datasourcename: 10,
  eventid: 11,
  repeatcnt: 12,
  timeout: 13,
  beginport: 14,
  endport: 15,
  datasource: 16,
  datasourcetype: 17,
  seqno: 18,
  actionflags: 19,
  dg_hier_level_1: 20,
  dg_hier_level_2: 21,
  dg_hier_level_3: 22,
  dg_hier_level_4: 23,
  vsys_name: 24,
  device_name: 25,
  vsys_id: 26,
  factortype: 27,
  factorcompletiontime: 28,
  factorno: 29,
  ugflags: 30,
  userbysource: 31,
  tag_name: 32,
  high_res_timestamp: 33,
} as const;

/** GLOBALPROTECT (9.1+; subtype `0`/`globalprotect`, the event is in `eventid`): 36 columns, 49 in 10.x. */
export const GLOBALPROTECT = {
  ...HEADER,
  vsys: 7,
  eventid: 8,
  stage: 9,
  auth_method: 10,
  tunnel_type: 11,
  srcuser: 12,
  srcregion: 13,
  machinename: 14,
  public_ip: 15,
  public_ipv6: 16,
  private_ip: 17,
  private_ipv6: 18,
  hostid: 19,
  serialnumber: 20,
  client_ver: 21,
  client_os: 22,
  client_os_ver: 23,
  repeatcnt: 24,
  reason: 25,
  error: 26,
  opaque: 27,
  status: 28,
  location: 29,
  login_duration: 30,
  connect_method: 31,
  error_code: 32,
  portal: 33,
  seqno: 34,
  actionflags: 35,
  high_res_timestamp: 36,
  selection_type: 37,
  response_time: 38,
  priority: 39,
  attempted_gateways: 40,
  gateway: 41,
  dg_hier_level_1: 42,
  dg_hier_level_2: 43,
  dg_hier_level_3: 44,
  dg_hier_level_4: 45,
  vsys_name: 46,
  device_name: 47,
  vsys_id: 48,
} as const;

export type LogType = 'TRAFFIC' | 'THREAT' | 'USERID' | 'GLOBALPROTECT' | 'OTHER';

export interface Layout {
  type: LogType;
  /** Fewest columns accepted: the classic prefix through the last column the mapping needs. */
  minColumns: number;
  /** Column count of the full 11.x layout (CEF rows are built this long). */
  columns: number;
}

/** Fully mapped log types. */
export const LAYOUTS: Readonly<Record<Exclude<LogType, 'OTHER'>, Layout>> = {
  // through session_end_reason
  TRAFFIC: { type: 'TRAFFIC', minColumns: TRAFFIC.session_end_reason + 1, columns: TRAFFIC.offloaded + 1 },
  // through dstloc
  THREAT: { type: 'THREAT', minColumns: THREAT.dstloc + 1, columns: 123 },
  // through datasourcetype
  USERID: { type: 'USERID', minColumns: USERID.datasourcetype + 1, columns: USERID.high_res_timestamp + 1 },
  // through portal
  GLOBALPROTECT: { type: 'GLOBALPROTECT', minColumns: GLOBALPROTECT.portal + 1, columns: GLOBALPROTECT.vsys_id + 1 },
};

/**
 * Other PAN-OS log types: accepted with the common header only (kind = lower-cased type).
 * Anything else in the type column is rejected as `unknown_type`.
 */
export const OTHER_TYPES: ReadonlySet<string> = new Set([
  'SYSTEM',
  'CONFIG',
  'HIPMATCH',
  'HIP-MATCH',
  'AUTHENTICATION',
  'DECRYPTION',
  'TUNNEL',
  'START',
  'END',
  'GTP',
  'SCTP',
  'IPTAG',
  'CORRELATION',
  'AUDIT',
]);

export const OTHER_LAYOUT: Layout = { type: 'OTHER', minColumns: HEADER.time_generated + 1, columns: HEADER.time_generated + 1 };

/** Layout for a type column value, or undefined for an unknown type. */
export function layoutFor(type: string): Layout | undefined {
  switch (type) {
    case 'TRAFFIC':
      return LAYOUTS.TRAFFIC;
    case 'THREAT':
      return LAYOUTS.THREAT;
    case 'USERID':
      return LAYOUTS.USERID;
    case 'GLOBALPROTECT':
      return LAYOUTS.GLOBALPROTECT;
    default:
      return OTHER_TYPES.has(type) ? OTHER_LAYOUT : undefined;
  }
}
