/* dino-stream dashboard: the event list, with each event's pictures (from /api/events and the live /ui feed). */
(function () {
  'use strict';

  const MAX = 100;
  const token = (document.querySelector('meta[name="dino-token"]') || {}).content || '';
  const withToken = (url) => (token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url);
  const fmt = (v, d = 3) => (typeof v === 'number' && isFinite(v) ? v.toFixed(d) : '–');
  const fmtG = (v) => (typeof v === 'number' && isFinite(v) ? Number(v.toPrecision(3)).toString() : '–');
  const list = () => document.getElementById('events');
  const seen = new Set();
  const stored = ((document.querySelector('meta[name="dino-features"]') || {}).content || '').split(' ').includes('events');

  function detailOf(e) {
    if (e.type === 'novelty') return `score ${fmtG(e.score)} (calibrated ${fmt(e.calibrated, 2)} ≥ ${fmt(e.threshold, 2)}) frame ${e.frameIndex}`;
    if (e.type === 'drift') return `${e.method}: statistic ${fmtG(e.statistic)}, p=${fmtG(e.pValue)} (α ${e.alpha})`;
    if (e.type === 'collapse') return `${e.state}: ${e.reason} (step ${e.step})`;
    if (e.type === 'camera') return `${e.state}${e.detail ? ': ' + e.detail : ''}`;
    return '';
  }

  function picture(url, label) {
    const a = document.createElement('a');
    a.href = withToken(url);
    a.target = '_blank';
    a.rel = 'noopener';
    a.title = label;
    const img = document.createElement('img');
    img.className = `snap ${label}`;
    img.alt = label;
    img.loading = 'lazy';
    img.src = withToken(url);
    a.appendChild(img);
    return a;
  }

  /** One event, inserted by time (newest first); events with an id are shown once. */
  function add(e) {
    if (e.id) {
      if (seen.has(e.id)) return;
      seen.add(e.id);
    }
    const li = document.createElement('li');
    li.dataset.t = String(e.t);
    if (e.id) li.dataset.id = e.id;
    const parts = [['time', new Date(e.t).toLocaleTimeString()], [`type ${e.type}`, e.type], ['stream', e.streamId || '(model)'], ['detail', detailOf(e)]];
    for (const [cls, text] of parts) {
      const span = document.createElement('span');
      span.className = cls;
      span.textContent = text;
      li.appendChild(span);
    }
    if (e.before || e.snapshot) {
      const pics = document.createElement('span');
      pics.className = 'pics';
      if (e.before) pics.appendChild(picture(e.before, 'before'));
      if (e.snapshot) pics.appendChild(picture(e.snapshot, e.before ? 'after' : 'snapshot'));
      li.appendChild(pics);
    } else if (e.snapshotError) {
      li.title = e.snapshotError;
    }
    const ol = list();
    let at = ol.firstChild;
    while (at && Number(at.dataset.t) > e.t) at = at.nextSibling;
    ol.insertBefore(li, at);
    while (ol.children.length > MAX) {
      const last = ol.lastChild;
      if (last.dataset.id) seen.delete(last.dataset.id);
      last.remove();
    }
  }

  /** The stored events (they outlive the agent's restarts and the page's connection). */
  function load() {
    if (!stored) return Promise.resolve();
    return fetch(withToken('/api/events?limit=50'), { cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : { events: [] }))
      .then((d) => {
        for (const e of d.events || []) add(e);
      })
      .catch(() => undefined);
  }

  function reset() {
    list().textContent = '';
    seen.clear();
    return load();
  }

  window.DinoEvents = { add, reset, load };
})();
