// The action's entry point: the runner executes dist/index.js, built from this file.
import { run } from './main.js'

await run()
// Everything is written (outputs, summary, log); leave without waiting for idle keep-alive sockets or a killed
// watch's last moments. The exit code is what run() set.
process.exit()
