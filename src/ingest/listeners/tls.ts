/**
 * MQTT over TLS (MQTT 3.1.1 §5.4.5, default port 8883). With `requestCert` the server asks for a
 * client certificate; a certificate that verifies against `ca` yields identities (subject CN and
 * subjectAltName DNS/URI/email entries) that src/devices matches against device ids. Connections
 * without a (valid) certificate are still accepted: they may log in with a password.
 */
import { readFileSync } from 'node:fs';
import { createServer, type TLSSocket } from 'node:tls';
import type { ListenerConfig } from '../../config/index.ts';
import { OutpostError } from '../../errors.ts';
import { type Accept, closeServer, type Listener, listen } from './common.ts';

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new OutpostError(
      'LISTENER_FAILED',
      `cannot read TLS ${what} ${path}: ${(cause as Error).message}`,
      {
        path,
        cause,
      },
    );
  }
}

/** Identities of a verified peer certificate; [] when there is none or it did not verify. */
export function certIdentities(socket: TLSSocket): string[] {
  if (!socket.authorized) return [];
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return [];
  const out: string[] = [];
  const cn = cert.subject?.CN;
  if (typeof cn === 'string') out.push(cn);
  else if (Array.isArray(cn)) out.push(...cn);
  for (const entry of (cert.subjectaltname ?? '').split(', ')) {
    const m = /^(DNS|URI|email):(.+)$/.exec(entry);
    if (m?.[2] && !out.includes(m[2])) out.push(m[2]);
  }
  return out;
}

/** A TLS handshake that failed before the connection reached the broker (counted and logged by ingest). */
export type HandshakeError = (err: Error, remoteAddress: string) => void;

export async function listenTls(
  cfg: Extract<ListenerConfig, { type: 'tls' }>,
  accept: Accept,
  onHandshakeError: HandshakeError,
): Promise<Listener> {
  const server = createServer(
    {
      cert: readPem(cfg.cert, 'certificate'),
      key: readPem(cfg.key, 'key'),
      ...(cfg.ca === undefined ? {} : { ca: readPem(cfg.ca, 'CA bundle') }),
      requestCert: cfg.requestCert,
      // Unverified or absent client certificates are not fatal: such clients get no cert identity.
      rejectUnauthorized: false,
    },
    (socket) => {
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 60_000); // liveness of clients with MQTT keepalive 0
      accept(socket, {
        listener: 'tls',
        remoteAddress: socket.remoteAddress ?? '',
        certIdentities: cfg.requestCert ? certIdentities(socket) : [],
      });
    },
  );
  // Failed handshakes never reach the broker, so aedes cannot report them: hand them to ingest.
  server.on('tlsClientError', (err, socket) => onHandshakeError(err, socket.remoteAddress ?? ''));
  const port = await listen(server, 'tls', cfg.host, cfg.port);
  return { type: 'tls', host: cfg.host, port, close: () => closeServer(server) };
}
