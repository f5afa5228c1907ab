export { selectBackend, defaultThreads } from './selectBackend';
export type { BackendInfo, BackendName, Precision, PrecisionOption, SelectBackendOptions } from './selectBackend';
export {
  registerNativeKernels, unregisterNativeKernels, nativeKernelsActive, nativeKernelsReason, nativeAddon,
} from './nativeKernels';
export { DINO_KERNEL_NAMES } from './dinoKernels';
export type { DinoKernelName } from './dinoKernels';
export { wasmThreadState } from './wasmThreads';
