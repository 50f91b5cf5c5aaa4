// pre_deploy_command and pre_deploy_timeout through parseInputs: what a gate becomes, and the errors that name
// the input and the rule before anything touches the cluster.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { InputError, parseInputs, type RawInputs } from '../../src/inputs.js'

const minimal: RawInputs = {
  image: 'europe-west3-docker.pkg.dev/p/app/web:1',
  cluster_name: 'workers',
  location: 'europe-west3',
  secret_data: 'SECRET_KEY=abc123\nREDIS_URL=redis://10.0.0.5:6379/0'
}

function problems(raw: RawInputs): string[] {
  try {
    parseInputs(raw, { eventName: 'push' })
  } catch (error) {
    if (error instanceof InputError) return error.problems
    throw error
  }
  return []
}

describe('pre_deploy_command and pre_deploy_timeout', () => {
  const valid: Array<{
    name: string
    raw: RawInputs
    expect: { command: string; timeoutSeconds: number } | undefined
  }> = [
    { name: 'not set: no gate', raw: minimal, expect: undefined },
    {
      name: 'a command, the default timeout (10m)',
      raw: { ...minimal, pre_deploy_command: 'python manage.py migrate --check' },
      expect: { command: 'python manage.py migrate --check', timeoutSeconds: 600 }
    },
    {
      name: 'a timeout as 90, 90s or 1m30s',
      raw: { ...minimal, pre_deploy_command: 'true', pre_deploy_timeout: '1m30s' },
      expect: { command: 'true', timeoutSeconds: 90 }
    },
    {
      name: 'several lines and tabs (a shell script in a YAML block), surrounding white space trimmed',
      raw: {
        ...minimal,
        pre_deploy_command: '\n  python manage.py migrate --check &&\n\tpython manage.py check\n'
      },
      expect: {
        command: 'python manage.py migrate --check &&\n\tpython manage.py check',
        timeoutSeconds: 600
      }
    }
  ]
  for (const c of valid) {
    test(c.name, () => assert.deepEqual(parseInputs(c.raw, { eventName: 'push' }).preDeploy, c.expect))
  }

  const invalid: Array<{ name: string; raw: RawInputs; expect: RegExp }> = [
    {
      name: 'a timeout without a command',
      raw: { ...minimal, pre_deploy_timeout: '5m' },
      expect: /^pre_deploy_timeout: is set, but pre_deploy_command is empty/
    },
    {
      name: 'a timeout that is no duration',
      raw: { ...minimal, pre_deploy_command: 'true', pre_deploy_timeout: '5 min' },
      expect: /^pre_deploy_timeout: "5 min" is not a duration from 1s to 6h/
    },
    {
      name: 'a timeout of zero',
      raw: { ...minimal, pre_deploy_command: 'true', pre_deploy_timeout: '0s' },
      expect: /^pre_deploy_timeout: "0s" is not a duration from 1s to 6h/
    },
    {
      name: 'a timeout over 6h',
      raw: { ...minimal, pre_deploy_command: 'true', pre_deploy_timeout: '7h' },
      expect: /^pre_deploy_timeout: "7h" is not a duration/
    },
    {
      name: 'a carriage return (a Windows editor)',
      raw: { ...minimal, pre_deploy_command: 'python manage.py migrate\r\npython manage.py check' },
      expect:
        /^pre_deploy_command: holds the control character U\+000D; a command may hold tabs and line breaks/
    },
    {
      name: 'DEL, which kubectl\u2019s apply cannot carry',
      raw: { ...minimal, pre_deploy_command: 'echo \u007f' },
      expect: /^pre_deploy_command: holds the control character U\+007F/
    },
    {
      name: 'a command longer than 8192 characters',
      raw: { ...minimal, pre_deploy_command: `echo ${'x'.repeat(9000)}` },
      expect: /^pre_deploy_command: has 9005 characters, more than 8192; put a longer script in the image/
    }
  ]
  for (const c of invalid) {
    test(c.name, () => {
      const found = problems(c.raw)
      assert.equal(found.length, 1, found.join('\n'))
      assert.match(found[0], c.expect)
    })
  }

  test('reported with every other input error at once', () => {
    const found = problems({
      ...minimal,
      namespace: 'Bad_NS',
      pre_deploy_command: 'a\rb',
      pre_deploy_timeout: 'x'
    })
    assert.equal(found.length, 3, found.join('\n'))
  })
})
