import { randomInt } from 'node:crypto'
import type { JsonObject } from '../json.js'
import { clone, deepEqual } from '../json.js'
import { nowSeconds } from '../managed.js'
import type { Store } from '../store.js'
import { meta } from '../store.js'
import type { EventRecorder } from './events.js'
import type { ControllerWriter } from './writer.js'
import { rtOf } from './writer.js'

const rsRt = rtOf('replicasets', 'apps')
const podRt = rtOf('pods')
const MANAGER = 'kube-controller-manager'

function suffix(): string {
  const chars = 'bcdfghjklmnpqrstvwxz2456789'
  let s = ''
  for (let i = 0; i < 5; i++) s += chars[randomInt(chars.length)]
  return s
}

export function isPodReady(p: JsonObject): boolean {
  const conds = ((p.status as JsonObject | undefined)?.conditions as JsonObject[] | undefined) ?? []
  return conds.some(c => c.type === 'Ready' && c.status === 'True')
}

// Keeps each ReplicaSet's pod count at spec.replicas and reports its status.
export class ReplicaSetController {
  constructor(
    private store: Store,
    private writer: ControllerWriter,
    private events: EventRecorder
  ) {}

  // uid -> the namespace's latest change as the ReplicaSet's last sync saw it: nothing in a ReplicaSet's sync
  // depends on the clock, so one whose namespace has not changed since is skipped. That holds because a ready
  // pod counts as available at once (no minReadySeconds here): a sync that timed availability would have to
  // be exempted, as the Deployment controller exempts a rollout whose deadline may come due.
  private lastSynced = new Map<string, number>()

  sync(): void {
    const live = new Set<string>()
    for (const rs of this.store.scan(rsRt)) {
      if (meta(rs).deletionTimestamp) continue
      const uid = String(meta(rs).uid)
      const namespace = String(meta(rs).namespace)
      live.add(uid)
      if (this.lastSynced.get(uid) === this.store.lastChangeIn(namespace)) continue
      // What this sync saw: its own writes count as a change, so a sync that wrote runs once more to confirm.
      this.lastSynced.set(uid, this.store.lastChangeIn(namespace))
      this.syncOne(clone(rs))
    }
    for (const uid of this.lastSynced.keys()) if (!live.has(uid)) this.lastSynced.delete(uid)
  }

  private syncOne(rs: JsonObject): void {
    const m = meta(rs)
    const ns = String(m.namespace)
    const pods = this.store
      .list(podRt, ns)
      .filter(p => ((meta(p).ownerReferences as JsonObject[] | undefined) ?? []).some(r => r.uid === m.uid))
    const active = pods.filter(p => !meta(p).deletionTimestamp)
    const want = Number((rs.spec as JsonObject).replicas ?? 1)
    if (active.length < want) {
      for (let i = active.length; i < want; i++) this.createPod(rs)
    } else if (active.length > want) {
      // not-ready and not-yet-scheduled pods go first, then the newest
      const order = [...active].sort((a, b) => {
        const ra = isPodReady(a) ? 1 : 0
        const rb = isPodReady(b) ? 1 : 0
        if (ra !== rb) return ra - rb
        return String(meta(b).creationTimestamp).localeCompare(String(meta(a).creationTimestamp))
      })
      for (const p of order.slice(0, active.length - want)) {
        const next = clone(p)
        meta(next).deletionTimestamp = nowSeconds()
        meta(next).deletionGracePeriodSeconds = Number(
          (p.spec as JsonObject).terminationGracePeriodSeconds ?? 30
        )
        this.store.put(podRt, next)
        this.events.record(
          rs,
          'Normal',
          'SuccessfulDelete',
          `Deleted pod: ${String(meta(p).name)}`,
          'replicaset-controller'
        )
      }
    }
    const now = this.store
      .list(podRt, ns)
      .filter(p => ((meta(p).ownerReferences as JsonObject[] | undefined) ?? []).some(r => r.uid === m.uid))
    const live = now.filter(p => !meta(p).deletionTimestamp)
    const ready = live.filter(isPodReady).length
    const status: JsonObject = { replicas: live.length }
    if (live.length) status.fullyLabeledReplicas = live.length
    if (ready) status.readyReplicas = ready
    if (ready) status.availableReplicas = ready
    status.terminatingReplicas = now.length - live.length
    status.observedGeneration = Number(m.generation ?? 1)
    if (deepEqual(status, rs.status)) return
    const fresh = this.store.get(rsRt, ns, String(m.name))
    if (!fresh) return
    const next = clone(fresh)
    next.status = status
    this.writer.update(rsRt, fresh, next, MANAGER, 'status')
  }

  private createPod(rs: JsonObject): void {
    const m = meta(rs)
    const template = clone((rs.spec as JsonObject).template) as JsonObject
    const tmeta = (template.metadata as JsonObject | undefined) ?? {}
    const name = `${String(m.name)}-${suffix()}`
    const pod: JsonObject = {
      metadata: {
        name,
        namespace: m.namespace ?? null,
        ...(tmeta.labels ? { labels: tmeta.labels } : {}),
        ...(tmeta.annotations ? { annotations: tmeta.annotations } : {}),
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: m.name ?? null,
            uid: m.uid ?? null,
            controller: true,
            blockOwnerDeletion: true
          }
        ]
      },
      spec: template.spec ?? {},
      status: { phase: 'Pending', qosClass: 'Burstable' }
    }
    this.writer.create(podRt, pod, MANAGER)
    this.events.record(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${name}`, 'replicaset-controller')
  }
}
