import { SMOKE_MARKER } from './prelude.js'

// Runs several checks in one `kubectl exec`: each as its own Python process (as if exec'd on its own, so one
// check's crash, exit or import cannot touch another), all at once, each killed at its own deadline. argv[1]
// is a JSON list of {"name", "argv", "timeout"} (and "limit", the characters of stdout kept for a check whose
// one-line report is longer than LIMIT), deflated and base64-encoded: the checks' scripts travel in the
// exec request's URL, and plain they would make it three times as long (about 30 kB, past the 16 kB of
// header a Node server accepts and the 8 kB of many proxies; compressed, about 5 kB, less than one check
// alone). A leading "python3" runs as this interpreter. Prints one JSON
// line, {BATCH_KEY: [{"name", "exit", "stdout", "stderr", "timed_out"}, ...]}, and exits 0. Standard library only,
// Python 3.6+. The marker comment keeps it (and its children) out of the process checks' matches.
export const BATCH_KEY = 'deploy_gke_workers_batch'

export const BATCH_PY = String.raw`# ${SMOKE_MARKER} (batch)
import base64, json, subprocess, sys, time, zlib
GRACE = 2.0
LIMIT = 8000
checks = json.loads(zlib.decompress(base64.b64decode(sys.argv[1])).decode('utf-8'))
running = []
for check in checks:
    argv = list(check['argv'])
    if argv and argv[0] == 'python3' and sys.executable:
        argv[0] = sys.executable
    deadline = time.monotonic() + float(check.get('timeout', 10)) + GRACE
    try:
        running.append((check, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE), deadline, None))
    except OSError as error:
        running.append((check, None, deadline, '%s: %s' % (type(error).__name__, error)))
def tail(data, limit=LIMIT):
    # The last "limit" characters in whole lines: a cut inside a line could keep part of a secret.
    text = data.decode('utf-8', 'replace')
    if len(text) <= limit:
        return text
    kept = text[-limit:]
    start = kept.find('\n')
    kept = '' if start < 0 else kept[start + 1:]
    return '[%d earlier characters not shown]\n%s' % (len(text) - len(kept), kept)
results = []
for check, proc, deadline, error in running:
    if proc is None:
        results.append({'name': check['name'], 'exit': 127, 'stdout': '', 'stderr': error, 'timed_out': False})
        continue
    timed_out = False
    try:
        out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        timed_out = True
    results.append({'name': check['name'], 'exit': proc.returncode, 'timed_out': timed_out,
                    'stdout': tail(out, int(check.get('limit', LIMIT))), 'stderr': tail(err)})
sys.stdout.write(json.dumps({'${BATCH_KEY}': results}) + '\n')
sys.stdout.flush()
`
