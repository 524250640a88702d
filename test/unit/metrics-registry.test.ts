import { describe, expect, test } from 'bun:test'
import { RouteNames, pathOf } from '../../src/coordinator/metrics/http'
import { maxFiles, statusBytes } from '../../src/coordinator/metrics/process'
import { Registry } from '../../src/coordinator/metrics/registry'
import { escapeHelp, escapeLabelValue } from '../../src/coordinator/metrics/text'

describe('the registry writes the Prometheus text format 0.0.4', () => {
  test('a small registry, exactly: HELP/TYPE, labels in declared order, cumulative buckets to +Inf, _sum, _count', async () => {
    const r = new Registry()
    const jobs = r.counter({ name: 'x_jobs_total', help: 'Jobs.', labels: ['state', 'outcome'] })
    jobs.labels('succeeded', 'exited').inc()
    jobs.labels('succeeded', 'exited').inc(2)
    jobs.labels('failed', 'oom').inc()
    jobs.labels('failed', 'oom').inc(-5) // a counter never goes down
    r.gauge({ name: 'x_up', help: 'Up.' }).set(1)
    const h = r.histogram({ name: 'x_wait_seconds', help: 'Wait.', buckets: [0.1, 1, 10] })
    for (const v of [0.05, 0.1, 0.5, 20]) h.observe(v)
    r.gauge({
      name: 'x_slots',
      help: 'Slots.',
      labels: ['state'],
      collect: (set) => {
        set(3, 'busy')
        set(5, 'free')
      },
    })
    expect(await r.expose()).toBe(
      [
        '# HELP x_jobs_total Jobs.',
        '# TYPE x_jobs_total counter',
        'x_jobs_total{state="succeeded",outcome="exited"} 3',
        'x_jobs_total{state="failed",outcome="oom"} 1',
        '# HELP x_up Up.',
        '# TYPE x_up gauge',
        'x_up 1',
        '# HELP x_wait_seconds Wait.',
        '# TYPE x_wait_seconds histogram',
        'x_wait_seconds_bucket{le="0.1"} 2',
        'x_wait_seconds_bucket{le="1"} 3',
        'x_wait_seconds_bucket{le="10"} 3',
        'x_wait_seconds_bucket{le="+Inf"} 4',
        'x_wait_seconds_sum 20.65',
        'x_wait_seconds_count 4',
        '# HELP x_slots Slots.',
        '# TYPE x_slots gauge',
        'x_slots{state="busy"} 3',
        'x_slots{state="free"} 5',
        '',
      ].join('\n'),
    )
  })

  test('label values escape backslash, double quote and newline; HELP escapes backslash and newline', async () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd')
    expect(escapeHelp('say "hi"\\\nbye')).toBe('say "hi"\\\\\\nbye')
    const r = new Registry()
    r.counter({ name: 'x_total', help: 'Line one\nline "two" \\', labels: ['v'] })
      .labels('q"\\\n')
      .inc()
    expect(await r.expose()).toBe(
      '# HELP x_total Line one\\nline "two" \\\\\n# TYPE x_total counter\nx_total{v="q\\"\\\\\\n"} 1\n',
    )
  })

  test('a labelled histogram: each series its own buckets, le after the labels; values on a bound fall in it', async () => {
    const r = new Registry()
    const h = r.histogram({ name: 'x_seconds', help: 'H.', labels: ['route'], buckets: [1, 2] })
    h.labels('/a').observe(1)
    h.labels('/b').observe(3)
    h.labels('/a').observe(Number.NaN)
    const text = await r.expose()
    expect(text).toContain('x_seconds_bucket{route="/a",le="1"} 1\n')
    expect(text).toContain('x_seconds_bucket{route="/a",le="+Inf"} 1\n')
    expect(text).toContain('x_seconds_bucket{route="/b",le="2"} 0\n')
    expect(text).toContain('x_seconds_bucket{route="/b",le="+Inf"} 1\n')
    expect(text).toContain('x_seconds_count{route="/a"} 1\n')
  })

  test('the same label values find the same child; a collected gauge drops series it no longer sets', async () => {
    const r = new Registry()
    const c = r.counter({ name: 'x_total', help: 'C.', labels: ['a', 'b'] })
    expect(c.labels('1', '2')).toBe(c.labels('1', '2'))
    expect(c.labels('1', '2')).not.toBe(c.labels('1', '3'))
    let states = ['busy', 'free']
    r.gauge({ name: 'x_g', help: 'G.', labels: ['s'], collect: (set) => states.forEach((s) => set(1, s)) })
    expect(await r.expose()).toContain('x_g{s="free"} 1')
    states = ['busy']
    expect(await r.expose()).not.toContain('free')
  })

  test('a failing collector leaves only its own metric out of the scrape', async () => {
    const r = new Registry()
    r.gauge({ name: 'x_db', help: 'D.', collect: () => Promise.reject(new Error('database away')) })
    r.gauge({ name: 'x_ok', help: 'O.' }).set(2)
    const text = await r.expose()
    expect(text).not.toContain('x_db')
    expect(text).toContain('x_ok 2')
  })

  test('declarations are checked: counter names end in _total, names and labels valid, no le, no twice', () => {
    const r = new Registry()
    expect(() => r.counter({ name: 'x_jobs', help: '' })).toThrow('_total')
    expect(() => r.gauge({ name: 'x-y', help: '' })).toThrow('not a valid')
    expect(() => r.histogram({ name: 'x_h', help: '', labels: ['le'], buckets: [1] })).toThrow('label')
    expect(() => r.histogram({ name: 'x_h', help: '', buckets: [2, 1] })).toThrow('increasing')
    r.gauge({ name: 'x_g', help: '' })
    expect(() => r.gauge({ name: 'x_g', help: '' })).toThrow('twice')
  })
})

