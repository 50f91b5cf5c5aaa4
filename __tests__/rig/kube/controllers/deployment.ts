import type { JsonObject } from '../json.js'
import { clone, deepEqual, isObject } from '../json.js'
import { nowSeconds } from '../managed.js'
import type { Store } from '../store.js'
import { meta } from '../store.js'
import type { EventRecorder } from './events.js'
import type { ControllerWriter } from './writer.js'
import { rtOf } from './writer.js'

const deployRt = rtOf('deployments', 'apps')
const rsRt = rtOf('replicasets', 'apps')
const podRt = rtOf('pods')
const MANAGER = 'kube-controller-manager'
const REVISION = 'deployment.kubernetes.io/revision'

// FNV-32a of the template, rendered with the apiserver's "safe" alphabet like the real pod-template-hash.
export function podTemplateHash(template: unknown): string {
  const text = canonical(template)
  let h = 0x811c9dc5
  for (const b of Buffer.from(text)) {
    h ^= b
    h = Math.imul(h, 0x01000193) >>> 0
  }
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789'
  return [...String(h)].map(c => alphabet[c.charCodeAt(0) % alphabet.length]).join('')
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']'
  if (isObject(v))
    return (
      '{' +
      Object.keys(v)
        .sort()
        .map(k => JSON.stringify(k) + ':' + canonical(v[k]))
        .join(',') +
      '}'
    )
  return JSON.stringify(v)
}

function templateWithoutHash(template: unknown): unknown {
  const t = clone(template) as JsonObject
  const labels = (t.metadata as JsonObject | undefined)?.labels
  if (isObject(labels)) delete labels['pod-template-hash']
  return t
}

const revisionOf = (rs: JsonObject): number =>
  Number((meta(rs).annotations as JsonObject | undefined)?.[REVISION] ?? 0)
const specReplicas = (o: JsonObject): number => Number((o.spec as JsonObject).replicas ?? 0)
const statusNum = (o: JsonObject, k: string): number => Number((o.status as JsonObject | undefined)?.[k] ?? 0)

function resolveIntOrPercent(v: unknown, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v
  const s = String(v ?? '0')
  if (s.endsWith('%')) {
    const x = (Number(s.slice(0, -1)) * total) / 100
    return roundUp ? Math.ceil(x) : Math.floor(x)
  }
  return Number(s) || 0
}

export function surgeAndUnavailable(d: JsonObject): { surge: number; unavailable: number } {
  const spec = d.spec as JsonObject
  const desired = specReplicas(d)
  const strategy = spec.strategy as JsonObject | undefined
  if (strategy?.type !== 'RollingUpdate') return { surge: 0, unavailable: 0 }
  const ru = (strategy.rollingUpdate as JsonObject | undefined) ?? {}
  const surge = resolveIntOrPercent(ru.maxSurge ?? '25%', desired, true)
  let unavailable = resolveIntOrPercent(ru.maxUnavailable ?? '25%', desired, false)
  if (surge === 0 && unavailable === 0) unavailable = 1
  return { surge, unavailable: Math.min(unavailable, desired) }
}

interface Progress {
  at: number // ms of the last progress, for ProgressDeadlineExceeded with small deadlines
}

export class DeploymentController {
  private progress = new Map<string, Progress>()
  // uid -> the namespace's latest change as the Deployment's last sync saw it (see sync)
  private lastSynced = new Map<string, number>()

  constructor(
    private store: Store,
    private writer: ControllerWriter,
    private events: EventRecorder
  ) {}

  sync(): void {
    const live = new Set<string>()
    for (const d of this.store.scan(deployRt)) {
      if (meta(d).deletionTimestamp) continue
      const uid = String(meta(d).uid)
      const namespace = String(meta(d).namespace)
      live.add(uid)
      // A Deployment whose namespace has not changed since its last sync would be synced to the same result,
      // unless its progress deadline has passed since: skipped. Syncing every Deployment every tick cost
      // 0.5 ms each, for as long as the rig ran.
      if (this.lastSynced.get(uid) === this.store.lastChangeIn(namespace) && !this.deadlineDue(d)) continue
      // What this sync saw: its own writes count as a change, so a sync that wrote runs once more to confirm.
      this.lastSynced.set(uid, this.store.lastChangeIn(namespace))
      this.syncOne(clone(d))
    }
    for (const uid of this.lastSynced.keys()) if (!live.has(uid)) this.lastSynced.delete(uid)
    for (const uid of this.progress.keys()) if (!live.has(uid)) this.progress.delete(uid)
  }

  private ownedRs(d: JsonObject): JsonObject[] {
    const uid = meta(d).uid
    return this.store
      .list(rsRt, String(meta(d).namespace))
      .filter(rs =>
        ((meta(rs).ownerReferences as JsonObject[] | undefined) ?? []).some(
          r => r.uid === uid && r.controller === true
        )
      )
  }

