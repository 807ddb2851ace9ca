import { ConfigError } from '../../errors';

/**
 * Istio's default TEXT access-log format (Istio ≥ 1.24), from istio/istio
 * `pilot/pkg/model/telemetry_logging.go` (`EnvoyTextLogFormat`).
 */
export const ISTIO_TEXT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% ' +
  '%BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% ' +
  '%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n';

/** Istio < 1.24: same positions, `%UPSTREAM_CLUSTER%` instead of `%UPSTREAM_CLUSTER_RAW%`. */
export const ISTIO_TEXT_FORMAT_PRE_1_24 = ISTIO_TEXT_FORMAT.replace('%UPSTREAM_CLUSTER_RAW%', '%UPSTREAM_CLUSTER%');

/** Envoy's own default format string (Envoy docs, "Default Format String"; also Ambassador's after `ACCESS `). */
export const ENVOY_DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" ' +
  '"%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/** Text formats tried in order when `textFormat` is not set. */
export const DEFAULT_TEXT_FORMATS: readonly string[] = [ISTIO_TEXT_FORMAT, ISTIO_TEXT_FORMAT_PRE_1_24, ENVOY_DEFAULT_FORMAT];

/**
 * Istio's default JSON access-log keys (`meshConfig.accessLogEncoding: JSON`, `EnvoyJSONLogFormatIstio`).
 * `upstream_cluster` is `%UPSTREAM_CLUSTER%` before Istio 1.25; both map to the same field.
 */
export const ISTIO_JSON_FORMAT: Readonly<Record<string, string>> = {
  start_time: '%START_TIME%',
  route_name: '%ROUTE_NAME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER_RAW%',
  upstream_local_address: '%UPSTREAM_LOCAL_ADDRESS%',
  downstream_local_address: '%DOWNSTREAM_LOCAL_ADDRESS%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
  upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
};

/**
 * JSON keys accepted on top of Istio's, for custom JSON formats that add identity and trace context
 * (names are ours: no Istio default carries them).
 */
export const EXTRA_JSON_KEYS: Readonly<Record<string, string>> = {
  traceparent: '%REQ(TRACEPARENT)%',
  trace_id: '%TRACE_ID%',
  x_b3_traceid: '%REQ(X-B3-TRACEID)%',
  x_b3_spanid: '%REQ(X-B3-SPANID)%',
  x_b3_parentspanid: '%REQ(X-B3-PARENTSPANID)%',
  b3: '%REQ(B3)%',
  downstream_peer_uri_san: '%DOWNSTREAM_PEER_URI_SAN%',
  peer_principal: '%DOWNSTREAM_PEER_URI_SAN%',
  authorization: '%REQ(AUTHORIZATION)%',
  dynamic_metadata: '%DYNAMIC_METADATA(envoy.filters.http.jwt_authn)%',
  jwt_authn: '%DYNAMIC_METADATA(envoy.filters.http.jwt_authn)%',
};

export const ENVOY_FORMATS = ['auto', 'json', 'text'] as const;
export type EnvoyFormat = (typeof ENVOY_FORMATS)[number];

export interface EnvoyOptions {
  /**
   * `auto` (default): a line starting with `{` is JSON (an Envoy/Istio JSON access log, or a Kubernetes
   * container-log wrapper `{"message": ...}` / `{"log": ...}` around a text line), anything else is text.
   * `json` / `text` force one of the two.
   */
  format: EnvoyFormat;
  /**
   * Envoy format string(s) of the TEXT access log, tried in order; the first that matches the line wins.
   * Default: Istio's default text format (≥ 1.24 and < 1.24, same positions), then Envoy's own default
   * format. An `ACCESS ` prefix (Ambassador/Emissary) is accepted in front of any of them.
   */
  textFormat: string | readonly string[];
  /**
   * Extra JSON keys of a custom `json_format`: key → Envoy operator, e.g. `{ "tp": "%REQ(TRACEPARENT)%" }`.
   * Dotted keys address nested objects (`"req.trace": ...`). Merged over Istio's default JSON keys and the
   * extra keys in `EXTRA_JSON_KEYS` (a key given here wins). Default: empty (Istio's keys only).
   */
  jsonFormat: Readonly<Record<string, string>>;
  /**
   * Request header that carries the verified JWT payload (Istio `outputPayloadToHeader`, Envoy
   * `forward_payload_header`) when a custom format logs it with `%REQ(<header>)%`; as a JSON key it is
   * also accepted with `-` replaced by `_`. Case-insensitive. Default `x-jwt-payload`; empty disables.
   */
  jwtPayloadHeader: string;
}

export const DEFAULT_ENVOY_OPTIONS: Readonly<EnvoyOptions> = Object.freeze({
  format: 'auto',
  textFormat: DEFAULT_TEXT_FORMATS,
  jsonFormat: {},
  jwtPayloadHeader: 'x-jwt-payload',
});

/** Apply defaults and check types. Throws ConfigError naming the key and the fix (start-up only). */
export function resolveOptions(options: (Partial<EnvoyOptions> & { format?: string }) | undefined): EnvoyOptions {
  const o = (options ?? {}) as Record<string, unknown>;
  const format = o['format'] ?? DEFAULT_ENVOY_OPTIONS.format;
  if (typeof format !== 'string' || !(ENVOY_FORMATS as readonly string[]).includes(format)) {
    throw new ConfigError(`envoy.format: must be one of ${ENVOY_FORMATS.join(', ')} (got ${JSON.stringify(format)})`);
  }
  let textFormat: string | readonly string[] = DEFAULT_ENVOY_OPTIONS.textFormat;
  const tf = o['textFormat'];
  if (tf !== undefined) {
    const list = Array.isArray(tf) ? tf : [tf];
    if (list.length === 0 || !list.every((s) => typeof s === 'string' && s.trim() !== '')) {
      throw new ConfigError(
        `envoy.textFormat: must be an Envoy format string or a non-empty list of them (got ${JSON.stringify(tf)})`,
      );
    }
    textFormat = list as string[];
  }
  const jf = o['jsonFormat'] ?? {};
  if (typeof jf !== 'object' || jf === null || Array.isArray(jf)) {
    throw new ConfigError(`envoy.jsonFormat: must be a map of JSON key → Envoy operator (got ${JSON.stringify(jf)})`);
  }
  for (const [k, v] of Object.entries(jf)) {
    if (typeof v !== 'string' || !/^%[A-Z][A-Z0-9_]*(\(.*\))?(:\d+)?%$/.test(v)) {
      throw new ConfigError(
        `envoy.jsonFormat.${k}: must be one Envoy operator such as "%REQ(TRACEPARENT)%" (got ${JSON.stringify(v)})`,
      );
    }
  }
  const jh = o['jwtPayloadHeader'] ?? DEFAULT_ENVOY_OPTIONS.jwtPayloadHeader;
  if (typeof jh !== 'string') {
    throw new ConfigError(`envoy.jwtPayloadHeader: must be a header name such as "x-jwt-payload" (got ${JSON.stringify(jh)})`);
  }
  return { format: format as EnvoyFormat, textFormat, jsonFormat: jf as Record<string, string>, jwtPayloadHeader: jh };
}
