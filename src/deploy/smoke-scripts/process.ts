import { PYTHON_PRELUDE, SMOKE_MARKER } from './prelude.js'

// Looks for a process whose command line matches argv[2] (a regular expression) by reading /proc, as
// `pgrep -f` would. Slim Python images have no pgrep (procps), and `sh -c "pgrep -f ..."` would find the
// shell that runs it; this skips itself and any other smoke check. argv[1] is the timeout (unused here).
export const PROCESS_CHECK_PY =
  PYTHON_PRELUDE +
  String.raw`
def main():
    pattern = re.compile(sys.argv[2])
    me = os.getpid()
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                raw = handle.read()
        except OSError:
            continue
        command = raw.replace(b'\0', b' ').decode('utf-8', 'replace').strip()
        if command and '${SMOKE_MARKER}' not in command and pattern.search(command):
            found.append((int(entry), command))
    if not found:
        finish(False, pattern=sys.argv[2], error='no process matches %s' % sys.argv[2])
    found.sort()
    finish(True, pattern=sys.argv[2], count=len(found), pids=[pid for pid, _ in found[:10]],
           command=hide(found[0][1])[:200])

run(main)
`
