// The pre-deploy gate's inputs: pre_deploy_command (empty: no gate) and pre_deploy_timeout. Pure; parseInputs
// (inputs.ts) calls it with the trimmed values and collects the problems with everyone else's.

import { parseDurationSeconds } from './input-rules.js'

export interface PreDeployConfig {
  // Run by /bin/sh -c in the new image, before any Deployment is written.
  command: string
  // The Job's activeDeadlineSeconds: the command's whole run, its pod's start included.
  timeoutSeconds: number
}

export const DEFAULT_PRE_DEPLOY_TIMEOUT = '10m'
const MAX_TIMEOUT_SECONDS = 6 * 3600
// A command, not a script: a longer one belongs in the image.
export const MAX_PRE_DEPLOY_COMMAND_CHARS = 8192
// Tab and newline are part of a shell command; any other control character is not (a carriage return from a
// Windows editor would end up in the last argument), and DEL, the C1 controls and U+FFFE/U+FFFF cannot even
// reach the pod (kubectl's apply cannot carry them, see render/checks.ts).
// eslint-disable-next-line no-control-regex
const NOT_IN_A_COMMAND = /[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]/

export function parsePreDeployInputs(
  command: string,
  timeout: string,
  problems: string[]
): PreDeployConfig | undefined {
  const seconds = parseDurationSeconds(timeout || DEFAULT_PRE_DEPLOY_TIMEOUT)
  if (command === '') {
    if (timeout !== '')
      problems.push('pre_deploy_timeout: is set, but pre_deploy_command is empty (no gate runs)')
    return undefined
  }
  const before = problems.length
  if (command.length > MAX_PRE_DEPLOY_COMMAND_CHARS) {
    problems.push(
      `pre_deploy_command: has ${command.length} characters, more than ${MAX_PRE_DEPLOY_COMMAND_CHARS}; put a longer script in the image and run that`
    )
  }
  const control = NOT_IN_A_COMMAND.exec(command)
  if (control) {
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')
    problems.push(
      `pre_deploy_command: holds the control character U+${code}; a command may hold tabs and line breaks, nothing else below a space`
    )
  }
  if (seconds === undefined || seconds < 1 || seconds > MAX_TIMEOUT_SECONDS) {
    problems.push(
      `pre_deploy_timeout: ${JSON.stringify(timeout)} is not a duration from 1s to 6h (e.g. 90s, 10m, 1h)`
    )
  }
  if (problems.length > before || seconds === undefined) return undefined
  return { command, timeoutSeconds: seconds }
}
