import { randomBytes } from 'node:crypto'
import type { JsonObject } from '../json.js'
import { clone } from '../json.js'
import type { Store } from '../store.js'
import { meta } from '../store.js'
import type { ControllerWriter } from './writer.js'
import { rtOf } from './writer.js'

const eventsRt = rtOf('events')

// core/v1 Events as controllers and the kubelet emit them; a repeat bumps count and lastTimestamp.
export class EventRecorder {
  constructor(
    private store: Store,
    private writer: ControllerWriter
  ) {}

  record(
    involved: JsonObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    component: string,
    fieldPath?: string
  ): void {
    const m = meta(involved)
    const ns = String(m.namespace ?? 'default')
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
    const existing = this.store
      .list(eventsRt, ns)
      .find(
        e =>
          (e.involvedObject as JsonObject | undefined)?.uid === m.uid &&
          e.reason === reason &&
          e.message === message &&
          (e.involvedObject as JsonObject | undefined)?.fieldPath === fieldPath
      )
    if (existing) {
      const next = clone(existing)
      next.count = Number(existing.count ?? 1) + 1
      next.lastTimestamp = now
      this.writer.update(eventsRt, existing, next, component)
      return
    }
    const involvedObject: JsonObject = {
      kind: String(involved.kind),
      namespace: ns,
      name: String(m.name),
      uid: String(m.uid),
      apiVersion: String(involved.apiVersion),
      resourceVersion: String(m.resourceVersion ?? '')
    }
    if (fieldPath) involvedObject.fieldPath = fieldPath
    this.writer.create(
      eventsRt,
      {
        metadata: { name: `${String(m.name)}.${randomBytes(8).toString('hex')}`, namespace: ns },
        involvedObject,
        reason,
        message,
        source: { component },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
        type,
        eventTime: null,
        reportingComponent: component,
        reportingInstance: ''
      },
      component
    )
  }
}
