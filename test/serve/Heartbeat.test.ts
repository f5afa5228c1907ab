import { EventEmitter } from 'events';
import type { WebSocket } from 'ws';
import { Heartbeat } from '../../src/serve/Heartbeat';

class FakeSocket extends EventEmitter {
  pings = 0;
  terminated = 0;
  ping(): void {
    this.pings++;
  }
  terminate(): void {
    this.terminated++;
  }
}

const afterIo = () => new Promise<void>((r) => setImmediate(r));

describe('Heartbeat', () => {
  const setup = (maxMissed = 2) => {
    const hb = new Heartbeat(0, maxMissed); // ticks driven by the test
    const socket = new FakeSocket();
    const dead = jest.fn();
    hb.track(socket as unknown as WebSocket, dead);
    const tick = async (pong = false) => {
      hb.tick();
      if (pong) socket.emit('pong'); // read in the poll phase, after the timer that ticked and before the verdict
      await afterIo();
    };
    return { socket, dead, tick };
  };

  it('terminates a socket that answered none of its last two pings, at the third tick, and counts it once', async () => {
    const { socket, dead, tick } = setup();
    await tick();
    await tick();
    expect(socket.terminated).toBe(0);
    expect(socket.pings).toBe(2);
    await tick();
    expect(socket.terminated).toBe(1);
    expect(dead).toHaveBeenCalledTimes(1);
    await tick();
    expect(socket.terminated).toBe(1);
    expect(socket.pings).toBe(2);
  });

  it('counts a pong that was received after the next tick fired but before its verdict (an event-loop stall)', async () => {
    const { socket, dead, tick } = setup(1); // no late pong forgiven: only the order of the verdict saves it
    await tick(); // ping 1; its pong is read only after the next timer fired
    for (let i = 0; i < 5; i++) await tick(true);
    expect(dead).not.toHaveBeenCalled();
    expect(socket.pings).toBe(6);
    await tick();
    await tick();
    expect(dead).toHaveBeenCalledTimes(1);
  });

  it('forgives one late pong, and any message is a sign of life too', async () => {
    const { socket, dead, tick } = setup();
    await tick(); // ping 1 unanswered
    await tick(); // ping 2 unanswered
    socket.emit('message', Buffer.from('x'));
    await tick();
    await tick();
    expect(dead).not.toHaveBeenCalled();
    socket.emit('pong');
    await tick();
    await tick();
    expect(dead).not.toHaveBeenCalled();
    await tick();
    expect(dead).toHaveBeenCalledTimes(1);
  });

  it('forgets a socket that closed', async () => {
    const { socket, dead, tick } = setup();
    socket.emit('close');
    for (let i = 0; i < 4; i++) await tick();
    expect(socket.pings).toBe(0);
    expect(dead).not.toHaveBeenCalled();
  });
});
