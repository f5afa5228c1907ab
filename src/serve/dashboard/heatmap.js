/* Attention heat maps for the dashboard: DINO's CLS attention drawn over the frame it was computed on. */
(function () {
  'use strict';

  // A perceptual ramp (black -> purple -> orange -> yellow), like matplotlib's inferno.
  const RAMP = [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164]];
  function heat(v) {
    const x = Math.max(0, Math.min(1, v)) * (RAMP.length - 1);
    const i = Math.min(RAMP.length - 2, Math.floor(x));
    const f = x - i;
    return RAMP[i].map((a, k) => Math.round(a + (RAMP[i + 1][k] - a) * f));
  }

  function headMap(msg, head) {
    const g2 = msg.grid * msg.grid;
    const out = new Float32Array(g2);
    if (head === 'mean') {
      for (let h = 0; h < msg.heads; h++) for (let i = 0; i < g2; i++) out[i] += msg.maps[h * g2 + i] / msg.heads;
    } else for (let i = 0; i < g2; i++) out[i] = msg.maps[head * g2 + i];
    return out;
  }

  /** The map as a grid x grid image, min-max normalised so each head uses the whole colour range. */
  function heatCanvas(values, grid) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of values) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const span = hi - lo || 1;
    const c = document.createElement('canvas');
    c.width = grid;
    c.height = grid;
    const cx = c.getContext('2d');
    const img = cx.createImageData(grid, grid);
    values.forEach((v, i) => {
      const x = (v - lo) / span;
      const [r, g, b] = heat(x);
      // Weak attention stays see-through, so the frame shows where the teacher is not looking.
      img.data.set([r, g, b, Math.round(255 * (0.25 + 0.75 * x))], i * 4);
    });
    cx.putImageData(img, 0, 0);
    return c;
  }

  function drawOverlay(canvas, entry, head, opacity) {
    const cx = canvas.getContext('2d');
    const { img, msg } = entry;
    cx.clearRect(0, 0, canvas.width, canvas.height);
    cx.imageSmoothingEnabled = true;
    cx.imageSmoothingQuality = 'high';
    cx.globalAlpha = 1;
    cx.drawImage(img, 0, 0, canvas.width, canvas.height);
    cx.globalAlpha = opacity;
    cx.drawImage(heatCanvas(headMap(msg, head), msg.grid), 0, 0, canvas.width, canvas.height);
    cx.globalAlpha = 1;
  }

  window.DinoHeatmap = { headMap, heatCanvas, drawOverlay };
})();
