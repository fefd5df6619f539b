import { z } from 'zod';
import { host, nonNegativeInt, port, positiveInt } from './common.ts';

/** Owner: src/ingest. One entry per listener; each type lives in src/ingest/listeners/<type>.ts. */
const tcpListener = z
  .object({
    type: z.literal('tcp').describe('Plain MQTT over TCP.'),
    host: host.default('127.0.0.1').describe('Address to bind. 0.0.0.0 / :: for every interface.'),
    port: port.default(1883).describe('TCP port; 0 picks a free one (logged at startup).'),
  })
  .strict();
const tlsListener = z
  .object({
    type: z.literal('tls').describe('MQTT over TLS.'),
    host: host.default('0.0.0.0').describe('Address to bind.'),
    port: port.default(8883).describe('TCP port; 0 picks a free one.'),
    cert: z.string().min(1).describe('Path to the PEM server certificate (chain).'),
    key: z.string().min(1).describe('Path to the PEM private key.'),
    ca: z.string().min(1).optional().describe('Path to PEM CA bundle used to verify client certificates.'),
    requestCert: z
      .boolean()
      .default(false)
      .describe('Ask devices for a client certificate (CN/SAN = device id). Needs `ca`.'),
  })
  .strict()
  .refine((l) => !l.requestCert || l.ca !== undefined, {
    path: ['ca'],
    message: 'requestCert needs a CA bundle to verify client certificates',
  });
const wsListener = z
  .object({
    type: z.literal('ws').describe('MQTT over WebSocket (subprotocol mqtt).'),
    host: host.default('127.0.0.1').describe('Address to bind.'),
    port: port.default(8080).describe('TCP port; 0 picks a free one.'),
    path: z.string().default('/mqtt').describe('HTTP path of the WebSocket endpoint.'),
  })
  .strict();

export const listenerSchema = z.discriminatedUnion('type', [tcpListener, tlsListener, wsListener]);

export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;

export const limitsSchema = z
  .object({
    maxPayloadBytes: positiveInt
      .default(DEFAULT_MAX_PAYLOAD_BYTES)
      .describe('Largest PUBLISH payload accepted (bytes).'),
    maxConnections: positiveInt.default(20_000).describe('Concurrent MQTT connections across all listeners.'),
    maxKeepaliveSeconds: positiveInt
      .max(65535)
      .default(1200)
      .describe(
        'Largest keepalive a client may ask for (s). Larger: CONNACK 2 "identifier rejected", as Mosquitto does for MQTT 3.1.1.',
      ),
    requireKeepalive: z
      .boolean()
      .default(false)
      .describe(
        'Refuse keepalive 0 ("no keepalive", legal in MQTT 3.1.1 and the default of several clients) by closing the connection, counted as keepalive-required. Off: such clients are kept until TCP notices they are gone.',
      ),
    maxClientIdLength: positiveInt.max(65535).default(128).describe('Longer client ids: CONNACK 2.'),
    maxTopicLength: positiveInt
      .max(65535)
      .default(512)
      .describe('Longer PUBLISH topics close the connection.'),
    maxTopicLevels: positiveInt.max(100).default(16).describe('More levels close the connection.'),
    publishRate: z
      .object({
        perSecond: positiveInt.default(200).describe('Sustained publishes per second per device.'),
        burst: positiveInt.default(400).describe('Token bucket size.'),
        overLimitMqtt5: z
          .enum(['backpressure', 'refuse'])
          .default('backpressure')
          .describe(
            'MQTT 5 publishes over the rate. "backpressure": socket reads pause, as for MQTT 3.1.1. "refuse": each one is answered PUBACK/PUBREC 0x97 quota exceeded (QoS 0: only counted), nothing of it is stored, it is counted as rate-limited and logged once per connection. MQTT 3.1.1 has no negative acknowledgement and always gets backpressure.',
          ),
      })
      .strict()
      .prefault({})
      .describe(
        'Per-device token bucket. Over the rate, socket reads pause (backpressure); nothing is dropped. MQTT 5: see overLimitMqtt5.',
      ),
    maxInflightPerClient: positiveInt
      .default(1000)
      .describe('Appends awaiting durability per connection before reads pause.'),
  })
  .strict();

export const authThrottleSchema = z
  .object({
    maxFailures: positiveInt
      .default(5)
      .describe('Failed logins allowed per window, per address and per device id.'),
    windowMs: positiveInt.default(60_000).describe('Window in which failures are counted (ms).'),
    blockMs: positiveInt.default(300_000).describe('How long an address or device id stays blocked (ms).'),
  })
  .strict();

