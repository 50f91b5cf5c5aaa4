import { PYTHON_PRELUDE } from './prelude.js'

// PINGs REDIS_URL over a plain socket (TLS for rediss://): AUTH when the URL has a password, SELECT when it names
// a database other than 0. Only the standard library, so it works whatever Redis client the app uses.
// argv[1] is the timeout in seconds.
export const REDIS_CHECK_PY =
  PYTHON_PRELUDE +
  String.raw`
import socket, ssl
from urllib.parse import urlsplit, unquote, parse_qs

def main():
    url = os.environ.get('REDIS_URL', '').strip()
    if not url:
        finish(False, error='REDIS_URL is not set in the container')
    remember_url_secrets(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ('redis', 'rediss'):
        finish(False, error='REDIS_URL must start with redis:// or rediss:// (got %s://)' % scheme)
    host = parts.hostname or 'localhost'
    port = parts.port or 6379
    query = parse_qs(parts.query)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    path = parts.path.strip('/')
    db = int(path) if path else int(query.get('db', ['0'])[0])
    target = '%s:%d' % (host, port)

    try:
        sock = socket.create_connection((host, port), timeout=max(0.1, DEADLINE - time.monotonic()))
    except socket.timeout:
        finish(False, server=target, error='timed out after %gs connecting to %s' % (TIMEOUT, target))
    except OSError as error:
        finish(False, server=target, error='cannot connect to %s: %s' % (target, describe(error)))
    if scheme == 'rediss':
        cert_reqs = query.get('ssl_cert_reqs', ['required'])[0].lower()
        context = ssl.create_default_context(cafile=query.get('ssl_ca_certs', [None])[0])
        if cert_reqs in ('none', 'cert_none'):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif cert_reqs in ('optional', 'cert_optional'):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_OPTIONAL
        sock = context.wrap_socket(sock, server_hostname=host)
    replies = sock.makefile('rb')

    def call(*words):
        remaining = DEADLINE - time.monotonic()
        if remaining <= 0:
            raise socket.timeout('timed out')
        sock.settimeout(remaining)
        encoded = [word.encode('utf-8') for word in words]
        sock.sendall(b'*%d\r\n' % len(encoded) + b''.join(b'$%d\r\n%s\r\n' % (len(w), w) for w in encoded))
        line = replies.readline()
        if not line:
            raise ConnectionError('the server closed the connection')
        return line.rstrip(b'\r\n').decode('utf-8', 'replace')

    try:
        if password is not None:
            reply = call('AUTH', username, password) if username else call('AUTH', password)
            if reply != '+OK':
                finish(False, server=target, error='AUTH rejected: %s' % reply.lstrip('-'))
        if db:
            reply = call('SELECT', str(db))
            if reply != '+OK':
                finish(False, server=target, error='SELECT %d rejected: %s' % (db, reply.lstrip('-')))
        reply = call('PING')
    except socket.timeout:
        finish(False, server=target, error='timed out after %gs waiting for %s' % (TIMEOUT, target))
    if reply == '+PONG':
        finish(True, server=target, tls=scheme == 'rediss', db=db, reply='PONG')
    if reply.startswith('-NOAUTH'):
        finish(False, server=target, error='the server requires a password and REDIS_URL has none (NOAUTH)')
    finish(False, server=target, error='PING answered %s' % reply)

run(main)
`