  private podsOf(rs: JsonObject): JsonObject[] {
    const uid = meta(rs).uid
    return this.store
      .list(podRt, String(meta(rs).namespace))
      .filter(p => ((meta(p).ownerReferences as JsonObject[] | undefined) ?? []).some(r => r.uid === uid))
  }

  private setRs(rs: JsonObject, mutate: (next: JsonObject) => void): JsonObject {
    const next = clone(rs)
    mutate(next)
    return this.writer.update(rsRt, rs, next, MANAGER)
  }

  private scaleRs(
    d: JsonObject,
    rs: JsonObject,
    to: number,
    annotations: Record<string, string>
  ): JsonObject {
    const from = specReplicas(rs)
    const updated = this.setRs(rs, next => {
      ;(next.spec as JsonObject).replicas = to
      const a = (meta(next).annotations as JsonObject | undefined) ?? {}
      Object.assign(a, annotations)
      meta(next).annotations = a
    })
    if (from !== to)
      this.events.record(
        d,
        'Normal',
        'ScalingReplicaSet',
        `Scaled ${to > from ? 'up' : 'down'} replica set ${String(meta(rs).name)} from ${from} to ${to}`,
        'deployment-controller'
      )
    return updated
  }

  private syncOne(d: JsonObject): void {
    const spec = d.spec as JsonObject
    const desired = specReplicas(d)
    const dm = meta(d)
    const uid = String(dm.uid)
    const template = spec.template
    let all = this.ownedRs(d)
    let newRs = all.find(rs => deepEqual(templateWithoutHash((rs.spec as JsonObject).template), template))
    const maxRev = Math.max(0, ...all.map(revisionOf))
    const { surge, unavailable } = surgeAndUnavailable(d)
    const recreate = (spec.strategy as JsonObject | undefined)?.type === 'Recreate'
    const rsAnnotations = {
      'deployment.kubernetes.io/desired-replicas': String(desired),
      'deployment.kubernetes.io/max-replicas': String(desired + surge)
    }
    let created = false
    const paused = spec.paused === true

    if (!paused) {
      let olds = all.filter(rs => rs !== newRs)
      if (recreate) {
        for (const rs of olds) if (specReplicas(rs) > 0) this.scaleRs(d, rs, 0, {})
        olds = this.ownedRs(d).filter(rs => !newRs || meta(rs).uid !== meta(newRs).uid)
      }
      const oldPodsRemain = olds.some(rs => this.podsOf(rs).length > 0)
      if (!newRs && !(recreate && oldPodsRemain)) {
        const hash = podTemplateHash(template)
        const tmpl = clone(template) as JsonObject
        const tmeta = (tmpl.metadata as JsonObject | undefined) ?? {}
        tmeta.labels = { ...((tmeta.labels as JsonObject | undefined) ?? {}), 'pod-template-hash': hash }
        tmpl.metadata = tmeta
        const selector = clone(spec.selector) as JsonObject
        selector.matchLabels = {
          ...((selector.matchLabels as JsonObject | undefined) ?? {}),
          'pod-template-hash': hash
        }
        const allPods = all.reduce((n, rs) => n + specReplicas(rs), 0)
        const initial =
          recreate || all.length === 0 ? desired : Math.max(0, Math.min(desired, desired + surge - allPods))
        newRs = this.writer.create(
          rsRt,
          {
            metadata: {
              name: `${String(dm.name)}-${hash}`,
              namespace: dm.namespace ?? null,
              labels: tmeta.labels,
              annotations: { ...rsAnnotations, [REVISION]: String(maxRev + 1) },
              ownerReferences: [
                {
                  apiVersion: 'apps/v1',
                  kind: 'Deployment',
                  name: dm.name ?? null,
                  uid,
                  controller: true,
                  blockOwnerDeletion: true
                }
              ]
            },
            spec: { replicas: initial, minReadySeconds: spec.minReadySeconds ?? 0, selector, template: tmpl }
          },
          MANAGER
        )
        created = true
        if (initial > 0)
          this.events.record(
            d,
            'Normal',
            'ScalingReplicaSet',
            `Scaled up replica set ${String(meta(newRs).name)} from 0 to ${initial}`,
            'deployment-controller'
          )
      } else if (newRs && revisionOf(newRs) < maxRev) {
        // rollout undo: the old ReplicaSet becomes the newest revision and remembers the ones it had
        const oldRev = revisionOf(newRs)
        const history = String(
          (meta(newRs).annotations as JsonObject | undefined)?.[
            'deployment.kubernetes.io/revision-history'
          ] ?? ''
        )
        newRs = this.setRs(newRs, next => {
          const a = meta(next).annotations as JsonObject
          a[REVISION] = String(maxRev + 1)
          a['deployment.kubernetes.io/revision-history'] = history ? `${history},${oldRev}` : String(oldRev)
        })
      }
      all = this.ownedRs(d)
      newRs = newRs ? all.find(rs => meta(rs).uid === meta(newRs as JsonObject).uid) : undefined
      olds = all.filter(rs => rs !== newRs)

      if (newRs) {
        if (recreate) {
          if (!olds.some(rs => this.podsOf(rs).length > 0) && specReplicas(newRs) !== desired)
            newRs = this.scaleRs(d, newRs, desired, rsAnnotations)
        } else {
          const allPods = all.reduce((n, rs) => n + specReplicas(rs), 0)
          const cur = specReplicas(newRs)
          if (cur > desired) newRs = this.scaleRs(d, newRs, desired, rsAnnotations)
          else if (cur < desired) {
            const up = Math.min(desired + surge - allPods, desired - cur)
            if (up > 0) newRs = this.scaleRs(d, newRs, cur + up, rsAnnotations)
          }
          this.scaleDownOld(d, newRs, olds, desired, unavailable)
        }
        const a = (meta(newRs).annotations as JsonObject | undefined) ?? {}
        if (
          a['deployment.kubernetes.io/desired-replicas'] !== String(desired) ||
          a['deployment.kubernetes.io/max-replicas'] !== String(desired + surge)
        )
          newRs = this.setRs(newRs, next =>
            Object.assign(meta(next).annotations as JsonObject, rsAnnotations)
          )
      }
      this.pruneHistory(d, newRs)
    }

    const current = this.store.get(deployRt, String(dm.namespace), String(dm.name)) ?? d
    this.writeStatus(current, newRs, created, unavailable)
  }

