import * as tf from '@tensorflow/tfjs';
import { VisionTransformer } from '../model/VisionTransformer';
import { Embedder } from '../model/Embedder';
import type { ModelConfig } from '../model/modelSizes';
import { framesToTensor } from '../views/framesToTensor';
import { Normalize } from '../views/Normalize';
import type { Frame } from '../../streams/Frame';
import type { TeacherSnapshot } from '../train/TrainerService';

export interface FrameEmbeddings {
  normalized: Float32Array[];
  raw: Float32Array[];
  /** Per frame, heads x grid x grid CLS attention (only when asked). */
  attention?: Float32Array[];
}

/**
 * Teacher inference on the main thread with its own copy of the teacher backbone, refreshed from the trainer's
 * snapshots. The teacher is an EMA (it moves slowly), so a copy a few seconds old embeds like the live one; every
 * embedding carries the step of the copy it came from (`teacherStep`).
 */
export class EmbeddingService {
  private readonly backbone: VisionTransformer;
  private readonly embedder: Embedder;
  private readonly normalize = new Normalize();
  teacherStep = -1;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(readonly model: ModelConfig) {
    this.backbone = new VisionTransformer(model.vit, 0);
    this.embedder = new Embedder(this.backbone);
  }

  get dim(): number {
    return this.model.vit.embedDim;
  }

  /** Side of the attention grid for whole-frame embeddings. */
  get grid(): number {
    return this.model.crops.globalSize / this.model.vit.patchSize;
  }

  get heads(): number {
    return this.model.vit.numHeads;
  }

  /**
   * Runs `fn` with the model to itself: embedding rounds, a teacher refresh (load, then re-embed the detectors'
   * memories) and probe batches each go through here, so none of them sees the model change halfway.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Every parameter is checked (name, shape, size) before any is assigned, so a snapshot that does not fit changes nothing. */
  load(snapshot: TeacherSnapshot): void {
    const byName = new Map(snapshot.params.map((p) => [p.name.replace(/^backbone\./, ''), p]));
    // the mask token enters only the masked-patch objective's forwards, never an embedding: a snapshot made from a
    // weights file has none
    const wanted = this.backbone.namedParameters().filter(([name]) => name !== 'mask_token' || byName.has(name));
    const params = wanted.map(([name, v]) => {
      const p = byName.get(name);
      if (!p) throw new Error(`teacher snapshot lacks ${name}`);
      if (p.shape.length !== v.shape.length || p.shape.some((d, i) => d !== v.shape[i]) || p.values.length !== v.size) {
        throw new Error(`teacher snapshot's ${name} is [${p.shape}] with ${p.values.length} values; this model's is [${v.shape}]`);
      }
      return { v, p };
    });
    for (const { v, p } of params) tf.tidy(() => v.assign(tf.tensor(p.values, p.shape)));
    this.teacherStep = snapshot.step;
  }

  /** Whole frames, resized to the global crop size and normalised as in training, through the teacher backbone. */
  async embed(frames: readonly Frame[], opts: { attention?: boolean } = {}): Promise<FrameEmbeddings> {
    const size = this.model.crops.globalSize;
    const images = tf.tidy(() => {
      const x = framesToTensor(frames);
      const resized = x.shape[1] === size && x.shape[2] === size ? x : tf.image.resizeBilinear(x, [size, size], false, true);
      return this.normalize.apply(resized) as tf.Tensor4D;
    });
    try {
      return await this.embedder.embedToArrays(images, opts);
    } finally {
      images.dispose();
    }
  }

  dispose(): void {
    this.backbone.dispose();
  }
}
