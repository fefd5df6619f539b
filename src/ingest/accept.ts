/**
 * Every accepted connection: its CONNECT protocol level (sniff.ts) hands it to aedes (3.1, 3.1.1)
 * or to the MQTT 5 front (mqtt5/). aedes connections get the parser guard (wire.ts).
 */
import type { Aedes, Client as AedesClient } from 'aedes';
import type { Config } from '../config/index.ts';
import type { ConnectionRegistry } from './connections.ts';
import type { Refuse } from './lifecycle.ts';
import type { Accept } from './listeners/common.ts';
import { Mqtt5Front } from './mqtt5/front.ts';
import type { PublishPipeline } from './pipeline.ts';
import { sniffProtocol } from './sniff.ts';
import { guardParser, violationReason } from './wire.ts';

export interface AcceptDeps {
  config: () => Config;
  broker: Aedes;
  mqtt5: Mqtt5Front;
  connections: ConnectionRegistry;
  pipeline: PublishPipeline;
  refuse: Refuse;
}

export function acceptor(deps: AcceptDeps): Accept {
  const { connections, mqtt5, refuse } = deps;
  return (stream, meta, req) => {
    connections.accepted(stream, meta);
    const closedEarly = (): void => connections.socketClosed(stream as never);
    stream.once('close', closedEarly);
    sniffProtocol(
      stream,
      deps.config().mqtt.connectTimeoutMs,
      (protocol) => {
        stream.removeListener('close', closedEarly);
        const owner =
          protocol === 'mqtt5' ? mqtt5.accept(stream, meta) : acceptAedes(deps, stream, meta, req);
        stream.once('close', () => {
          connections.socketClosed(owner as never);
          if (Mqtt5Front.isMqtt5(owner)) owner.closeWill(connections.stateOf(owner as never));
        });
      },
      () => {
        refuse('connect-timeout', { remoteAddress: meta.remoteAddress, listener: meta.listener });
        stream.destroy();
      },
    );
  };
}

function acceptAedes(
  deps: AcceptDeps,
  stream: Parameters<Accept>[0],
  meta: Parameters<Accept>[1],
  req: Parameters<Accept>[2],
): AedesClient {
  const client = deps.broker.handle(stream as never, req as never) as unknown as AedesClient;
  guardParser(
    client,
    () => deps.config().mqtt.limits,
    (err, close) => {
      // Counted and logged once here; aedes reports the error again when `close` hands it over.
      (err as { outpostCounted?: boolean }).outpostCounted = true;
      deps.refuse(violationReason(err), {
        clientId: client.id ?? undefined,
        remoteAddress: meta.remoteAddress,
        listener: meta.listener,
        err: err.message,
      });
      const state = deps.connections.stateOf(client);
      if (state === undefined || state.closed) close();
      else deps.pipeline.closeAfterAcks(state, close);
    },
  );
  return client;
}
