/**
 * Connection state of one live source, published on the source's state$ and in `camera` events.
 * connecting: process spawned, no frame yet; live: frames flowing; stalled: watchdog saw no frame for too long
 * (the process is being killed); reconnecting: waiting out the back-off before the next attempt;
 * failed: gave up after the configured number of attempts (terminal); ended: a finite input finished (terminal).
 */
export type CameraStateName = 'connecting' | 'live' | 'stalled' | 'reconnecting' | 'failed' | 'ended';
