import type { ServerResponse } from 'node:http'
import type { JsonObject } from './json.js'
import type { ResourceType } from './resources.js'
import { labelsOf, parseFieldSelector, parseLabelSelector } from './selectors.js'
import { expired } from './status.js'
import { TABLE_CONTENT_TYPE, toTable } from './table.js'
import type { Store, StoreEvent } from './store.js'

// Newline-delimited JSON watch stream. Headers go out at once: a client waiting on a finished rollout must not hang.
export function serveWatch(
  store: Store,
  res: ServerResponse,
  rt: ResourceType,
  namespace: string | undefined,
  q: URLSearchParams,
  open: Set<ServerResponse>,
  asTable = false
): void {
  const byLabel = parseLabelSelector(q.get('labelSelector'))
  const byField = parseFieldSelector(q.get('fieldSelector'), rt.kind)
  const matches = (e: StoreEvent): boolean =>
    e.rt === rt &&
    (namespace === undefined || e.namespace === namespace) &&
    byLabel(labelsOf(e.object)) &&
    byField(e.object)

  res.writeHead(200, {
    'Content-Type': asTable ? TABLE_CONTENT_TYPE : 'application/json',
    'Transfer-Encoding': 'chunked',
    'Cache-Control': 'no-cache'
  })
  res.flushHeaders()
  let columnsSent = false
  const write = (type: string, object: JsonObject | object): void => {
    if (res.writableEnded) return
    let payload = object
    if (asTable && (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED')) {
      const rv = String((object as { metadata?: JsonObject }).metadata?.resourceVersion ?? '')
      const table = toTable(rt, [object as JsonObject], rv)
      // only the first event of the stream carries the column definitions
      if (columnsSent) table.columnDefinitions = []
      columnsSent = true
      payload = table
    }
    res.write(JSON.stringify({ type, object: payload }) + '\n')
  }

  const rvParam = q.get('resourceVersion')
  const backlog: StoreEvent[] = []
  const initialEvents = q.get('sendInitialEvents') === 'true'
  if (!rvParam || rvParam === '0' || initialEvents) {
    for (const o of store.list(rt, namespace)) {
      if (byLabel(labelsOf(o)) && byField(o)) write('ADDED', o)
    }
    // streaming lists (WatchList) end their initial batch with this bookmark
    if (initialEvents)
      write('BOOKMARK', {
        kind: rt.kind,
        apiVersion: rt.group ? `${rt.group}/${rt.version}` : rt.version,
        metadata: {
          resourceVersion: String(store.currentRv()),
          annotations: { 'k8s.io/initial-events-end': 'true' }
        }
      })
  } else {
    const rv = Number(rvParam)
    const replay = Number.isFinite(rv) ? store.since(rv) : undefined
    if (!replay) {
      write('ERROR', expired(`too old resource version: ${rvParam} (${store.oldestResumableRv()})`))
      res.end()
      return
    }
    backlog.push(...replay.filter(matches))
  }
  for (const e of backlog) write(e.type, e.object)

  const unsubscribe = store.subscribe(e => {
    if (matches(e)) write(e.type, e.object)
  })
  const seconds = Number(q.get('timeoutSeconds') ?? 0)
  const timer = seconds > 0 ? setTimeout(() => res.end(), seconds * 1000) : undefined
  const bookmarks =
    q.get('allowWatchBookmarks') === 'true'
      ? setInterval(
          () =>
            write('BOOKMARK', {
              kind: rt.kind,
              apiVersion: rt.group ? `${rt.group}/${rt.version}` : rt.version,
              metadata: { resourceVersion: String(store.currentRv()) }
            }),
          30_000
        )
      : undefined
  open.add(res)
  res.on('close', () => {
    unsubscribe()
    if (timer) clearTimeout(timer)
    if (bookmarks) clearInterval(bookmarks)
    open.delete(res)
  })
}
