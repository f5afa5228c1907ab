/** Detectors as a library: each is `update(x) -> result` with an optional ready-to-publish event. */
export * from './DetectorEvent';
export * from './NoveltyDetector';
export * from './MMDDriftDetector';
export * from './mmd';
export * from './PageHinkley';
export * from './ADWIN';
export * from './CollapseMonitor';
export { l2Normalized } from './vectorMath';
export * from './NoveltyEventRules';