  private scaleDownOld(
    d: JsonObject,
    newRs: JsonObject,
    olds: JsonObject[],
    desired: number,
    maxUnavailable: number
  ): void {
    const all = [newRs, ...olds]
    const allPods = all.reduce((n, rs) => n + specReplicas(rs), 0)
    const minAvailable = desired - maxUnavailable
    const newUnavailable = specReplicas(newRs) - statusNum(newRs, 'availableReplicas')
    let budget = allPods - minAvailable - newUnavailable
    if (budget <= 0) return
    const byAge = [...olds].sort((a, b) => revisionOf(a) - revisionOf(b))
    // old replicas that are not available go first: removing them costs no availability
    for (const rs of byAge) {
      if (budget <= 0) break
      const unhealthy = specReplicas(rs) - statusNum(rs, 'availableReplicas')
      const n = Math.min(budget, Math.max(0, unhealthy))
      if (n > 0) {
        this.scaleRs(d, rs, specReplicas(rs) - n, {})
        budget -= n
      }
    }
    const fresh = byAge.map(
      rs => this.store.get(rsRt, String(meta(rs).namespace), String(meta(rs).name)) ?? rs
    )
    const available = [newRs, ...fresh].reduce((n, rs) => n + statusNum(rs, 'availableReplicas'), 0)
    let canRemove = available - minAvailable
    for (const rs of fresh) {
      if (canRemove <= 0) break
      const n = Math.min(canRemove, specReplicas(rs))
      if (n > 0) {
        this.scaleRs(d, rs, specReplicas(rs) - n, {})
        canRemove -= n
      }
    }
  }

  private pruneHistory(d: JsonObject, newRs: JsonObject | undefined): void {
    const limit = Number((d.spec as JsonObject).revisionHistoryLimit ?? 10)
    const idle = this.ownedRs(d)
      .filter(rs => rs !== newRs && meta(rs).uid !== (newRs && meta(newRs).uid))
      .filter(rs => specReplicas(rs) === 0 && statusNum(rs, 'replicas') === 0 && this.podsOf(rs).length === 0)
      .sort((a, b) => revisionOf(a) - revisionOf(b))
    for (const rs of idle.slice(0, Math.max(0, idle.length - limit)))
      this.store.remove(rsRt, String(meta(rs).namespace), String(meta(rs).name))
  }

