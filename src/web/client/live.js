// @ts-check
// Live parts of a page: an element with `data-live="URL"` is refreshed from the server-sent
// events at URL; each event's data is a JSON object whose keys name `data-field` elements inside
// (their text is set, never their HTML). The element is then sent a `live` event with the whole
// object as its detail, for scripts that draw more than text (chart.js).
// Checked by tsc (src/web/client/tsconfig.json); served as it is, no build step.

for (const root of document.querySelectorAll('[data-live]')) {
  if (!(root instanceof HTMLElement)) continue
  const url = root.dataset['live']
  if (!url) continue
  const source = new EventSource(url)
  source.addEventListener('message', (event) => {
    /** @type {Record<string, unknown>} */
    const values = JSON.parse(event.data)
    for (const [key, value] of Object.entries(values)) {
      if (typeof value !== 'string' && typeof value !== 'number') continue
      for (const el of root.querySelectorAll(`[data-field="${CSS.escape(key)}"]`)) {
        if (el.textContent !== String(value)) el.textContent = String(value)
      }
    }
    root.dispatchEvent(new CustomEvent('live', { detail: values }))
  })
  // Leaving the page closes the stream at once (the coordinator counts each user's open ones).
  window.addEventListener('pagehide', () => source.close())
}
