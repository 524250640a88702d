import { createHash } from 'node:crypto'
import { Hono } from 'hono'
import style from './assets/style.css' with { type: 'text' }
import chart from './client/chart.js' with { type: 'text' }
import jobLive from './client/job-live.js' with { type: 'text' }
import live from './client/live.js' with { type: 'text' }
import run from './client/run.js' with { type: 'text' }

/**
 * The dashboard's files, embedded in the binary: a style sheet and small browser scripts
 * (src/web/client, plain JavaScript checked by tsc). Each is served under a name with its
 * content's hash, so a browser keeps it until the binary changes.
 */
const SOURCES: Record<string, { type: string; text: () => string }> = {
  'style.css': { type: 'text/css; charset=utf-8', text: () => style },
  'live.js': { type: 'text/javascript; charset=utf-8', text: () => live },
  'chart.js': { type: 'text/javascript; charset=utf-8', text: () => chart },
  'job-live.js': { type: 'text/javascript; charset=utf-8', text: () => jobLive },
  'run.js': { type: 'text/javascript; charset=utf-8', text: () => run },
}

interface Asset {
  path: string
  type: string
  body: string
}

const built = new Map<string, Asset>()

function asset(name: string): Asset {
  let a = built.get(name)
  if (!a) {
    const source = SOURCES[name]
    if (!source) throw new Error(`no dashboard asset ${name}`)
    const body = source.text()
    const hash = createHash('sha256').update(body).digest('hex').slice(0, 12)
    const dot = name.lastIndexOf('.')
    a = { path: `/assets/${name.slice(0, dot)}.${hash}${name.slice(dot)}`, type: source.type, body }
    built.set(name, a)
  }
  return a
}

/** The URL a page links an asset by (`style.css`, `live.js`). */
export function assetUrl(name: string): string {
  return asset(name).path
}

/** Serves the assets, without a session: they hold nothing of anyone's. */
export function assetRoutes(): Hono {
  const app = new Hono()
  app.get('/assets/:file', (c) => {
    const file = c.req.param('file')
    for (const name of Object.keys(SOURCES)) {
      const a = asset(name)
      if (a.path === `/assets/${file}`) {
        return c.body(a.body, 200, {
          'content-type': a.type,
          'cache-control': 'public, max-age=31536000, immutable',
        })
      }
    }
    return c.text('no such asset', 404)
  })
  return app
}