  private writeStatus(
    d: JsonObject,
    newRs: JsonObject | undefined,
    created: boolean,
    maxUnavailable: number
  ): void {
    const all = this.ownedRs(d)
    const fresh = newRs ? all.find(rs => meta(rs).uid === meta(newRs).uid) : undefined
    const desired = specReplicas(d)
    const uid = String(meta(d).uid)
    const old = (d.status as JsonObject | undefined) ?? {}
    const sum = (k: string): number => all.reduce((n, rs) => n + statusNum(rs, k), 0)
    const total = all.reduce((n, rs) => n + specReplicas(rs), 0)
    const available = sum('availableReplicas')
    const counts: Record<string, number> = {
      observedGeneration: Number(meta(d).generation ?? 1),
      replicas: sum('replicas'),
      updatedReplicas: fresh ? statusNum(fresh, 'replicas') : 0,
      readyReplicas: sum('readyReplicas'),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, total - available)
    }
    const status: JsonObject = {}
    for (const [k, v] of Object.entries(counts)) if (v !== 0) status[k] = v
    status.terminatingReplicas = sum('terminatingReplicas')
    const conditions = clone(Array.isArray(old.conditions) ? (old.conditions as JsonObject[]) : [])
    const now = nowSeconds()
    const set = (
      type: string,
      st: string,
      reason: string,
      message: string,
      forceUpdateTime = false
    ): void => {
      const cur = conditions.find(c => c.type === type)
      if (cur && cur.status === st && cur.reason === reason && !forceUpdateTime) return
      const cond: JsonObject = {
        type,
        status: st,
        lastUpdateTime: now,
        lastTransitionTime: cur && cur.status === st ? (cur.lastTransitionTime as string) : now,
        reason,
        message
      }
      const i = conditions.indexOf(cur as JsonObject)
      if (i >= 0) conditions.splice(i, 1)
      conditions.push(cond)
    }
    if (available >= desired - maxUnavailable)
      set('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.')
    else
      set(
        'Available',
        'False',
        'MinimumReplicasUnavailable',
        'Deployment does not have minimum availability.'
      )

    const rsName = fresh ? String(meta(fresh).name) : ''
    const progressing = conditions.find(c => c.type === 'Progressing')
    const oldOld = Number(old.replicas ?? 0) - Number(old.updatedReplicas ?? 0)
    const newOld = counts.replicas - counts.updatedReplicas
    const madeProgress =
      counts.updatedReplicas > Number(old.updatedReplicas ?? 0) ||
      newOld < oldOld ||
      counts.readyReplicas > Number(old.readyReplicas ?? 0) ||
      counts.availableReplicas > Number(old.availableReplicas ?? 0)
    const complete =
      counts.updatedReplicas === desired &&
      counts.replicas === desired &&
      counts.availableReplicas === desired
    const deadline = Number((d.spec as JsonObject).progressDeadlineSeconds ?? 600) * 1000
    const p = this.progress.get(uid) ?? { at: Date.now() }
    this.progress.set(uid, p)
    if (created) {
      set('Progressing', 'True', 'NewReplicaSetCreated', `Created new replica set "${rsName}"`, true)
      p.at = Date.now()
    } else if (fresh && complete) {
      set(
        'Progressing',
        'True',
        'NewReplicaSetAvailable',
        `ReplicaSet "${rsName}" has successfully progressed.`
      )
    } else if (fresh && madeProgress) {
      set('Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${rsName}" is progressing.`, true)
      p.at = Date.now()
    } else if (fresh && !progressing) {
      set('Progressing', 'True', 'FoundNewReplicaSet', `Found new replica set "${rsName}"`)
      p.at = Date.now()
    } else if (
      fresh &&
      progressing &&
      progressing.reason !== 'NewReplicaSetAvailable' &&
      progressing.reason !== 'ProgressDeadlineExceeded'
    ) {
      if (Date.now() - p.at > deadline)
        set(
          'Progressing',
          'False',
          'ProgressDeadlineExceeded',
          `ReplicaSet "${rsName}" has timed out progressing.`
        )
    } else if (fresh && progressing?.reason === 'NewReplicaSetAvailable' && !complete) {
      // a new rollout of the same ReplicaSet (scale up, restart of pods): progress is measured from now
      set('Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${rsName}" is progressing.`, true)
      p.at = Date.now()
    }
    if (conditions.length) status.conditions = conditions
    if (old.collisionCount !== undefined) status.collisionCount = old.collisionCount
    // the revision annotation follows the new ReplicaSet, written with the status as the real controller does
    const annotations = (meta(d).annotations as JsonObject | undefined) ?? {}
    const rev = fresh ? String(revisionOf(fresh)) : annotations[REVISION]
    if (deepEqual(status, old) && annotations[REVISION] === rev) return
    const next = clone(d)
    next.status = status
    if (typeof rev === 'string') meta(next).annotations = { ...annotations, [REVISION]: rev }
    this.writer.update(deployRt, d, next, MANAGER, 'status')
  }

  // Whether a sync could now find the progress deadline passed (a rollout neither complete nor timed out).
  private deadlineDue(d: JsonObject): boolean {
    const conditions = ((d.status as JsonObject | undefined)?.conditions as JsonObject[] | undefined) ?? []
    const reason = conditions.find(c => c.type === 'Progressing')?.reason
    if (reason === 'NewReplicaSetAvailable' || reason === 'ProgressDeadlineExceeded') return false
    const p = this.progress.get(String(meta(d).uid))
    const deadline = Number((d.spec as JsonObject).progressDeadlineSeconds ?? 600) * 1000
    return !p || Date.now() - p.at > deadline
  }
}
