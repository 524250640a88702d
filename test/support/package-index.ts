/**
 * A PEP 503 simple index of small pure-Python wheels made in the test, served from a container on
 * an internal Docker network of its own (no route anywhere else), for package environment tests.
 */

/** The Python image the index runs in (and the jobs use): it has pip (scripts/local-images.sh). */
export const PY_IMAGE = 'gridx-local/python:bookworm'

/**
 * Builds the wheels (a wheel is a zip with METADATA, WHEEL and RECORD) and serves them; every
 * request is logged on stderr. gridx-beta depends on gridx-alpha; gridx-alpha carries a data
 * file; gridx-gamma holds 600 KB of random bytes (for the cache's size); gridx-slow's wheel is
 * never sent (the request stalls, as a slow mirror's would), for stopping an install under way.
 */
const SERVER = String.raw`
import base64, functools, hashlib, http.server, io, os, sys, time, zipfile
root = '/tmp/srv'
def wheel(name, version, files, requires=()):
    dist = '%s-%s.dist-info' % (name, version)
    meta = 'Metadata-Version: 2.1\nName: %s\nVersion: %s\n' % (name.replace('_', '-'), version)
    meta += ''.join('Requires-Dist: %s\n' % r for r in requires)
    entries = dict(files)
    entries[dist + '/METADATA'] = meta
    entries[dist + '/WHEEL'] = 'Wheel-Version: 1.0\nGenerator: gridx-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n'
    record, buf = [], io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        for path, data in entries.items():
            data = data.encode() if isinstance(data, str) else data
            z.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
            record.append('%s,sha256=%s,%d' % (path, digest, len(data)))
        record.append(dist + '/RECORD,,')
        z.writestr(dist + '/RECORD', '\n'.join(record) + '\n')
    fn = '%s-%s-py3-none-any.whl' % (name, version)
    data = buf.getvalue()
    os.makedirs(root + '/files', exist_ok=True)
    open(root + '/files/' + fn, 'wb').write(data)
    project = root + '/simple/' + name.replace('_', '-')
    os.makedirs(project, exist_ok=True)
    link = '<a href="../../files/%s#sha256=%s">%s</a>' % (fn, hashlib.sha256(data).hexdigest(), fn)
    open(project + '/index.html', 'w').write('<html><body>%s</body></html>' % link)
wheel('gridx_alpha', '1.0.0', {
    'gridx_alpha/__init__.py': "import os\n__version__ = '1.0.0'\ndef greeting():\n    return open(os.path.join(os.path.dirname(__file__), 'data.txt')).read().strip()\n",
    'gridx_alpha/data.txt': 'hello from a data file\n',
})
wheel('gridx_beta', '2.1.0', {
    'gridx_beta/__init__.py': "import gridx_alpha\n__version__ = '2.1.0'\ndef shout():\n    return gridx_alpha.greeting().upper()\n",
}, requires=['gridx-alpha>=1.0'])
wheel('gridx_gamma', '0.3.0', {
    'gridx_gamma/__init__.py': "__version__ = '0.3.0'\n",
    'gridx_gamma/blob.bin': os.urandom(600 * 1024),
})
wheel('gridx_slow', '1.0.0', {'gridx_slow/__init__.py': "__version__ = '1.0.0'\n"})
class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        # A download that never comes: an install as slow as the slowest real one.
        if self.path.startswith('/files/gridx_slow'):
            print('stalling on', self.path, file=sys.stderr, flush=True)
            time.sleep(3600)
        return super().do_GET()
print('index ready', flush=True)
handler = functools.partial(Handler, directory=root)
http.server.ThreadingHTTPServer(('', 8000), handler).serve_forever()
`

function docker(...args: string[]): string {
  const r = Bun.spawnSync(['docker', ...args])
  if (r.exitCode !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr.toString()}`)
  return r.stdout.toString().trim()
}

/** A running index: its URL on its network, and how many wheel downloads it has served. */
export interface PackageIndex {
  network: string
  url: string
  /** The index's address with a port where nothing listens (connections refused at once). */
  unreachableUrl: string
  downloads(): number
  /** How many downloads of gridx-slow's wheel have begun (and stall). */
  stalls(): number
  stop(): void
}

/** Starts an index on a new internal network named after `tag` (and this test run). */
export async function startPackageIndex(tag: string): Promise<PackageIndex> {
  const id = `${tag}-${process.pid}-${Date.now().toString(36)}`
  const network = `gridx-pkgw-net-${id}`
  const name = `gridx-pkgw-index-${id}`
  docker('network', 'create', '--internal', network)
  docker(
    'run',
    '-d',
    '--name',
    name,
    '--network',
    network,
    '--tmpfs',
    '/tmp',
    '--entrypoint',
    'python3',
    PY_IMAGE,
    '-u',
    '-c',
    SERVER,
  )
  const logs = () => {
    const r = Bun.spawnSync(['docker', 'logs', name])
    return r.stdout.toString() + r.stderr.toString()
  }
  for (let i = 0; i < 100 && !logs().includes('index ready'); i++) await Bun.sleep(100)
  if (!logs().includes('index ready')) throw new Error(`the package index did not start: ${logs()}`)
  const ip = docker('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name)
  return {
    network,
    url: `http://${name}:8000/simple`,
    unreachableUrl: `http://${ip}:8001/simple`,
    stalls: () => (logs().match(/stalling on \/files\/gridx_slow/g) ?? []).length,
    downloads: () => (logs().match(/"GET \/files\/[^ ]+\.whl HTTP/g) ?? []).length,
    stop() {
      Bun.spawnSync(['docker', 'rm', '-f', name])
      Bun.spawnSync(['docker', 'network', 'rm', network])
    },
  }
}
