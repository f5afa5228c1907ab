import type { Random } from '../util/Random';

export interface BlockMaskingOptions {
  /** Share of the images that are masked at all (DINOv2's mask_probability 0.5; iBOT's pred_ratio "0 0.3"). */
  probability: number;
  /** Range of the masked share of a masked image's tokens (DINOv2, iBOT: 0.1 to 0.5). */
  ratio: [number, number];
  /** Smallest block, in tokens (BEiT, iBOT, DINOv2: 4). */
  minBlock?: number;
  /** Aspect ratio range of a block (0.3 to 1 / 0.3). */
  aspect?: [number, number];
}

/** The masks of one batch: 1 for a masked token, per image row-major over the g x g grid. */
export interface BatchMasks {
  /** [images * g * g], 1 = masked. */
  mask: Float32Array;
  /** How many tokens each image has masked. */
  counts: Int32Array;
  images: number;
  grid: number;
}

/**
 * Block-wise masking of the global crops' patch tokens for the masked-patch objective (BEiT's MaskingGenerator as
 * iBOT and DINOv2 use it): rectangles of random area and aspect ratio are added until the image's target count is
 * reached. As DINOv2's collate: floor(n x probability) images of the batch are masked, their target ratios spread
 * evenly over the range (one draw in each of as many equal sub-ranges), the rest unmasked, in a shuffled order.
 */
export class BlockMasking {
  readonly minBlock: number;
  private readonly logAspect: [number, number];

  constructor(readonly o: BlockMaskingOptions) {
    const [lo, hi] = o.ratio;
    if (!(o.probability >= 0 && o.probability <= 1)) throw new Error(`masking probability must be in [0, 1], got ${o.probability}`);
    if (!(lo >= 0 && lo <= hi && hi < 1)) throw new Error(`masking ratio must satisfy 0 <= min <= max < 1, got [${lo}, ${hi}]`);
    this.minBlock = o.minBlock ?? 4;
    const [a0, a1] = o.aspect ?? [0.3, 1 / 0.3];
    this.logAspect = [Math.log(a0), Math.log(a1)];
  }

  /** Masks for `images` images of a g x g token grid (advances `rng`). */
  sample(images: number, grid: number, rng: Random): BatchMasks {
    const n = grid * grid;
    const mask = new Float32Array(images * n);
    const counts = new Int32Array(images);
    const masked = Math.floor(images * this.o.probability);
    const [lo, hi] = this.o.ratio;
    const targets: number[] = [];
    for (let i = 0; i < masked; i++) {
      const a = lo + ((hi - lo) * i) / masked;
      const b = lo + ((hi - lo) * (i + 1)) / masked;
      targets.push(Math.floor(n * rng.uniform(a, b)));
    }
    while (targets.length < images) targets.push(0);
    rng.shuffle(targets);
    targets.forEach((target, i) => {
      counts[i] = this.fill(mask.subarray(i * n, (i + 1) * n), grid, target, rng);
    });
    return { mask, counts, images, grid };
  }

  /** Adds blocks to one image's mask until `target` tokens are masked (or no block fits); returns the count. */
  private fill(m: Float32Array, g: number, target: number, rng: Random): number {
    const maxBlock = Math.floor(0.5 * g * g); // DINOv2: max_num_patches = 0.5 x the grid
    let count = 0;
    while (count < target) {
      const delta = this.addBlock(m, g, Math.min(target - count, maxBlock), rng);
      if (delta === 0) break;
      count += delta;
    }
    return count;
  }

  /** One block of at most `maxTokens` new tokens, in up to 10 attempts (BEiT's _mask); returns how many were added. */
  private addBlock(m: Float32Array, g: number, maxTokens: number, rng: Random): number {
    for (let attempt = 0; attempt < 10; attempt++) {
      const area = rng.uniform(this.minBlock, maxTokens);
      const aspect = Math.exp(rng.uniform(this.logAspect[0], this.logAspect[1]));
      const h = Math.round(Math.sqrt(area * aspect));
      const w = Math.round(Math.sqrt(area / aspect));
      if (h < 1 || w < 1 || h >= g || w >= g) continue;
      const top = rng.int(g - h + 1);
      const left = rng.int(g - w + 1);
      let already = 0;
      for (let i = top; i < top + h; i++) for (let j = left; j < left + w; j++) already += m[i * g + j]!;
      const fresh = h * w - already;
      if (fresh > 0 && fresh <= maxTokens) {
        for (let i = top; i < top + h; i++) for (let j = left; j < left + w; j++) m[i * g + j] = 1;
        return fresh;
      }
    }
    return 0;
  }
}
