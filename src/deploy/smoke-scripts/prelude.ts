// Python shared by every smoke-check snippet, run inside the app image with `python3 -c`.
// Written for Python 3.6+ and the standard library only. Each snippet prints exactly one JSON line
// ({"ok": true, ...} or {"ok": false, "error": ...}) and exits 0 or 1; the marker comment lets the
// process check skip the checks' own processes.

export const SMOKE_MARKER = 'deploy-gke-workers smoke check'

export const PYTHON_PRELUDE = String.raw`# ${SMOKE_MARKER}
import json, os, re, sys, time
T0 = time.monotonic()
TIMEOUT = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
DEADLINE = T0 + TIMEOUT
SECRETS = []

def remember_url_secrets(url):
    # The URL, its password (raw and decoded) and a bare userinfo (which may be a password) must never be printed.
    from urllib.parse import urlsplit, unquote
    SECRETS.append(url)
    try:
        parts = urlsplit(url)
        for value in (parts.password, parts.username if parts.password is None else None):
            if value:
                SECRETS.extend([value, unquote(value)])
    except ValueError:
        pass

def hide(text):
    text = str(text)
    for secret in sorted(set(SECRETS), key=len, reverse=True):
        if secret:
            text = text.replace(secret, '***')
    text = re.sub(r'([A-Za-z][A-Za-z0-9+.-]*://)([^/@\s]*)@',
                  lambda m: m.group(1) + (m.group(2).split(':')[0] + ':***' if ':' in m.group(2) else '***') + '@',
                  text)
    text = re.sub(r'(?i)(password\s*=\s*)(\'[^\']*\'|\S+)', r'\1***', text)
    return ' '.join(text.split())[:500]

def finish(ok, **fields):
    result = {'ok': ok}
    result.update(fields)
    if not ok:
        result['error'] = hide(result.get('error', 'failed'))
    result['ms'] = int(round((time.monotonic() - T0) * 1000))
    sys.stdout.write(json.dumps(result) + '\n')
    sys.stdout.flush()
    os._exit(0 if ok else 1)

def describe(error):
    return '%s: %s' % (type(error).__name__, error)

def run(main):
    try:
        main()
    except SystemExit:
        raise
    except BaseException as error:
        finish(False, error=describe(error))
`
