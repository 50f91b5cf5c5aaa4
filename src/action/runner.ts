// The GitHub runner as the action's reporting sees it: the log, annotations, outputs, state, masking and the job
// summary. main.ts implements it with @actions/core; the modules of this folder take it and plain values, so
// they never read the process or the inputs themselves.

export interface Runner {
  // One line (or lines) of the log; the implementation makes them safe from workflow commands.
  info(text: string): void
  debug(text: string): void
  notice(text: string): void
  // A warning annotation, titled when a title is given.
  warning(text: string, title?: string): void
  // An error annotation with a title (the run page shows it without the log).
  error(text: string, title: string): void
  setOutput(name: string, value: string): void
  setSecret(value: string): void
  saveState(name: string, value: string): void
  group<T>(name: string, fn: () => Promise<T>): Promise<T>
  // Appends to the job summary; undefined when the runner keeps none (GITHUB_STEP_SUMMARY unset, a local run).
  appendSummary?: (markdown: string) => Promise<void>
  // The step fails (its exit code), without throwing.
  fail(): void
}

// What the action reads of the runner's environment, once, in main.ts.
export interface RunnerContext {
  env: NodeJS.ProcessEnv
  eventName: string
  eventPath?: string
  repository?: string
  runnerTemp: string
  home: string
}
