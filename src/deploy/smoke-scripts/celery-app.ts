import { PYTHON_PRELUDE } from './prelude.js'

// Python shared by the checks that load the worker's Celery app (task-safety.ts, queue-lengths.ts): the app as
// `celery -A NAME worker` finds it, then the modules a starting worker imports. Nothing here runs a task, reads a
// message or prints a setting's value by itself: each script prints only the fields it chose, and every error
// goes through hide() with the broker URLs remembered as secrets.
export const CELERY_APP_PRELUDE =
  PYTHON_PRELUDE +
  String.raw`
def remember_broker_secrets(app=None):
    for name in ('REDIS_URL', 'CELERY_BROKER_URL', 'BROKER_URL', 'CELERY_RESULT_BACKEND'):
        if os.environ.get(name):
            remember_url_secrets(os.environ[name])
    if app is not None:
        for key in ('broker_url', 'broker_read_url', 'broker_write_url', 'result_backend'):
            try:
                value = app.conf.get(key)
            except Exception:
                value = None
            if isinstance(value, str) and value:
                remember_url_secrets(value)

def load_celery_app(name):
    # find_app is what the celery command runs for -A: the module from the working directory, its "app" or
    # "celery" attribute, NAME.celery for a package. import_default_modules is what a starting worker runs:
    # the app's imports and include, and the task modules Django's autodiscovery adds.
    remember_broker_secrets()
    try:
        import celery
    except ImportError as error:
        finish(False, error='celery cannot be imported in this container: %s' % describe(error))
    from celery.app.utils import find_app
    try:
        app = find_app(name)
    except Exception as error:
        finish(False, error='celery -A %s: the app cannot be loaded: %s' % (name, describe(error)))
    remember_broker_secrets(app)
    problems = []
    try:
        app.loader.import_default_modules()
    except Exception as error:
        problems.append('importing the task modules failed: %s' % hide(describe(error)))
    return app, problems

def bounded_name(text, limit=200):
    text = hide(text)
    return text if len(text) <= limit else text[:limit] + '...'
`
