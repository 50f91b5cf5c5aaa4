// The services the app in the rig's pods reaches, as Cloud SQL and Memorystore are reached from a cluster:
// PostgreSQL on this machine with the README example's database user, password and database, and Redis with the
// example's password. `inputs` are the action's inputs that make the rendered Deployment's env reach them:
// REDIS_URL in secret_data, db_host for DATABASE_URL, and no Cloud SQL proxy sidecar (its 127.0.0.1:5432 would be
// the pod's own loopback; the rig's pods share this machine's). A smoke check exec'd in a pod then connects for
// real, with the password as the action encoded it.

import { TestPostgres } from '../rig/services.js'
import { startRedis, type RigRedis } from '../rig/redis.js'
import { EXAMPLE_INPUTS } from './example-inputs.js'

const SUPERUSER = { user: 'postgres', password: 'rig-postgres-superuser' }
const REDIS_PASSWORD = 'redis-example-pass'

export interface AppServices {
  postgres: TestPostgres
  redis: RigRedis
  // The inputs that point the pods at these services (merged over the README example's).
  inputs: Record<string, string>
  // DB_HOST, DB_USER, DB_PASSWORD, DB_NAME and REDIS_URL, for people trying the action by hand.
  variables: Record<string, string>
  stop(): Promise<void>
}

export async function startAppServices(): Promise<AppServices> {
  const user = EXAMPLE_INPUTS.db_user
  const password = EXAMPLE_INPUTS.db_password
  const database = EXAMPLE_INPUTS.db_name
  const [postgres, redis] = await Promise.all([
    TestPostgres.start(SUPERUSER, [{ user, password }], [{ name: database, owner: user }]),
    startRedis({ password: REDIS_PASSWORD })
  ])
  const dbHost = `127.0.0.1:${postgres.port}`
  return {
    postgres,
    redis,
    inputs: {
      secret_data: `SECRET_KEY=django-insecure-example-key\nREDIS_URL=${redis.url()}`,
      cloud_sql_instance: '',
      db_host: dbHost
    },
    variables: {
      REDIS_URL: redis.url(),
      DB_HOST: dbHost,
      DB_USER: user,
      DB_PASSWORD: password,
      DB_NAME: database
    },
    async stop() {
      await redis.stop()
      postgres.stop()
    }
  }
}