/** Filters in the sessions ACL: MQTT topic filters; in deviceFilters `{deviceId}` stands for a whole level. */
const filterTemplate = z
  .string()
  .min(1)
  .max(512)
  .refine(
    (f) =>
      f
        .split('/')
        .every((l, i, all) => (l !== '#' || i === all.length - 1) && (l.length <= 1 || !/[+#]/.test(l))),
    {
      message: 'expected an MQTT topic filter ("+" and "#" alone in their level, "#" last)',
    },
  );

export const DEFAULT_DEVICE_FILTER = 'devices/{deviceId}/commands/#';

/** Owner: src/ingest/sessions. Off by default: ingest-only, as before sessions existed. */
export const sessionsSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        "Durable MQTT sessions and subscriptions (3.1/3.1.1 and 5), kept in the log's LMDB environment: subscriptions (per the ACL below), in-flight QoS 1/2 state, offline queues, session-present, MQTT 5 Session Expiry, 3.1.1 wills across a crash, retained messages, and the downlink (broker-to-device messages). Off: every SUBSCRIBE is refused (SUBACK 0x80 for 3.1.1, 0x87 for MQTT 5, counted as subscribe-denied), no session state is kept, and retained messages and wills are only appended to the log.",
      ),
    deviceFilters: z
      .array(filterTemplate)
      .default([DEFAULT_DEVICE_FILTER])
      .describe(
        'Filters an authenticated device may subscribe to; `{deviceId}` is replaced by its id. A SUBSCRIBE filter is granted when every topic it matches is matched by one of these (equal or narrower), else answered 0x80 and counted as subscribe-denied.',
      ),
    anonymousFilters: z
      .array(filterTemplate)
      .default([])
      .describe(
        'Filters an anonymous client (see mqtt.allowAnonymous, e.g. "loopback" for apps on the gateway) may subscribe to, e.g. ["#"]. Empty: anonymous clients may not subscribe.',
      ),
    forwardDevicePublishes: z
      .boolean()
      .default(false)
      .describe(
        'Deliver what devices publish to matching subscribers, as a normal broker does, once it is durably in the log (after the append that precedes the PUBACK/PUBREC). Device retained messages are then kept too. Off: subscribers get only downlink messages.',
      ),
    maxQueuedPerSession: positiveInt
      .default(1000)
      .describe(
        'QoS 1/2 messages held for one persistent session (offline queue plus unacknowledged in flight). Beyond it a new message is not queued for that session: counted in outpost_mqtt_session_dropped_total and logged.',
      ),
    maxSessionExpirySeconds: nonNegativeInt
      .max(4_294_967_295, 'at most 4294967295 (never expires)')
      .default(604_800)
      .describe(
        'The longest Session Expiry Interval an MQTT 5 session gets (seconds; 4294967295: never expires). A CONNECT asking for more is clamped and told so in the CONNACK. A session whose interval passed with no connection open is removed (subscriptions, queued messages), counted in outpost_mqtt_sessions_expired_total. 0: MQTT 5 sessions end with their connection. MQTT 3.1.1 persistent sessions never expire.',
      ),
    maxRetained: positiveInt
      .default(10_000)
      .describe(
        'Retained topics kept. A retained message on a new topic beyond it is not kept (still delivered and in the log): counted in outpost_mqtt_session_dropped_total{reason="retained-full"}.',
      ),
  })
  .strict();

export const mqttSchema = z
  .object({
    listeners: z
      .array(listenerSchema)
      .min(1, 'declare at least one listener')
      .describe('MQTT listeners (tcp, tls, ws). Changes need a restart.'),
    allowAnonymous: z
      .union([z.boolean(), z.literal('loopback')])
      .default(false)
      .describe('Anonymous CONNECT: false, true, or "loopback" (only from 127.0.0.0/8 and ::1).'),
    limits: limitsSchema.prefault({}).describe('Per-connection and per-device limits.'),
    authThrottle: authThrottleSchema
      .prefault({})
      .describe('Failed-login throttle per client address and per device id.'),
    drainTimeoutMs: nonNegativeInt
      .default(10_000)
      .describe(
        'A client that does not read its acknowledgements for this long is disconnected (ms). 0: never.',
      ),
    connectTimeoutMs: positiveInt.default(30_000).describe('Time from TCP accept to CONNECT (ms).'),
    sessions: sessionsSchema
      .prefault({})
      .describe(
        'Durable sessions, subscriptions and the downlink (MQTT 3.1/3.1.1 and 5). Off by default. Changes need a restart.',
      ),
  })
  .strict();

export type ListenerConfig = z.infer<typeof listenerSchema>;
export type MqttConfig = z.infer<typeof mqttSchema>;
export type SessionsConfig = z.infer<typeof sessionsSchema>;
