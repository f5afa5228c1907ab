import * as net from 'node:net';

/** A free TCP port on 127.0.0.1: bind port 0, read it, close (mosquitto cannot listen on port 0 itself). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const port = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
}
