/* The 2-D PCA scatter of recent embeddings, coloured by stream (the projection is computed by the server). */
(function () {
  'use strict';

  /** Scatter of the projection, oldest points faint, the newest of each stream ringed. Returns the caption. */
  function drawPca(canvas, p, colorOf) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 480;
    const h = Math.round(w * 0.72);
    if (canvas.width !== Math.round(w * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
      canvas.style.height = `${h}px`;
    }
    const cx = canvas.getContext('2d');
    cx.setTransform(dpr, 0, 0, dpr, 0, 0);
    cx.clearRect(0, 0, w, h);
    if (!p || !p.n) return '';
    let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
    for (let i = 0; i < p.n; i++) {
      xmin = Math.min(xmin, p.x[i]); xmax = Math.max(xmax, p.x[i]);
      ymin = Math.min(ymin, p.y[i]); ymax = Math.max(ymax, p.y[i]);
    }
    const pad = 18;
    const sx = (w - 2 * pad) / (xmax - xmin || 1);
    const sy = (h - 2 * pad) / (ymax - ymin || 1);
    const X = (v) => pad + (v - xmin) * sx;
    const Y = (v) => h - pad - (v - ymin) * sy;
    cx.strokeStyle = '#2a313b';
    cx.lineWidth = 1;
    cx.beginPath();
    if (xmin < 0 && xmax > 0) { cx.moveTo(X(0), pad / 2); cx.lineTo(X(0), h - pad / 2); }
    if (ymin < 0 && ymax > 0) { cx.moveTo(pad / 2, Y(0)); cx.lineTo(w - pad / 2, Y(0)); }
    cx.stroke();
    const lastOf = new Map();
    for (let i = 0; i < p.n; i++) {
      const age = (i + 1) / p.n; // oldest faint, newest opaque
      cx.globalAlpha = 0.15 + 0.75 * age;
      cx.fillStyle = colorOf(p.streams[p.s[i]]);
      cx.beginPath();
      cx.arc(X(p.x[i]), Y(p.y[i]), 2.6, 0, Math.PI * 2);
      cx.fill();
      lastOf.set(p.s[i], i);
    }
    cx.globalAlpha = 1;
    for (const [si, i] of lastOf) {
      cx.strokeStyle = '#fff';
      cx.fillStyle = colorOf(p.streams[si]);
      cx.lineWidth = 1.5;
      cx.beginPath();
      cx.arc(X(p.x[i]), Y(p.y[i]), 5.5, 0, Math.PI * 2);
      cx.fill();
      cx.stroke();
    }
    canvas.dataset.points = String(p.n);
    return `${p.n} embeddings · PC1 ${(100 * p.explained[0]).toFixed(1)} %, PC2 ${(100 * p.explained[1]).toFixed(1)} % of variance`;
  }

  window.DinoPca = { drawPca };
})();
