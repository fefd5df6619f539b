/**
 * sd_notify(3) from Node, without a compiler.
 *
 * The notify socket ($NOTIFY_SOCKET) is an AF_UNIX SOCK_DGRAM socket; Node's dgram module only
 * speaks UDP. Choices considered:
 * - `systemd-notify` / `socat` child processes: the sender is then a short-lived child, so the unit
 *   needs NotifyAccess=all and systemd must still find the (possibly exited) sender in the unit's
 *   cgroup: a known race that can drop READY=1 or WATCHDOG=1.
 * - `sd-notify` / `unix-dgram` npm packages: native addons compiled at install time (node-gyp, a C
 *   toolchain and libsystemd-dev on the gateway).
 * - koffi (chosen): a maintained FFI with prebuilt binaries for linux x64/arm64/arm/riscv64 shipped as
 *   npm optional packages. We call libc's socket(2)/sendto(2)/close(2) directly from the main PID, so
 *   the default NotifyAccess=main works and there is no race.
 *
 * Message format (sd_notify(3)): newline-separated KEY=VALUE assignments in one datagram.
 * Address: a path, or "@name" for the abstract namespace (leading NUL, no trailing NUL).
 */
import { endianness } from 'node:os';
import { OutpostError } from '../errors.ts';

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const SUN_PATH_MAX = 108;

type SendFn = (message: string) => void;

export interface Notifier {
  /** True when $NOTIFY_SOCKET is set and the FFI loaded. */
  readonly enabled: boolean;
  notify(message: string): void;
  ready(status?: string): void;
  stopping(status?: string): void;
  status(text: string): void;
  /** Starts WATCHDOG=1 pings at half of $WATCHDOG_USEC, driven by the event loop. */
  startWatchdog(): void;
  close(): void;
}

/** sockaddr_un for `path` ("@x" = abstract), with its length. */
export function sockaddrUn(path: string): { addr: Buffer; len: number } {
  const abstract = path.startsWith('@');
  const name = Buffer.from(abstract ? path.slice(1) : path);
  if (name.length + (abstract ? 1 : 0) >= SUN_PATH_MAX) {
    throw new OutpostError('SYSCALL_FAILED', `NOTIFY_SOCKET path too long: ${path}`, { path });
  }
  const addr = Buffer.alloc(2 + SUN_PATH_MAX);
  if (endianness() === 'LE') addr.writeUInt16LE(AF_UNIX, 0);
  else addr.writeUInt16BE(AF_UNIX, 0);
  if (abstract) {
    name.copy(addr, 3); // addr[2] stays 0
    return { addr, len: 2 + 1 + name.length };
  }
  name.copy(addr, 2);
  return { addr, len: 2 + name.length + 1 };
}

async function loadSender(socketPath: string): Promise<{ send: SendFn; close: () => void }> {
  const { default: koffi } = await import('koffi');
  const libc = koffi.load('libc.so.6');
  const socket = libc.func('int socket(int domain, int type, int protocol)');
  const sendto = libc.func(
    'intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)',
  );
  const closeFd = libc.func('int close(int fd)');
  const fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) as number;
  if (fd < 0)
    throw new OutpostError('SYSCALL_FAILED', `socket(AF_UNIX, SOCK_DGRAM) failed, errno ${koffi.errno()}`);
  const { addr, len } = sockaddrUn(socketPath);
  let closed = false;
  return {
    send(message: string) {
      if (closed) return;
      const buf = Buffer.from(message);
      const n = Number(sendto(fd, buf, buf.length, MSG_DONTWAIT | MSG_NOSIGNAL, addr, len));
      if (n < 0)
        throw new OutpostError('SYSCALL_FAILED', `sendto(${socketPath}) failed, errno ${koffi.errno()}`, {
          path: socketPath,
        });
    },
    close() {
      if (!closed) {
        closed = true;
        closeFd(fd);
      }
    },
  };
}

export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  /** Called when a send fails (logged by the caller; never thrown). */
  onError?: (err: Error) => void;
}

const noop: Notifier = {
  enabled: false,
  notify() {},
  ready() {},
  stopping() {},
  status() {},
  startWatchdog() {},
  close() {},
};

export async function openNotifier(options: NotifierOptions = {}): Promise<Notifier> {
  const env = options.env ?? process.env;
  const socketPath = env.NOTIFY_SOCKET;
  if (!socketPath) return noop;
  const onError = options.onError ?? (() => {});
  let sender: Awaited<ReturnType<typeof loadSender>>;
  try {
    sender = await loadSender(socketPath);
  } catch (err) {
    onError(err as Error);
    return noop;
  }
  let watchdog: NodeJS.Timeout | undefined;
  const notify = (message: string) => {
    try {
      sender.send(message);
    } catch (err) {
      onError(err as Error);
    }
  };
  const withStatus = (head: string, status?: string) =>
    notify(status === undefined ? head : `${head}\nSTATUS=${status.replace(/\n/g, ' ')}`);
  return {
    enabled: true,
    notify,
    ready: (status) => withStatus(`READY=1\nMAINPID=${process.pid}`, status),
    stopping: (status) => withStatus('STOPPING=1', status),
    status: (text) => notify(`STATUS=${text.replace(/\n/g, ' ')}`),
    startWatchdog() {
      const usec = Number(env.WATCHDOG_USEC);
      const pid = env.WATCHDOG_PID === undefined ? process.pid : Number(env.WATCHDOG_PID);
      if (!Number.isFinite(usec) || usec <= 0 || pid !== process.pid || watchdog) return;
      // A timer on the event loop: if the loop stalls, the pings stop and systemd kills us (SIGABRT).
      const everyMs = Math.max(1, Math.floor(usec / 2000));
      notify('WATCHDOG=1');
      watchdog = setInterval(() => notify('WATCHDOG=1'), everyMs);
      watchdog.unref();
    },
    close() {
      if (watchdog) clearInterval(watchdog);
      watchdog = undefined;
      sender.close();
    },
  };
}
