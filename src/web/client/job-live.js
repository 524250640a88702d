// @ts-check
// A job's page: its output as it is produced, from the server-sent events of `data-job-live`.
// Text goes in with textContent, into spans of class stdout or stderr: never as markup.
// Events: output {stream, text}, state {state, worker, reason}, end {state, exitCode}.

for (const root of document.querySelectorAll('[data-job-live]')) {
  if (!(root instanceof HTMLElement)) continue
  const url = root.dataset['jobLive']
  const out = root.querySelector('[data-output]')
  if (!url || !(out instanceof HTMLElement)) continue
  const source = new EventSource(url)
  /** Whether the view is at the bottom, so new text keeps it there (reading above is left alone). */
  const atBottom = () => out.scrollHeight - out.scrollTop - out.clientHeight < 24

  /** @param {string} cls @param {string} text */
  const append = (cls, text) => {
    const follow = atBottom()
    const last = out.lastElementChild
    if (last instanceof HTMLSpanElement && last.className === cls) last.append(text)
    else {
      const span = document.createElement('span')
      span.className = cls
      span.textContent = text
      out.append(span)
    }
    if (follow) out.scrollTop = out.scrollHeight
  }

  /** @param {string} state */
  const showState = (state) => {
    for (const el of root.querySelectorAll('[data-field="state"]')) {
      el.textContent = state
      el.className = `state-${state}`
    }
  }

  // A reconnect replays the stored output from the start: what was shown goes first.
  source.addEventListener('open', () => out.replaceChildren())
  source.addEventListener('output', (event) => {
    /** @type {{ stream: string, text: string }} */
    const o = JSON.parse(event.data)
    append(o.stream === 'stderr' ? 'stderr' : 'stdout', o.text)
  })
  source.addEventListener('state', (event) => {
    /** @type {{ state: string, worker: string | null, reason: string | null }} */
    const s = JSON.parse(event.data)
    showState(s.state)
    // Why it waited is stale once it left the queue.
    if (s.state !== 'queued')
      for (const el of root.querySelectorAll('[data-waiting]')) el.setAttribute('hidden', '')
    for (const el of root.querySelectorAll('[data-field="worker"]')) el.textContent = s.worker ?? '–'
    if (s.state === 'queued' && s.reason) append('note', `\n[back in the queue: ${s.reason}]\n`)
  })
  source.addEventListener('end', (event) => {
    /** @type {{ state: string, exitCode: number | null }} */
    const e = JSON.parse(event.data)
    // The stream is over; without this the browser would connect again and replay it.
    source.close()
    showState(e.state)
    if (out.childElementCount === 0) append('note', '(no output)')
    if (root.dataset['final'] !== '1') {
      for (const el of root.querySelectorAll('[data-when-ended]')) el.removeAttribute('hidden')
      for (const el of root.querySelectorAll('[data-hide-when-ended]')) el.setAttribute('hidden', '')
    }
  })
}
