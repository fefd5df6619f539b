/**
 * The admin HTTP server (node:http): /metrics, /healthz, /readyz, /v1/status,
 * /v1/offsets/translate and the status page at /.
 *
 * Bound to loopback by default. On any other address every path but /healthz needs
 * `Authorization: Bearer <http.token>` (or `?token=` for a browser opening the page); the config
 * schema refuses a non-loopback host without a token. A token that is set is enforced on loopback too.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { OutpostError } from '../../errors.ts';
import type { ServiceState } from '../state.ts';
import { renderPage } from './page.ts';
import { buildStatus, isReady } from './status.ts';
import { translateOffset } from './translate.ts';

export interface AdminServer {
  address(): { host: string; port: number };
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  extra: Record<string, string> = {},
) {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...extra,
  });
  res.end(body);
}

const json = (res: ServerResponse, status: number, value: unknown) =>
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`);

function authorized(req: IncomingMessage, url: URL, token: string): boolean {
  const header = req.headers.authorization ?? '';
  const given = header.startsWith('Bearer ') ? header.slice(7).trim() : (url.searchParams.get('token') ?? '');
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

const PAGE_CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'";

export async function startAdmin(state: ServiceState, registry: Registry): Promise<AdminServer> {
  const { host, port, token } = state.config.http;
  // A configured token is always enforced; off loopback one is mandatory.
  const needsToken = !isLoopback(host) || token !== undefined;
  if (needsToken && !token) {
    throw new OutpostError(
      'CONFIG_INVALID',
      `http.token is required when http.host (${host}) is not loopback`,
      {
        path: 'http.token',
      },
    );
  }
  const logger = state.logger.child({ module: 'http' });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    if (url.pathname === '/healthz') {
      json(res, 200, { status: 'ok', phase: state.phase });
      return;
    }
    if (needsToken && token && !authorized(req, url, token)) {
      logger.warn(
        { reason: 'unauthorized', path: url.pathname, remote: req.socket.remoteAddress },
        'admin request refused',
      );
      send(res, 401, 'text/plain; charset=utf-8', 'bearer token required\n', {
        'www-authenticate': 'Bearer',
      });
      return;
    }
    switch (url.pathname) {
      case '/readyz': {
        const ready = isReady(state);
        json(res, ready ? 200 : 503, { ready, phase: state.phase, logFull: state.log?.stats().full ?? null });
        return;
      }
      case '/metrics':
        send(res, 200, registry.contentType, await registry.metrics());
        return;
      case '/v1/status':
        json(res, 200, buildStatus(state));
        return;
      case '/v1/offsets/translate': {
        const r = translateOffset(state, url.searchParams);
        json(res, r.status, r.body);
        return;
      }
      case '/':
      case '/index.html':
        send(res, 200, 'text/html; charset=utf-8', renderPage(buildStatus(state)), {
          'content-security-policy': PAGE_CSP,
          'referrer-policy': 'no-referrer',
        });
        return;
      default:
        json(res, 404, { error: 'not found' });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err: String(err), path: req.url }, 'admin request failed');
      if (!res.headersSent) json(res, 500, { error: String(err) });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new OutpostError(
            'PORT_IN_USE',
            `http admin port ${host}:${port} is already in use; stop the other program or change http.port`,
            {
              reason: `${host}:${port}`,
              cause: err,
            },
          ),
        );
      } else reject(err);
    });
    server.listen({ host, port, exclusive: true }, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: () => ({ host: bound.address, port: bound.port }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
