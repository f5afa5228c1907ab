/* dino-stream dashboard: the sources panel (list, add, remove through /api/sources), masks drawn over the stream
   cards, and a "live" button on the cards of camera URL sources. */
(function () {
  'use strict';

  const token = (document.querySelector('meta[name="dino-token"]') || {}).content || '';
  const withToken = (url) => (token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url);
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const TEMPLATES = {
    url: { kind: 'url', id: 'door', url: 'rtsp://192.168.1.20:554/stream', fps: 10 },
    file: { kind: 'file', id: 'clip', path: '/path/to/clip.mp4', fps: 10 },
    folder: { kind: 'folder', id: 'photos', path: '/path/to/images', fps: 2 },
    ws: { kind: 'ws', id: 'cam3' },
    synthetic: { kind: 'synthetic', id: 'demo', fps: 10, mask: [[[0, 0], [0.3, 0], [0.3, 0.15], [0, 0.15]]] },
  };
  let sources = [];

  function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  }

  function refresh() {
    return api('GET', '/api/sources')
      .then((r) => (r.ok ? r.json() : { sources: [] }))
      .then((d) => {
        sources = d.sources || [];
        render();
      })
      .catch(() => undefined);
  }

  function render() {
    const tbody = $('sources-list');
    tbody.textContent = '';
    for (const s of sources) {
      const tr = document.createElement('tr');
      tr.dataset.id = s.id;
      const where = s.config.url || s.config.path || (s.kind === 'ws' ? `/ingest/${s.id}` : '');
      const cells = [s.id, s.kind, where, s.origin === 'runtime' ? 'added' : 'config', s.mask.length ? `${s.mask.length} polygon${s.mask.length > 1 ? 's' : ''}` : ''];
      for (const text of cells) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.appendChild(td);
      }
      const td = document.createElement('td');
      const rm = document.createElement('button');
      rm.type = 'button';
      rm.className = 'remove';
      rm.textContent = 'remove';
      rm.addEventListener('click', () => remove(s.id));
      td.appendChild(rm);
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
    for (const card of document.querySelectorAll('.card[data-stream]')) decorate(card.dataset.stream, card);
  }

  function remove(id) {
    if (!window.confirm(`Remove source "${id}"? It stops now and stays removed after a restart.`)) return;
    api('DELETE', `/api/sources/${encodeURIComponent(id)}`).then((r) => {
      if (r.status === 204) {
        const card = document.querySelector(`.card[data-stream="${CSS.escape(id)}"]`);
        if (card) card.classList.add('removed');
      }
      return refresh();
    });
  }

  function add(ev) {
    ev.preventDefault();
    const out = $('source-error');
    out.textContent = '';
    let spec;
    try {
      spec = JSON.parse($('source-json').value);
    } catch (e) {
      out.textContent = `not JSON: ${e.message}`;
      return;
    }
    api('POST', '/api/sources', spec)
      .then((r) => r.json().then((body) => ({ r, body })))
      .then(({ r, body }) => {
        if (r.status === 201) {
          out.textContent = `added "${body.id}"`;
          out.className = 'ok';
        } else {
          out.textContent = body.message || `HTTP ${r.status}`;
          out.className = 'bad';
        }
        return refresh();
      })
      .catch((e) => {
        out.textContent = String(e);
        out.className = 'bad';
      });
  }

  /** Masks as polygons over the card's picture, and a live button for camera URLs. */
  function decorate(id, card) {
    const s = sources.find((x) => x.id === id);
    const thumb = card.querySelector('.thumb');
    if (!thumb) return;
    let svg = thumb.querySelector('svg.mask');
    if (s && s.mask.length) {
      if (!svg) {
        svg = document.createElementNS(SVG, 'svg');
        svg.setAttribute('class', 'mask');
        svg.setAttribute('viewBox', '0 0 1 1');
        svg.setAttribute('preserveAspectRatio', 'none');
        thumb.appendChild(svg);
      }
      svg.textContent = '';
      for (const poly of s.mask) {
        const p = document.createElementNS(SVG, 'polygon');
        p.setAttribute('points', poly.map(([x, y]) => `${x},${y}`).join(' '));
        svg.appendChild(p);
      }
    } else if (svg) svg.remove();
    let btn = thumb.querySelector('button.live');
    if (s && s.live && window.DinoLive) {
      if (!btn) {
        btn = document.createElement('button');
        btn.type = 'button';
        btn.className = 'live';
        btn.textContent = '▶ live';
        btn.title = 'full-rate live video';
        btn.addEventListener('click', (e) => {
          e.stopPropagation();
          window.DinoLive.open(id);
        });
        thumb.appendChild(btn);
      }
    } else if (btn) btn.remove();
  }

  const features = ((document.querySelector('meta[name="dino-features"]') || {}).content || '').split(' ');
  if (!features.includes('sources')) return;
  $('sources-panel').hidden = false;
  if (!features.includes('live')) delete window.DinoLive;
  (window.DinoCardHooks = window.DinoCardHooks || []).push((id, card) => decorate(id, card));
  const kind = $('source-kind');
  kind.addEventListener('change', () => ($('source-json').value = JSON.stringify(TEMPLATES[kind.value], null, 1)));
  $('source-json').value = JSON.stringify(TEMPLATES[kind.value], null, 1);
  $('source-form').addEventListener('submit', add);
  window.DinoSources = { refresh, list: () => sources, withToken };
  refresh();
})();
