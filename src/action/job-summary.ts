// The job summary, kept under GitHub's limit: a plan of very large templates points at the manifests file.
// Without one (a local run, a runner too old for summaries) the deploy still counts: the summary is skipped with
// a warning, and everything in it is also in the log and the outputs.

import { truncateMarkdown } from '../report/markdown.js'
import type { Runner } from './runner.js'

// A job summary holds 1 MiB; kept in bytes, with room to spare.
const MAX_SUMMARY_BYTES = 1000 * 1024

export async function writeSummary(runner: Runner, markdown: string, manifestsPath?: string): Promise<void> {
  const fitted = truncateMarkdown(
    markdown,
    MAX_SUMMARY_BYTES,
    manifestsPath
      ? `a job summary holds 1 MiB; every object is in the rendered manifests file ${manifestsPath} (the manifests output)`
      : 'a job summary holds 1 MiB'
  )
  if (!runner.appendSummary) {
    runner.warning(
      'deploy-gke-workers: GITHUB_STEP_SUMMARY is not set, so there is no job summary (the log has it all)'
    )
    return
  }
  await runner.appendSummary(fitted)
}
