import { CELERY_APP_PRELUDE } from './celery-app.js'

// Reads, in a new worker pod, what decides whether a task survives the worker being stopped: the app's
// settings (loaded as the worker loads them: celery -A argv[2]), each registered task's own overrides, the
// broker transport and its visibility timeout, REMAP_SIGTERM, and whether PID 1 is the Celery worker. Only
// settings and task attributes are read: no broker connection, no message, no task body or argument. Prints one
// JSON line; the comparison with the Deployment (grace period, preStop) is made by the action
// (../task-safety-findings.ts). Celery 5.2 to 5.5: a setting an older Celery lacks reads as None; argv[1] is the
// timeout in seconds (the batch enforces it).
export const TASK_SAFETY_PY =
  CELERY_APP_PRELUDE +
  String.raw`
MAX_TASKS = 200

def number(value):
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    if result != result or result in (float('inf'), float('-inf')):
        return None
    return int(result) if result == int(result) else round(result, 3)

def flag(value):
    return None if value is None else bool(value)

def setting(conf, key):
    try:
        return conf.get(key)
    except Exception:
        return None

def transport_facts(app):
    # The transport's name and its own defaults, from kombu's classes: nothing is connected.
    facts = {'transport': None, 'visibility_timeout': None, 'visibility_timeout_default': None}
    try:
        connection = app.connection_for_read()
    except Exception as error:
        facts['transport_error'] = hide(describe(error))
        return facts
    try:
        alias = connection.transport_cls
        facts['transport'] = alias if isinstance(alias, str) else getattr(alias, '__name__', 'other')
        options = dict(connection.transport_options or {})
        facts['visibility_timeout'] = number(options.get('visibility_timeout'))
        channel = getattr(connection.transport, 'Channel', None)
        default = getattr(channel, 'visibility_timeout', None)
        if default is None:
            default = getattr(channel, 'default_visibility_timeout', None)
        facts['visibility_timeout_default'] = number(default)
    except Exception as error:
        facts['transport_error'] = hide(describe(error))
    facts['transport'] = re.sub(r'[^A-Za-z0-9+_.-]', '', str(facts['transport'] or ''))[:40] or None
    return facts

def pid1_facts():
    try:
        with open('/proc/1/cmdline', 'rb') as handle:
            argv = handle.read().split(b'\0')
    except OSError:
        return {'pid1_celery_worker': None, 'pid1_program': None}
    command = b' '.join(argv).decode('utf-8', 'replace')
    program = os.path.basename(argv[0].decode('utf-8', 'replace')) if argv else ''
    return {'pid1_celery_worker': re.search(r'celery.*worker', command) is not None,
            'pid1_program': re.sub(r'[^A-Za-z0-9+_.-]', '', program)[:60]}

def main():
    app, problems = load_celery_app(sys.argv[2])
    import celery, kombu
    conf = app.conf
    version = tuple(int(part) for part in re.findall(r'\d+', celery.__version__)[:2])
    try:
        registered = sorted(name for name in app.tasks.keys() if not name.startswith('celery.'))
    except Exception as error:
        registered = []
        problems.append('the registered tasks cannot be listed: %s' % hide(describe(error)))
    tasks = []
    for name in registered[:MAX_TASKS]:
        task = app.tasks[name]
        tasks.append([bounded_name(name),
                      flag(getattr(task, 'acks_late', None)),
                      flag(getattr(task, 'reject_on_worker_lost', None)),
                      number(getattr(task, 'time_limit', None)),
                      number(getattr(task, 'soft_time_limit', None))])
    result = {
        'celery': re.sub(r'[^0-9A-Za-z.+-]', '', celery.__version__)[:20],
        'kombu': re.sub(r'[^0-9A-Za-z.+-]', '', kombu.__version__)[:20],
        'soft_shutdown_supported': version >= (5, 5),
        'conf': {
            'task_acks_late': flag(setting(conf, 'task_acks_late')),
            'task_reject_on_worker_lost': flag(setting(conf, 'task_reject_on_worker_lost')),
            'task_time_limit': number(setting(conf, 'task_time_limit')),
            'task_soft_time_limit': number(setting(conf, 'task_soft_time_limit')),
            'worker_prefetch_multiplier': number(setting(conf, 'worker_prefetch_multiplier')),
            'worker_concurrency': number(setting(conf, 'worker_concurrency')),
            'worker_pool': re.sub(r'[^A-Za-z0-9_.:-]', '', str(setting(conf, 'worker_pool') or ''))[:60] or None,
            'worker_soft_shutdown_timeout': number(setting(conf, 'worker_soft_shutdown_timeout')),
            'worker_enable_soft_shutdown_on_idle': flag(setting(conf, 'worker_enable_soft_shutdown_on_idle')),
        },
        'cpu_count': os.cpu_count(),
        'remap_sigterm': re.sub(r'[^A-Z0-9]', '', os.environ.get('REMAP_SIGTERM', '').upper())[:12] or None,
        'tasks': tasks,
        'tasks_total': len(registered),
        'problems': problems,
    }
    result.update(transport_facts(app))
    result.update(pid1_facts())
    finish(True, **result)

run(main)
`
