// `npm run docs:screenshots`: the job summaries in docs/samples/*.md as a reader sees them on GitHub, for the
// README. Each is rendered with GitHub's Markdown flavour (marked, GFM) in GitHub's own stylesheet
// (github-markdown-css), ```mermaid blocks drawn as diagrams the way GitHub does, and screenshot in headless
// Chromium. Writes docs/screenshots/<sample>.png and sources.json, the sha256 of the Markdown each was made
// from, so __tests__/unit/screenshots.test.ts can tell when a sample changed and its screenshot did not.

import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { access, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Marked } from 'marked'
import { chromium, type Page } from 'playwright-core'

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url))
const SAMPLES = path.join(REPO_ROOT, 'docs', 'samples')
const OUT = path.join(REPO_ROOT, 'docs', 'screenshots')
const CSS = path.join(REPO_ROOT, 'node_modules', 'github-markdown-css', 'github-markdown-light.css')
const MERMAID = path.join(REPO_ROOT, 'node_modules', 'mermaid', 'dist', 'mermaid.min.js')
// The width of the job summary pane on github.com; past MAX_HEIGHT the image is cut, so that a long summary
// still shows legibly in the README instead of being scaled down to a sliver.
const WIDTH = 1012
const MAX_HEIGHT = 2400
// Rendered at twice the CSS size so the images stay sharp on high-density screens, as GitHub's own are.
const SCALE = 2

const escapeHtml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

// GitHub draws a ```mermaid block as a diagram; every other fence stays a code block. Raw HTML (the
// <details> the action writes) passes through, as GitHub's sanitizer lets it.
const markdown = new Marked({ gfm: true }).use({
  renderer: {
    code({ text, lang }) {
      return lang === 'mermaid' ? `<pre class="mermaid">${escapeHtml(text)}</pre>\n` : false
    }
  }
})

async function findChromium(): Promise<string> {
  const candidates = process.env.CHROMIUM_PATH
    ? [process.env.CHROMIUM_PATH]
    : ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK)
      return candidate
    } catch {
      // not this one
    }
  }
  throw new Error(
    `No Chromium found (looked at ${candidates.join(', ')}). Install one, on Debian or Ubuntu with ` +
      '`sudo apt-get install -y chromium fonts-noto-color-emoji` (the font draws the ' +
      'emoji of the headings), or point CHROMIUM_PATH at a Chromium or Chrome binary.'
  )
}

// Runs mermaid over the page's ```mermaid blocks, if it has any. run() resolves once every diagram is drawn,
// and rejects on a syntax error rather than leaving a "Syntax error in text" bomb for the screenshot.
async function drawDiagrams(tab: Page, sample: string): Promise<void> {
  if ((await tab.locator('pre.mermaid').count()) === 0) return
  await tab.addScriptTag({ path: MERMAID })
  const error = await tab.evaluate(async () => {
    const { mermaid } = globalThis as unknown as {
      mermaid: {
        initialize(config: object): void
        run(options: { querySelector: string; suppressErrors: boolean }): Promise<void>
      }
    }
    mermaid.initialize({ startOnLoad: false, theme: 'default' })
    try {
      await mermaid.run({ querySelector: 'pre.mermaid', suppressErrors: false })
      return undefined
    } catch (e) {
      // A parse error is a plain object with a message, not an Error: Playwright would report it as "Object".
      const message = (e as { message?: unknown } | null)?.message
      return typeof message === 'string' ? message : String(e)
    }
  })
  if (error !== undefined) throw new Error(`${sample}: a mermaid diagram does not render: ${error}`)
}

// Where to cut a page taller than MAX_HEIGHT: below the last block or table row that fits whole, so the image
// does not end in half a line of text. Rows and blocks inside a closed <details> have no box and do not count.
async function cutAt(tab: Page): Promise<number> {
  const blocks = await tab.locator('article > *, article tr').all()
  const boxes = await Promise.all(blocks.map(block => block.boundingBox()))
  // Flush with the bottom border: any margin below a row would show the top of the next one.
  const fits = boxes.flatMap(b => (b && b.y + b.height + 1 <= MAX_HEIGHT ? [b.y + b.height] : []))
  // One block taller than the whole image (a long code block) leaves nothing to cut after: cut through it.
  return fits.length > 0 ? Math.ceil(Math.max(...fits)) + 1 : MAX_HEIGHT
}

const page = (body: string, css: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><style>
${css}
body { margin: 0; background: #fff; }
.markdown-body { box-sizing: border-box; width: ${WIDTH}px; padding: 24px 32px; }
/* GitHub shows a diagram centred on the page, not in a code block's grey box. */
.markdown-body pre.mermaid { background: none; text-align: center; }
</style></head>
<body><article class="markdown-body">
${body}
</article></body></html>`

const samples = (await readdir(SAMPLES)).filter(f => f.endsWith('.md')).sort()
if (samples.length === 0) throw new Error(`no samples in ${SAMPLES}: run npm run docs:samples first`)
const css = await readFile(CSS, 'utf8')
await mkdir(OUT, { recursive: true })

// Chromium's sandbox refuses to start as root (a container, CI); anyone else keeps it.
const browser = await chromium.launch({
  executablePath: await findChromium(),
  args: process.getuid?.() === 0 ? ['--no-sandbox'] : []
})
const sources: Record<string, string> = {}
try {
  const context = await browser.newContext({
    viewport: { width: WIDTH, height: 800 },
    deviceScaleFactor: SCALE
  })
  // Everything the page needs is inlined from node_modules; refusing any request keeps the images the same
  // offline and online, and a summary's links or images from fetching anything.
  await context.route('**/*', route => route.abort())
  for (const sample of samples) {
    const bytes = await readFile(path.join(SAMPLES, sample))
    sources[sample] = createHash('sha256').update(bytes).digest('hex')

    const tab = await context.newPage()
    await tab.setContent(page(await markdown.parse(bytes.toString('utf8')), css))
    await drawDiagrams(tab, sample)
    // The article is the whole page (body has no margin), so its box is the full-page height.
    const box = await tab.locator('article').boundingBox()
    if (!box) throw new Error(`${sample}: nothing rendered`)
    const height = Math.ceil(box.height)
    await tab.setViewportSize({ width: WIDTH, height: height > MAX_HEIGHT ? await cutAt(tab) : height })
    const file = path.join(OUT, `${path.basename(sample, '.md')}.png`)
    await tab.screenshot({ path: file, animations: 'disabled' })
    await tab.close()
    const cut = height > MAX_HEIGHT ? ` (cut, the page is ${height}px tall)` : ''
    process.stdout.write(`wrote ${path.relative(REPO_ROOT, file)}${cut}\n`)
  }
} finally {
  await browser.close()
}

// A screenshot of a sample that no longer exists would only mislead.
const wanted = new Set(samples.map(s => `${path.basename(s, '.md')}.png`))
for (const stale of (await readdir(OUT)).filter(f => f.endsWith('.png') && !wanted.has(f))) {
  await rm(path.join(OUT, stale))
}
await writeFile(path.join(OUT, 'sources.json'), `${JSON.stringify(sources, null, 2)}\n`)
