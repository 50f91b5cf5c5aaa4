import { CELERY_APP_PRELUDE } from './celery-app.js'

// Reads, from a worker pod, how many tasks wait in each of the worker's queues and how many are reserved by a
// worker but not yet acknowledged, on the app's own broker connection (celery -A argv[2]; argv[3] the queues,
// comma-separated; argv[1] the timeout in seconds). Redis only, and only counting commands: LLEN of each queue's
// lists (kombu keeps one per priority step: "name", then "name" + sep + step), HLEN of kombu's `unacked` hash and
// ZCARD of its `unacked_index`, under the app's key prefix. No message is read, so no task body or argument can
// be printed. Prints one JSON line.
export const QUEUE_LENGTHS_PY =
  CELERY_APP_PRELUDE +
  String.raw`
MAX_QUEUES = 50

def main():
    app, problems = load_celery_app(sys.argv[2])
    queues = [name for name in sys.argv[3].split(',') if name][:MAX_QUEUES]
    connection = app.connection_for_read()
    alias = connection.transport_cls
    transport = alias if isinstance(alias, str) else 'other'
    transport = re.sub(r'[^A-Za-z0-9+_.-]', '', transport)[:40]
    if transport not in ('redis', 'rediss', 'sentinel'):
        finish(False, transport=transport,
               error='queue lengths are read on a Redis broker only (this app uses %s)' % transport)
    try:
        connection.connect()
        channel = connection.channel()
    except Exception as error:
        finish(False, transport=transport, error='the broker did not answer: %s' % describe(error))
    try:
        # The channel's connection pool and its transport options (key prefix, sep, priority steps, the unacked
        # keys' names), through a plain client with the prefix added here: kombu's prefixing client prefixes only
        # the commands kombu itself sends (LLEN, not HLEN or ZCARD, in kombu 5.2).
        import redis as redis_client
        client = redis_client.StrictRedis(connection_pool=channel.client.connection_pool)
        prefix = getattr(channel, 'global_keyprefix', '') or ''
        steps = sorted(set(int(step) for step in channel.priority_steps))
        result = []
        for queue in queues:
            keys = [(step, queue if step == 0 else '%s%s%s' % (queue, channel.sep, step)) for step in steps]
            counts = [(step, int(client.llen(prefix + key))) for step, key in keys]
            result.append({'name': bounded_name(queue),
                           'waiting': sum(count for _, count in counts),
                           'by_priority': dict((str(step), count) for step, count in counts if count)})
        unacked = int(client.hlen(prefix + channel.unacked_key))
        unacked_index = int(client.zcard(prefix + channel.unacked_index_key))
    except Exception as error:
        finish(False, transport=transport, error='reading the queues failed: %s' % describe(error))
    finally:
        try:
            connection.release()
        except Exception:
            pass
    finish(True, transport=transport, queues=result, unacked=unacked, unacked_index=unacked_index,
           problems=problems)

run(main)
`
