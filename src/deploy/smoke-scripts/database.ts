import { PYTHON_PRELUDE } from './prelude.js'

// Opens DATABASE_URL with whichever driver the app image has (psycopg 3, else psycopg2), bounded by
// connect_timeout, and runs SELECT 1. argv[1] is the timeout in seconds.
export const DATABASE_CHECK_PY =
  PYTHON_PRELUDE +
  String.raw`
def server_version_text(number):
    # PostgreSQL 10+ encodes major*10000 + minor; older servers major*10000 + minor*100 + patch.
    if number >= 100000:
        return '%d.%d' % (number // 10000, number % 10000)
    return '%d.%d.%d' % (number // 10000, number // 100 % 100, number % 100)

def main():
    url = os.environ.get('DATABASE_URL', '').strip()
    if not url:
        finish(False, error='DATABASE_URL is not set in the container')
    remember_url_secrets(url)
    # SQLAlchemy-style schemes (postgresql+psycopg://) are not libpq URIs.
    url = re.sub(r'^postgres(?:ql)?\+\w+://', 'postgresql://', url)
    try:
        import psycopg as driver
        name = 'psycopg3'
    except ImportError:
        try:
            import psycopg2 as driver
            name = 'psycopg2'
        except ImportError:
            finish(False, error='neither psycopg (3) nor psycopg2 is installed in the image')
    # libpq counts connect_timeout in whole seconds and treats anything below 2 as 2.
    connect_timeout = max(2, int(round(TIMEOUT)))
    try:
        connection = driver.connect(url, connect_timeout=connect_timeout)
    except Exception as error:
        finish(False, driver=name, error=describe(error))
    try:
        cursor = connection.cursor()
        cursor.execute('SELECT 1')
        row = cursor.fetchone()
        if name == 'psycopg3':
            version = connection.info.server_version
        else:
            version = connection.server_version
    except Exception as error:
        finish(False, driver=name, error=describe(error))
    finally:
        try:
            connection.close()
        except Exception:
            pass
    if not row or row[0] != 1:
        finish(False, driver=name, error='SELECT 1 returned %r' % (row,))
    finish(True, driver=name, server_version=server_version_text(version))

run(main)
`
