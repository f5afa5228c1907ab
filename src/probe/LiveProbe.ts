import { ImageFolder, type LoadedImages } from './ImageFolder';
import { KnnClassifier } from './KnnClassifier';

/** L2-normalised teacher features of size x size RGB images, one per image, in order. */
export type EmbedImages = (images: Uint8Array[]) => Promise<Float32Array[]>;

export interface LiveProbeOptions {
  /** Image folder DIR/train/<class>/*, DIR/test/<class>/* (config `probe.dir`). */
  dir: string;
  /** Train and test images loaded per class (config `probe.perClass`). */
  perClass: number;
  /** The model's global crop size: images are loaded at it, so embedding needs no resize. */
  size: number;
  /** Images embedded per call: each call holds the model (and the event loop) only this long. Default 32. */
  batch?: number;
  k?: number;
  temperature?: number;
}

export interface ProbeResult {
  /** k-NN top-1 accuracy in percent (0-100), as `eval knn` reports it. */
  top1: number;
  n: number;
  /** Teacher step the features came from (when the caller tracks one). */
  teacherStep?: number;
  ms: number;
}

/**
 * A small labelled probe for the live agent: k-NN top-1 (eval knn's protocol: k=20, T=0.07, cosine) of the current
 * teacher on a fixed image folder, so that learning shows up on the dashboard while the agent runs on unlabelled
 * video. The images are decoded once; every evaluation embeds train and test with the caller's teacher, batch by
 * batch, yielding to the event loop in between so that ingest, serving and embedding ticks keep going.
 */
export class LiveProbe {
  private constructor(
    readonly train: LoadedImages,
    readonly test: LoadedImages,
    readonly classes: string[],
    private readonly o: LiveProbeOptions,
  ) {}

  /** Loads `perClass` train and test images of every class (layout errors throw ImageFolderError). */
  static async load(o: LiveProbeOptions): Promise<LiveProbe> {
    const folder = ImageFolder.open(o.dir);
    const train = await folder.load('train', { size: o.size, limitPerClass: o.perClass });
    const test = await folder.load('test', { size: o.size, limitPerClass: o.perClass });
    return new LiveProbe(train, test, folder.classes, o);
  }

  /** Side of the (square) probe images. */
  get imageSize(): number {
    return this.o.size;
  }

  /**
   * Embeds the probe set with `embed` and scores it. `teacherStep`, when given, is read before and after: if the
   * teacher changed in between (a refresh slipped in between two batches), features from two teachers would be
   * mixed, so the round stops there and returns null (call again: a refresh is rare next to a round).
   */
  async evaluate(embed: EmbedImages, teacherStep?: () => number): Promise<ProbeResult | null> {
    const t0 = Date.now();
    const v0 = teacherStep?.();
    const all = [...this.train.images, ...this.test.images];
    const batch = Math.max(1, this.o.batch ?? 32);
    const features: Float32Array[] = [];
    for (let i = 0; i < all.length; i += batch) {
      if (i > 0) await new Promise<void>((r) => setImmediate(r));
      const out = await embed(all.slice(i, i + batch));
      if (out.length !== Math.min(batch, all.length - i)) throw new Error(`LiveProbe: embed returned ${out.length} features for ${Math.min(batch, all.length - i)} images`);
      features.push(...out);
      if (teacherStep && teacherStep() !== v0) return null;
    }
    const nTrain = this.train.images.length;
    const knn = new KnnClassifier(features.slice(0, nTrain), this.train.labels, this.classes.length, { k: this.o.k ?? 20, temperature: this.o.temperature ?? 0.07 });
    const acc = await knn.evaluate(features.slice(nTrain), this.test.labels);
    return { top1: 100 * acc.top1, n: acc.n, teacherStep: v0, ms: Date.now() - t0 };
  }
}
