/* dino-stream dashboard: reads ws /ui and draws. Plain browser JS (no build step); uPlot is loaded before this file. */
(function () {
  'use strict';

  const MAX_POINTS = 600; // plot history kept in the page
  const PALETTE = ['#4cc9f0', '#f72585', '#b5e48c', '#ffb703', '#9d4edd', '#06d6a0', '#ff7b54', '#8ecae6', '#e9c46a', '#c77dff'];
  const token = (document.querySelector('meta[name="dino-token"]') || {}).content || '';
  const $ = (id) => document.getElementById(id);

  const state = {
    colors: new Map(),
    cards: new Map(),
    stats: { x: [], loss: [], lnK: [], entropy: [], ips: [] },
    novelty: { x: [], byStream: new Map() },
    attention: new Map(), // streamId -> { msg, img }
    attentionStream: null,
    head: 'mean',
    pca: null,
    frames: 0,
  };
  window.__dino = state; // for debugging from the console (and the browser test)

  function colorOf(id) {
    if (!state.colors.has(id)) state.colors.set(id, PALETTE[state.colors.size % PALETTE.length]);
    return state.colors.get(id);
  }
  const fmt = (v, d = 3) => (typeof v === 'number' && isFinite(v) ? v.toFixed(d) : '–');
  const fmtG = (v) => (typeof v === 'number' && isFinite(v) ? Number(v.toPrecision(3)).toString() : '–');
  const ago = (ms) => (ms < 1500 ? 'just now' : ms < 90e3 ? `${Math.round(ms / 1000)} s ago` : ms < 5400e3 ? `${Math.round(ms / 60e3)} min ago` : `${Math.round(ms / 3600e3)} h ago`);

  // ---------------------------------------------------------------- connection
  let ws = null;
  let retry = 0;
  let everOpened = false;

  function setConn(cls, text) {
    const el = $('conn');
    el.className = `pill ${cls}`;
    el.textContent = text;
    document.body.dataset.conn = cls;
  }

  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = token ? `?token=${encodeURIComponent(token)}` : '';
    setConn(everOpened ? 'reconnecting' : 'connecting', everOpened ? 'reconnecting…' : 'connecting…');
    ws = new WebSocket(`${proto}//${location.host}/ui${q}`);
    ws.onopen = () => {
      retry = 0;
      everOpened = true;
      setConn('live', 'live');
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') return;
      let m;
      try {
        m = JSON.parse(e.data);
      } catch {
        return;
      }
      handle(m);
    };
    ws.onclose = () => {
      const delay = Math.min(10000, 500 * 2 ** retry++);
      // A refused upgrade looks like any other close to a browser: ask the page URL to tell 401 apart.
      fetch(`/${q}`, { method: 'HEAD', cache: 'no-store' })
        .then((r) => {
          if (r.status === 401) setConn('unauthorized', 'unauthorized: open the page with ?token=…');
          else setConn('reconnecting', `reconnecting in ${Math.round(delay / 1000)} s`);
        })
        .catch(() => setConn('reconnecting', `agent unreachable, retry in ${Math.round(delay / 1000)} s`));
      setTimeout(connect, delay);
    };
    ws.onerror = () => {}; // onclose follows
  }

  function handle(m) {
    switch (m.type) {
      case 'hello':
        resetHistory();
        for (const s of m.stats || []) addStats(s, false);
        redrawPlots();
        window.DinoEvents.reset();
        for (const e of m.events || []) window.DinoEvents.add(e);
        break;
      case 'stats':
        addStats(m.stats, true);
        break;
      case 'event':
        window.DinoEvents.add(m.event);
        break;
      case 'status':
        onStatus(m);
        break;
      case 'thumbnail':
        onThumbnail(m);
        break;
      case 'attention':
        onAttention(m);
        break;
      case 'pca':
        state.pca = m;
        drawPca();
        break;
      case 'dropped':
        console.warn(`dashboard fell behind: ${m.count} messages dropped`);
        break;
      default:
        break;
    }
  }

  // ---------------------------------------------------------------- plots
  const axisStyle = { stroke: '#8a96a3', grid: { stroke: '#262c35', width: 1 }, ticks: { stroke: '#262c35' } };
  function makePlot(el, title, series, data, yRange) {
    const width = Math.max(300, el.clientWidth || 400);
    return new uPlot(
      {
        title,
        width,
        height: 160,
        scales: { x: { time: true }, y: yRange ? { range: yRange } : {} },
        axes: [axisStyle, { ...axisStyle, size: 56 }],
        series: [{}, ...series],
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
      },
      data,
      el,
    );
  }
  const line = (label, stroke, extra = {}) => ({ label, stroke, width: 1.6, points: { show: false }, spanGaps: true, ...extra });

  const plots = {};
  function buildPlots() {
    const s = state.stats;
    plots.loss = makePlot($('plot-loss'), 'DINO loss', [line('loss', '#4cc9f0'), line('ln(out_dim): uniform collapse', '#ff4d6d', { dash: [6, 5], width: 1 })], [s.x, s.loss, s.lnK]);
    plots.entropy = makePlot($('plot-entropy'), 'Teacher output entropy', [line('entropy', '#b5e48c')], [s.x, s.entropy]);
    plots.ips = makePlot($('plot-ips'), 'Training throughput', [line('images/s', '#ffb703', { fill: 'rgba(255,183,3,0.08)' })], [s.x, s.ips]);
    buildNoveltyPlot();
  }

  function buildNoveltyPlot() {
    if (plots.novelty) plots.novelty.destroy();
    const ids = [...state.novelty.byStream.keys()];
    const series = ids.map((id) => line(id, colorOf(id)));
    plots.novelty = makePlot($('plot-novelty'), 'Novelty per stream (calibrated, max per second)', series.length ? series : [line('–', '#555')], [
      state.novelty.x,
      ...(ids.length ? ids.map((id) => state.novelty.byStream.get(id)) : [[]]),
    ], [0, 1]);
    plots.noveltyIds = ids.join('|');
  }

  function resetHistory() {
    for (const k of Object.keys(state.stats)) state.stats[k].length = 0;
  }

  function trim(arrs) {
    const extra = arrs[0].length - MAX_POINTS;
    if (extra > 0) for (const a of arrs) a.splice(0, extra);
  }

  let plotsQueued = false;
  function redrawPlots() {
    if (plotsQueued) return;
    plotsQueued = true;
    requestAnimationFrame(() => {
      plotsQueued = false;
      const s = state.stats;
      plots.loss.setData([s.x, s.loss, s.lnK]);
      plots.entropy.setData([s.x, s.entropy]);
      plots.ips.setData([s.x, s.ips]);
      const ids = [...state.novelty.byStream.keys()];
      if (ids.join('|') !== plots.noveltyIds) buildNoveltyPlot();
      else if (ids.length) plots.novelty.setData([state.novelty.x, ...ids.map((id) => state.novelty.byStream.get(id))]);
    });
  }

  function addStats(m, live) {
    const s = state.stats;
    s.x.push(m.t / 1000);
    s.loss.push(m.loss);
    s.lnK.push(m.lnOutDim);
    s.entropy.push(m.teacherEntropy);
    s.ips.push(m.imagesPerSec);
    trim([s.x, s.loss, s.lnK, s.entropy, s.ips]);
    $('step-value').textContent = String(m.step);
    $('loss-value').textContent = fmt(m.loss);
    $('loss-ref').textContent = ` / ln K ${fmt(m.lnOutDim, 2)}`;
    $('entropy-value').textContent = fmt(m.teacherEntropy);
    $('std-value').textContent = fmt(m.embeddingStd, 4);
    $('std-ref').textContent = ` healthy ≈ ${fmt(m.healthyStd, 4)}`;
    $('ips-value').textContent = fmt(m.imagesPerSec, 1);
    $('sched-value').textContent = `${fmtG(m.lr)} · ${fmt(m.momentum, 4)} · ${fmt(m.teacherTemp, 3)}`;
    if (typeof m.probeTop1 === 'number') {
      $('probe-kpi').hidden = false;
      $('probe-value').textContent = `${(100 * m.probeTop1).toFixed(1)} %`;
    }
    for (const [id, st] of Object.entries(m.streams || {})) {
      const c = card(id);
      c.fps.textContent = `${fmt(st.fps, 1)} fps`;
      c.drops.textContent = `${st.dropped} dropped`;
      if (st.state) setCamera(c, st.state);
    }
    if (live) redrawPlots();
  }

  // ---------------------------------------------------------------- streams
  function card(id) {
    let c = state.cards.get(id);
    if (c) return c;
    const root = document.createElement('div');
    root.className = 'card';
    root.dataset.stream = id;
    root.style.setProperty('--c', colorOf(id));
    root.innerHTML =
      '<div class="thumb"><img alt=""></div><div class="meta">' +
      '<div class="name"><span class="id"></span><span class="cam">–</span></div>' +
      '<div class="row"><span>novelty</span><div class="bar"><div></div></div><span class="nov">–</span></div>' +
      '<div class="row"><span class="drift">no drift seen</span></div>' +
      '<div class="row"><span class="fps">– fps</span>·<span class="drops">0 dropped</span>·<span class="frame">frame –</span></div></div>';
    root.querySelector('.id').textContent = id;
    root.addEventListener('click', () => selectAttention(id));
    const streams = $('streams');
    const empty = streams.querySelector('.empty');
    if (empty) empty.remove();
    streams.appendChild(root);
    c = {
      root,
      img: root.querySelector('img'),
      cam: root.querySelector('.cam'),
      bar: root.querySelector('.bar > div'),
      nov: root.querySelector('.nov'),
      drift: root.querySelector('.drift'),
      fps: root.querySelector('.fps'),
      drops: root.querySelector('.drops'),
      frame: root.querySelector('.frame'),
    };
    state.cards.set(id, c);
    $('stream-count').textContent = `${state.cards.size}`;
    const opt = document.createElement('option');
    opt.value = id;
    opt.textContent = id;
    $('attention-stream').appendChild(opt);
    for (const hook of window.DinoCardHooks || []) hook(id, root);
    return c;
  }

  function setCamera(c, s) {
    c.cam.textContent = s;
    c.cam.className = `cam ${s}`;
  }

  function onStatus(m) {
    const nov = state.novelty;
    nov.x.push(m.t / 1000);
    for (const s of m.streams) {
      if (!nov.byStream.has(s.streamId)) nov.byStream.set(s.streamId, new Array(nov.x.length - 1).fill(null));
    }
    for (const [id, arr] of nov.byStream) {
      const s = m.streams.find((x) => x.streamId === id);
      arr.push(s ? (s.noveltyMax ?? s.novelty ?? null) : null);
    }
    trim([nov.x, ...nov.byStream.values()]);
    for (const s of m.streams) {
      const c = card(s.streamId);
      if (typeof s.novelty === 'number') {
        c.nov.textContent = s.novelty.toFixed(2);
        c.bar.style.width = `${Math.max(0, Math.min(1, s.novelty)) * 100}%`;
      }
      if (s.drift) {
        const age = m.t - s.drift.t;
        const active = age < 60e3;
        c.drift.className = `drift ${active ? 'active' : 'stable'}`;
        c.drift.textContent = `${active ? 'DRIFT' : 'stable'} · last drift ${ago(age)} (p=${fmtG(s.drift.pValue)}, ${s.drift.method})`;
      } else {
        c.drift.className = 'drift stable';
        c.drift.textContent = 'stable · no drift seen';
      }
      if (s.camera) setCamera(c, s.camera.state);
      if (typeof s.fps === 'number') c.fps.textContent = `${fmt(s.fps, 1)} fps`;
      if (typeof s.dropped === 'number') c.drops.textContent = `${s.dropped} dropped`;
      if (typeof s.frameIndex === 'number') c.frame.textContent = `frame ${s.frameIndex}`;
    }
    const col = $('collapse');
    if (m.collapse) {
      col.hidden = false;
      col.className = `badge ${m.collapse.state === 'collapsed' ? 'bad' : 'ok'}`;
      col.textContent = m.collapse.state === 'collapsed' ? `COLLAPSE: ${m.collapse.reason}` : 'healthy';
      col.title = m.collapse.reason;
    }
    redrawPlots();
  }

  function onThumbnail(m) {
    const c = card(m.streamId);
    c.img.src = `data:image/jpeg;base64,${m.jpeg}`;
    c.frame.textContent = `frame ${m.frameIndex}`;
  }

  // ---------------------------------------------------------------- attention
  const { drawOverlay } = window.DinoHeatmap;

  function onAttention(m) {
    const img = new Image();
    img.onload = () => {
      state.attention.set(m.streamId, { msg: m, img });
      if (!state.attentionStream) selectAttention(m.streamId);
      else if (state.attentionStream === m.streamId) drawAttention();
    };
    img.src = `data:image/jpeg;base64,${m.jpeg}`;
    card(m.streamId);
  }

  function selectAttention(id) {
    state.attentionStream = id;
    $('attention-stream').value = id;
    for (const [sid, c] of state.cards) c.root.classList.toggle('selected', sid === id);
    drawAttention();
  }

  function drawAttention() {
    const entry = state.attention.get(state.attentionStream);
    if (!entry) return;
    const { msg } = entry;
    if (state.head !== 'mean' && state.head >= msg.heads) state.head = 'mean';
    const canvas = $('attention');
    const opacity = Number($('attention-opacity').value);
    drawOverlay(canvas, entry, state.head, opacity);
    canvas.dataset.frameIndex = String(msg.frameIndex);
    canvas.dataset.draws = String((Number(canvas.dataset.draws) || 0) + 1);
    $('attention-caption').textContent = `${msg.streamId} · frame ${msg.frameIndex} · teacher step ${msg.teacherStep} · ${msg.heads} heads, ${msg.grid}×${msg.grid} patches · ${state.head === 'mean' ? 'mean over heads' : 'head ' + state.head}`;

    const strip = $('attention-heads');
    const choices = ['mean', ...Array.from({ length: msg.heads }, (_, h) => h)];
    if (strip.children.length !== choices.length) {
      strip.textContent = '';
      for (const h of choices) {
        const fig = document.createElement('figure');
        const c = document.createElement('canvas');
        c.width = 64;
        c.height = 64;
        c.addEventListener('click', () => {
          state.head = h;
          drawAttention();
        });
        const cap = document.createElement('figcaption');
        cap.textContent = h === 'mean' ? 'mean' : `head ${h}`;
        fig.append(c, cap);
        strip.appendChild(fig);
      }
    }
    choices.forEach((h, i) => {
      const c = strip.children[i].querySelector('canvas');
      drawOverlay(c, entry, h, 0.85);
      c.classList.toggle('selected', h === state.head);
    });
  }

  // ---------------------------------------------------------------- PCA
  function drawPca() {
    const p = state.pca;
    $('pca-caption').textContent = DinoPca.drawPca($('pca'), p, colorOf);
    const legend = $('pca-legend');
    legend.textContent = '';
    for (const id of p ? p.streams : []) {
      const s = document.createElement('span');
      s.style.setProperty('--c', colorOf(id));
      s.textContent = id;
      legend.appendChild(s);
    }
  }

  // ---------------------------------------------------------------- wiring
  $('attention-stream').addEventListener('change', (e) => selectAttention(e.target.value));
  $('attention-opacity').addEventListener('input', drawAttention);
  // Plots follow their panel's width (uPlot draws at a fixed pixel size).
  const resize = new ResizeObserver(() => {
    for (const k of ['loss', 'entropy', 'ips', 'novelty']) {
      const el = plots[k] && plots[k].root.parentElement;
      if (el && Math.abs(el.clientWidth - plots[k].width) > 4) plots[k].setSize({ width: Math.max(300, el.clientWidth), height: 160 });
    }
  });
  for (const id of ['plot-loss', 'plot-entropy', 'plot-ips', 'plot-novelty']) resize.observe($(id));
  window.addEventListener('resize', drawPca);
  buildPlots();
  connect();
})();
