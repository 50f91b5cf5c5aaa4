// The README's screenshots of the job summaries are of the samples as they are now: every docs/samples/*.md
// has its docs/screenshots/*.png, made from exactly its current bytes (sources.json, written by
// `npm run docs:screenshots`), and each is a real PNG of a plausible size. Reads files only: no Chromium.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { REPO_ROOT } from '../support/run-action.js'

const SAMPLES = path.join(REPO_ROOT, 'docs', 'samples')
const SCREENSHOTS = path.join(REPO_ROOT, 'docs', 'screenshots')
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

const samples = (await readdir(SAMPLES)).filter(f => f.endsWith('.md')).sort()
const pngOf = (sample: string): string => `${path.basename(sample, '.md')}.png`

describe('summary screenshots', () => {
  test('there are samples to screenshot', () => {
    assert.ok(samples.length > 0, `no Markdown in ${SAMPLES}`)
  })

  test('every sample has a screenshot, and every screenshot a sample', async () => {
    const pngs = (await readdir(SCREENSHOTS)).filter(f => f.endsWith('.png')).sort()
    assert.deepEqual(pngs, samples.map(pngOf).sort(), 'run npm run docs:screenshots')
  })

  test('the screenshots were made from the current samples', async () => {
    const sources = JSON.parse(await readFile(path.join(SCREENSHOTS, 'sources.json'), 'utf8')) as Record<
      string,
      string
    >
    const current = Object.fromEntries(
      await Promise.all(
        samples.map(async s => [
          s,
          createHash('sha256')
            .update(await readFile(path.join(SAMPLES, s)))
            .digest('hex')
        ])
      )
    )
    assert.deepEqual(sources, current, 'run npm run docs:screenshots')
  })

  for (const sample of samples) {
    test(`${pngOf(sample)} is a PNG of a plausible size`, async () => {
      const png = await readFile(path.join(SCREENSHOTS, pngOf(sample)))
      assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE, 'PNG signature')
      // The first chunk is IHDR: length (4 bytes), type, then width and height, big-endian.
      assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR')
      const width = png.readUInt32BE(16)
      const height = png.readUInt32BE(20)
      // The summary pane is 1012 CSS px wide, at 1x or 2x; the height is capped at 2400 CSS px.
      assert.ok(width >= 1000 && width <= 2100, `width ${width}`)
      assert.ok(height >= 100 && height <= 4800, `height ${height}`)
    })
  }
})
