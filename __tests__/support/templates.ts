// A users' manifests directory for a test: the built-in templates plus the files given, in a workspace of its
// own (removed with the others by the caller's cleanup).

import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { createWorkspace, REPO_ROOT, type ActionWorkspace } from './run-action.js'

export async function templatesWith(
  extra: Record<string, string>,
  workspaces: ActionWorkspace[]
): Promise<string> {
  const workspace = await createWorkspace()
  workspaces.push(workspace)
  const dir = path.join(workspace.directory, 'manifests')
  await mkdir(dir)
  const builtIn = path.join(REPO_ROOT, 'manifests')
  for (const file of await readdir(builtIn)) await copyFile(path.join(builtIn, file), path.join(dir, file))
  for (const [file, text] of Object.entries(extra)) await writeFile(path.join(dir, file), text)
  return dir
}