describe('bounded route labels', () => {
  const names = new RouteNames((p) => p.startsWith('/api/') || p === '/health' || p === '/metrics')
  names.learn([
    { method: 'ALL', path: '/api/*' },
    { method: 'GET', path: '/api/jobs/:id' },
    { method: 'GET', path: '/api/jobs/:id/attempts' },
    { method: 'GET', path: '/api/jobs/stats' },
    { method: 'POST', path: '/api/jobs' },
    { method: 'GET', path: '/health' },
  ])
  test('templates, never raw paths; web pages are dashboard, unknown API paths other', () => {
    expect(names.of('/api/jobs/abc123')).toBe('/api/jobs/:id')
    expect(names.of('/api/jobs/abc123/attempts')).toBe('/api/jobs/:id/attempts')
    expect(names.of('/api/jobs/stats')).toBe('/api/jobs/stats')
    expect(names.of('/api/jobs')).toBe('/api/jobs')
    expect(names.of('/health')).toBe('/health')
    expect(names.of('/api/nope/x')).toBe('other')
    expect(names.of('/jobs/abc')).toBe('dashboard')
    expect(names.of('/ws/worker')).toBe('/ws/worker')
  })
  test('the path of a URL, without its query or fragment', () => {
    expect(pathOf('http://h:1/api/jobs/x?follow=1')).toBe('/api/jobs/x')
    expect(pathOf('https://h/a#b')).toBe('/a')
    expect(pathOf('http://h')).toBe('/')
  })
})

describe('/proc parsing', () => {
  test('VmSize and the open-files soft limit', () => {
    expect(statusBytes('Name:\tbun\nVmSize:\t  123456 kB\nVmRSS:\t 100 kB\n', 'VmSize')).toBe(123456 * 1024)
    expect(statusBytes('Name:\tbun\n', 'VmSize')).toBeUndefined()
    expect(
      maxFiles(
        'Limit  Soft Limit  Hard Limit  Units\nMax open files            1024                 524288               files\n',
      ),
    ).toBe(1024)
    expect(
      maxFiles('Max open files            unlimited            unlimited            files\n'),
    ).toBeUndefined()
  })
})
