import type { JsonObject } from './json.js'
import { isObject } from './json.js'
import type { ResourceType } from './resources.js'
import { meta } from './store.js'

// meta.k8s.io/v1 Table answers for `kubectl get` without -o, with the columns kubectl users expect.
export const TABLE_CONTENT_TYPE = 'application/json;as=Table;v=v1;g=meta.k8s.io'

export function wantsTable(accept: string | undefined): boolean {
  return (accept ?? '').replace(/\s/g, '').split(',')[0].includes('as=Table')
}

function age(ts: unknown): string {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(String(ts))) / 1000))
  if (s < 120) return `${s}s`
  if (s < 600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`
  if (s < 7200) return `${Math.floor(s / 60)}m`
  return `${Math.floor(s / 3600)}h`
}

type Column = [name: string, type: string, cell: (o: JsonObject) => string | number]

const num = (o: JsonObject, ...path: string[]): number => {
  let cur: unknown = o
  for (const p of path) cur = isObject(cur) ? cur[p] : undefined
  return typeof cur === 'number' ? cur : 0
}

function podStatus(o: JsonObject): string {
  const st = (o.status as JsonObject | undefined) ?? {}
  if (meta(o).deletionTimestamp) return 'Terminating'
  const all = [
    ...((st.initContainerStatuses as JsonObject[] | undefined) ?? []),
    ...((st.containerStatuses as JsonObject[] | undefined) ?? [])
  ]
  for (const c of all) {
    const w = (c.state as JsonObject | undefined)?.waiting as JsonObject | undefined
    if (w?.reason && w.reason !== 'PodInitializing' && w.reason !== 'ContainerCreating')
      return String(w.reason)
  }
  const sched = ((st.conditions as JsonObject[] | undefined) ?? []).find(c => c.type === 'PodScheduled')
  if (sched?.status === 'False') return 'Pending'
  if (
    all.some(
      c =>
        ((c.state as JsonObject | undefined)?.waiting as JsonObject | undefined)?.reason === 'PodInitializing'
    )
  )
    return 'Init:0/1'
  return String(st.phase ?? 'Pending')
}

const COLUMNS: Record<string, Column[]> = {
  Pod: [
    [
      'Ready',
      'string',
      o => {
        const cs = ((o.status as JsonObject | undefined)?.containerStatuses as JsonObject[] | undefined) ?? []
        const total = (((o.spec as JsonObject).containers as unknown[]) ?? []).length
        return `${cs.filter(c => c.ready === true).length}/${total}`
      }
    ],
    ['Status', 'string', podStatus],
    [
      'Restarts',
      'string',
      o =>
        String(
          (
            ((o.status as JsonObject | undefined)?.containerStatuses as JsonObject[] | undefined) ?? []
          ).reduce((n, c) => n + Number(c.restartCount ?? 0), 0)
        )
    ]
  ],
  Deployment: [
    ['Ready', 'string', o => `${num(o, 'status', 'readyReplicas')}/${num(o, 'spec', 'replicas')}`],
    ['Up-to-date', 'integer', o => num(o, 'status', 'updatedReplicas')],
    ['Available', 'integer', o => num(o, 'status', 'availableReplicas')]
  ],
  ReplicaSet: [
    ['Desired', 'integer', o => num(o, 'spec', 'replicas')],
    ['Current', 'integer', o => num(o, 'status', 'replicas')],
    ['Ready', 'integer', o => num(o, 'status', 'readyReplicas')]
  ],
  Namespace: [['Status', 'string', o => String((o.status as JsonObject | undefined)?.phase ?? '')]],
  Secret: [
    ['Type', 'string', o => String(o.type ?? '')],
    ['Data', 'string', o => String(Object.keys((o.data as JsonObject | undefined) ?? {}).length)]
  ],
  Event: [
    ['Type', 'string', o => String(o.type ?? '')],
    ['Reason', 'string', o => String(o.reason ?? '')],
    [
      'Object',
      'string',
      o => {
        const io = (o.involvedObject as JsonObject | undefined) ?? {}
        return `${String(io.kind ?? '').toLowerCase()}/${String(io.name ?? '')}`
      }
    ],
    ['Message', 'string', o => String(o.message ?? '')]
  ]
}

export function toTable(rt: ResourceType, items: JsonObject[], resourceVersion: string): JsonObject {
  const cols = COLUMNS[rt.kind] ?? []
  // events lead with LAST SEEN and hide their generated names, as the real printer does
  const isEvent = rt.kind === 'Event'
  const nameColumn = {
    name: 'Name',
    type: 'string',
    format: 'name',
    description: 'Name must be unique within a namespace.',
    priority: isEvent ? 1 : 0
  }
  const timeColumn = {
    name: isEvent ? 'Last Seen' : 'Age',
    type: 'string',
    format: '',
    description: 'time',
    priority: 0
  }
  const columnDefinitions = [
    ...(isEvent ? [timeColumn, nameColumn] : [nameColumn]),
    ...cols.map(([name, type]) => ({ name, type, format: '', description: name, priority: 0 })),
    ...(isEvent ? [] : [timeColumn])
  ]
  const rows = items.map(o => ({
    cells: isEvent
      ? [
          age(o.lastTimestamp ?? meta(o).creationTimestamp),
          String(meta(o).name),
          ...cols.map(([, , cell]) => cell(o))
        ]
      : [String(meta(o).name), ...cols.map(([, , cell]) => cell(o)), age(meta(o).creationTimestamp)],
    object: {
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1',
      metadata: Object.fromEntries(Object.entries(meta(o)).filter(([k]) => k !== 'managedFields'))
    }
  }))
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions,
    rows
  }
}
