/**
 * Which frames the replay buffer keeps when it is full (config `train.bufferPolicy`, eval `--buffer-policy`).
 * fifo: a sliding window of each stream's most recent frames (the oldest is evicted). Over a stream that cycles
 * through a set of images (an image folder, a looping clip), every image gets the same number of draws, as epochs
 * would give it; on a live camera the buffer follows the scene.
 * reservoir: every frame a stream has sent has the same chance to be in the buffer (Vitter's algorithm R, per stream).
 * Over a long stream it admits ever fewer new frames (capacity / n): the buffer settles on a sample of the past.
 * min-redundancy: when full, evict the buffered frame most similar to another one (Purushwalkam et al., ECCV 2022,
 * "The Challenges of Continuous Self-Supervised Learning": MinRed buffer), so long static stretches of a camera
 * do not crowd out the rare moments that differ.
 */
export const REPLAY_POLICIES = ['fifo', 'reservoir', 'min-redundancy'] as const;
export type ReplayPolicy = (typeof REPLAY_POLICIES)[number];
