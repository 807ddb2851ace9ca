/**
 * Semantic access-log fields, named after Istio's JSON keys, and the Envoy operators that produce them.
 * Both the text matcher and the JSON mapper turn a line into `AccessFields` first; `event.ts` maps those
 * to ECS once.
 */

export type FieldName =
  | 'start_time'
  | 'method'
  | 'path'
  | 'protocol'
  | 'response_code'
  | 'response_flags'
  | 'response_code_details'
  | 'connection_termination_details'
  | 'upstream_transport_failure_reason'
  | 'bytes_received'
  | 'bytes_sent'
  | 'duration'
  | 'upstream_service_time'
  | 'x_forwarded_for'
  | 'user_agent'
  | 'request_id'
  | 'authority'
  | 'upstream_host'
  | 'upstream_cluster'
  | 'upstream_local_address'
  | 'downstream_local_address'
  | 'downstream_remote_address'
  | 'downstream_direct_remote_address'
  | 'requested_server_name'
  | 'route_name'
  | 'traceparent'
  | 'trace_id'
  | 'x_b3_traceid'
  | 'x_b3_spanid'
  | 'x_b3_parentspanid'
  | 'b3'
  | 'downstream_peer_uri_san'
  | 'authorization'
  | 'jwt_payload'
  | 'jwt_authn';

/** Field values: strings from text lines; strings, numbers, objects or null from JSON lines. */
export type AccessFields = Partial<Record<FieldName, unknown>> & {
  /** strftime format of `start_time` when the operator was `%START_TIME(fmt)%`. */
  startTimeFormat?: string;
};

/** Fields whose values may contain spaces even outside quotes (they cannot be told apart otherwise). */
export const FREE_TEXT_FIELDS: ReadonlySet<FieldName> = new Set<FieldName>([
  'user_agent',
  'x_forwarded_for',
  'authorization',
  'upstream_transport_failure_reason',
  'jwt_authn',
]);

const REQ_HEADERS: Readonly<Record<string, FieldName>> = {
  ':method': 'method',
  ':path': 'path',
  'x-envoy-original-path': 'path',
  'x-forwarded-for': 'x_forwarded_for',
  'user-agent': 'user_agent',
  'x-request-id': 'request_id',
  ':authority': 'authority',
  host: 'authority',
  traceparent: 'traceparent',
  'x-b3-traceid': 'x_b3_traceid',
  'x-b3-spanid': 'x_b3_spanid',
  'x-b3-parentspanid': 'x_b3_parentspanid',
  b3: 'b3',
  authorization: 'authorization',
};

const COMMANDS: Readonly<Record<string, FieldName>> = {
  START_TIME: 'start_time',
  START_TIME_LOCAL: 'start_time',
  PROTOCOL: 'protocol',
  RESPONSE_CODE: 'response_code',
  RESPONSE_FLAGS: 'response_flags',
  RESPONSE_FLAGS_LONG: 'response_flags',
  RESPONSE_CODE_DETAILS: 'response_code_details',
  CONNECTION_TERMINATION_DETAILS: 'connection_termination_details',
  UPSTREAM_TRANSPORT_FAILURE_REASON: 'upstream_transport_failure_reason',
  BYTES_RECEIVED: 'bytes_received',
  BYTES_SENT: 'bytes_sent',
  DURATION: 'duration',
  UPSTREAM_HOST: 'upstream_host',
  UPSTREAM_REMOTE_ADDRESS: 'upstream_host',
  UPSTREAM_CLUSTER: 'upstream_cluster',
  UPSTREAM_CLUSTER_RAW: 'upstream_cluster',
  UPSTREAM_LOCAL_ADDRESS: 'upstream_local_address',
  DOWNSTREAM_LOCAL_ADDRESS: 'downstream_local_address',
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: 'downstream_local_address',
  DOWNSTREAM_REMOTE_ADDRESS: 'downstream_remote_address',
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: 'downstream_remote_address',
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: 'downstream_direct_remote_address',
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: 'downstream_direct_remote_address',
  REQUESTED_SERVER_NAME: 'requested_server_name',
  ROUTE_NAME: 'route_name',
  TRACE_ID: 'trace_id',
  DOWNSTREAM_PEER_URI_SAN: 'downstream_peer_uri_san',
  PATH: 'path',
};

/** Envoy's jwt_authn filter name, the dynamic-metadata namespace of the verified payload. */
export const JWT_AUTHN_NAMESPACE = 'envoy.filters.http.jwt_authn';

/**
 * The semantic field an operator fills, or undefined for operators we do not map (they still match).
 * `jwtPayloadHeader` is the lower-case header name of Istio's `outputPayloadToHeader`.
 */
export function fieldForOperator(command: string, arg: string | undefined, jwtPayloadHeader: string): FieldName | undefined {
  if (command === 'REQ' || command === 'REQUEST_HEADER') {
    if (arg === undefined) return undefined;
    // `%REQ(X?Y)%`: header X, else Y. Either name identifies the field (X-ENVOY-ORIGINAL-PATH?:PATH).
    for (const h of arg.split('?')) {
      const name = h.trim().toLowerCase();
      if (name === '') continue;
      if (jwtPayloadHeader !== '' && name === jwtPayloadHeader) return 'jwt_payload';
      const f = REQ_HEADERS[name];
      if (f) return f;
    }
    return undefined;
  }
  if (command === 'RESP' || command === 'RESPONSE_HEADER') {
    return arg?.trim().toLowerCase() === 'x-envoy-upstream-service-time' ? 'upstream_service_time' : undefined;
  }
  if (command === 'DYNAMIC_METADATA' || command === 'METADATA') {
    // %DYNAMIC_METADATA(envoy.filters.http.jwt_authn[:payload])% or %METADATA(REQUEST:envoy.filters.http.jwt_authn...)%
    return arg !== undefined && arg.includes('jwt_authn') ? 'jwt_authn' : undefined;
  }
  return COMMANDS[command];
}
