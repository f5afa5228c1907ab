/**
 * The package entry (`import { ... } from 'dino-stream'`): the agent and its configuration, the detectors, the
 * wire codec and a client for a running agent, and the types they exchange. README, "Use it as a library".
 */
export { Agent, type AgentStarted } from './agent/Agent';
export { configSchema, sourceSchema, DEFAULT_SOURCE_FPS, type AgentConfig, type AgentConfigInput, type SourceConfig } from '../config/schema';
export { resolveConfig, readConfigFile, envLayer, ConfigError, type ConfigLayer } from '../config/loadConfig';
export * from './detect';
export * from './protocol/EmbeddingCodec';
export { DinoClient, ApiError, type DinoClientOptions, type SourceSpec } from './client/DinoClient';
export type { EventRecord, EventQuery, PictureName } from './types/EventLog';
export type { SourceInfo } from './types/SourceControl';
export type * from './types/messages';
export type { CameraStateName } from './types/CameraStateName';
export type { Frame } from '../streams/Frame';
export { Random } from './util/Random';
export { createLogger, silentLogger, type Logger, type LogFormat } from './util/Logger';
