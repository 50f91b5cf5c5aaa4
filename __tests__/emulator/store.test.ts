import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { rtOf } from '../rig/kube/controllers/writer.js'
import { Store } from '../rig/kube/store.js'

const pods = rtOf('pods')
const pod = (namespace: string, name: string) => ({
  metadata: { namespace, name, uid: `${namespace}-${name}` }
})

describe('the emulator store', () => {
  test('scan hands out the stored objects frozen, in list order; list and get hand out copies', () => {
    const store = new Store()
    store.put(pods, pod('b', 'p2'))
    store.put(pods, pod('a', 'p1'))
    store.put(pods, pod('b', 'p1'))
    const scanned = store.scan(pods)
    assert.deepEqual(
      scanned.map(
        o =>
          `${String((o.metadata as { namespace: string }).namespace)}/${String((o.metadata as { name: string }).name)}`
      ),
      ['a/p1', 'b/p1', 'b/p2']
    )
    assert.throws(() => {
      ;(scanned[0].metadata as Record<string, unknown>).name = 'changed'
    }, TypeError)
    assert.deepEqual(
      store.list(pods, 'b').map(o => (o.metadata as { name: string }).name),
      ['p1', 'p2']
    )
    const copy = store.get(pods, 'a', 'p1')!
    ;(copy.metadata as Record<string, unknown>).name = 'changed'
    assert.equal((store.get(pods, 'a', 'p1')!.metadata as { name: string }).name, 'p1')
  })

  test('lastChangeIn is the resourceVersion of the latest write or delete in that namespace alone', () => {
    const store = new Store()
    assert.equal(store.lastChangeIn('a'), 0)
    store.put(pods, pod('a', 'p1'))
    const afterPut = store.lastChangeIn('a')
    assert.equal(afterPut, store.currentRv())
    store.put(pods, pod('b', 'p1'))
    assert.equal(store.lastChangeIn('a'), afterPut)
    store.remove(pods, 'a', 'p1')
    assert.equal(store.lastChangeIn('a'), store.currentRv())
    assert.ok(store.lastChangeIn('a') > afterPut)
  })

  test('a namespace removed (empty, as the namespace controller leaves it) forgets its change record', () => {
    const store = new Store()
    const namespaces = rtOf('namespaces')
    store.put(namespaces, { metadata: { name: 'a', uid: 'ns-a' } })
    store.put(pods, pod('a', 'p1'))
    store.remove(pods, 'a', 'p1')
    assert.ok(store.lastChangeIn('a') > 0)
    store.remove(namespaces, '', 'a')
    assert.equal(store.lastChangeIn('a'), 0)
    assert.deepEqual(store.scan(pods, 'a'), [])
  })
})
