/** The Stately inspector UI that the bridge page embeds (served by stately.ai, not by Sprout). */
export const STATELY_INSPECTOR_URL = 'https://stately.ai/inspect';

/**
 * The HTML page the inspector relay serves at `/`: it embeds the Stately inspector from
 * stately.ai in an iframe, connects back to the relay's WebSocket on the same loopback address,
 * and posts every inspection event into the iframe (buffering until the inspector says it is
 * connected). The same bridge `@statelyai/inspect/server` serves, minus its all-interfaces bind.
 *
 * @example
 * response.end(bridgePage());
 */
export function bridgePage(inspectorUrl = STATELY_INSPECTOR_URL): string {
  const src = JSON.stringify(inspectorUrl);
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Sprout · Stately inspector</title>
  <style>
    * { margin: 0; padding: 0; }
    html, body { height: 100%; font: 13px system-ui, sans-serif; }
    #status { position: fixed; right: 8px; bottom: 8px; padding: 2px 8px; border-radius: 4px; background: #222; color: #eee; opacity: .8; }
    iframe { width: 100%; height: 100%; border: none; }
  </style>
</head>
<body>
  <iframe id="inspector" title="Stately inspector"></iframe>
  <div id="status">connecting to sprout…</div>
  <script>
    const iframe = document.getElementById('inspector');
    const status = document.getElementById('status');
    const inspectorUrl = ${src};
    const inspectorOrigin = new URL(inspectorUrl).origin;
    const buffer = [];
    let connected = false;
    let received = 0;
    window.addEventListener('message', (event) => {
      if (event.origin !== inspectorOrigin) return;
      if (event.data && event.data.type === '@statelyai.connected') {
        connected = true;
        for (const data of buffer.splice(0)) iframe.contentWindow.postMessage(data, inspectorOrigin);
      }
    });
    iframe.src = inspectorUrl;
    const ws = new WebSocket('ws://' + location.host + '/');
    ws.onopen = () => { status.textContent = 'connected to sprout'; };
    ws.onclose = () => { status.textContent = 'sprout relay closed (' + received + ' events received)'; };
    ws.onmessage = (message) => {
      received += 1;
      const data = JSON.parse(message.data);
      if (connected) iframe.contentWindow.postMessage(data, inspectorOrigin);
      else buffer.push(data);
    };
  </script>
</body>
</html>
`;
}
