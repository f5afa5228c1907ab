export * from '../streams/Frame';
export * from './util/Random';
