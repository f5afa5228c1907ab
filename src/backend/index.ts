export { selectBackend, defaultThreads, BACKEND_NAMES } from './selectBackend';
export { prepareHeadlessEgl } from './headlessEgl';
export { takeWebGPUErrors } from './webgpuBackend';
export type { WebGPUAdapterSummary } from './webgpuBackend';
export type { BackendInfo, BackendName, Precision, PrecisionOption, SelectBackendOptions } from './selectBackend';
export {
  registerNativeKernels, unregisterNativeKernels, nativeKernelsActive, nativeKernelsReason, nativeAddon,
} from './nativeKernels';
export { DINO_KERNEL_NAMES } from './dinoKernels';
export type { DinoKernelName } from './dinoKernels';
export { wasmThreadState } from './wasmThreads';
