/* dino-stream dashboard: full-rate live video of a camera (ws /live/<stream>, MPEG-1 played by JSMpeg). The agent
   starts one relay per camera for its first viewer and stops it when the last one leaves. */
(function () {
  'use strict';

  const token = (document.querySelector('meta[name="dino-token"]') || {}).content || '';
  const $ = (id) => document.getElementById(id);
  let player = null;
  const stats = { streamId: null, frames: 0 };

  function close() {
    if (player) player.destroy(); // closes the websocket: the agent stops the relay when nobody else watches
    player = null;
    stats.streamId = null;
    $('live-panel').hidden = true;
  }

  function open(streamId) {
    close();
    const panel = $('live-panel');
    panel.hidden = false;
    $('live-caption').textContent = streamId;
    // JSMpeg replaces a canvas it draws into with WebGL; a fresh one each time keeps the 2-D renderer predictable
    const old = $('live-canvas');
    const canvas = document.createElement('canvas');
    canvas.id = 'live-canvas';
    canvas.width = 640;
    canvas.height = 360;
    old.replaceWith(canvas);
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = token ? `?token=${encodeURIComponent(token)}` : '';
    stats.streamId = streamId;
    stats.frames = 0;
    player = new window.JSMpeg.Player(`${proto}//${location.host}/live/${encodeURIComponent(streamId)}${q}`, {
      canvas,
      audio: false,
      // the page's CSP allows no wasm compilation; the JS decoder and the 2-D canvas keep up at this size
      disableWebAssembly: true,
      disableGl: true,
      pauseWhenHidden: false,
      onVideoDecode: () => {
        stats.frames++;
      },
    });
    panel.scrollIntoView({ block: 'nearest' });
  }

  $('live-close').addEventListener('click', close);
  window.DinoLive = { open, close, stats };
})();
