// The string data of the Secret the action writes: the secret_data entries plus, from db_user/db_password/
// db_name, DB_USER, DB_PASSWORD, DB_NAME and a DATABASE_URL whose user and password are URL-encoded
// (the old job's URL broke on a password containing "@", ":" or "/"); with autoscaling keda, REDIS_URL's parts
// for KEDA (redis-connection.ts).

import type { DatabaseConfig, DeployConfig } from '../inputs.js'
import { redisSecretKeys } from './redis-connection.js'

export function buildSecretData(config: DeployConfig): Map<string, string> | undefined {
  if (config.secretData === undefined) return undefined
  const data = new Map<string, string>()
  for (const entry of config.secretData) data.set(entry.name, entry.value)
  const database = config.database
  if (database) {
    data.set('DB_USER', database.user)
    data.set('DB_PASSWORD', database.password)
    data.set('DB_NAME', database.name)
    data.set('DATABASE_URL', databaseUrl(database))
  }
  if (config.redis) for (const [key, value] of redisSecretKeys(config.redis)) data.set(key, value)
  return data
}

export function databaseUrl(database: DatabaseConfig): string {
  const user = encodeURIComponent(database.user)
  const password = encodeURIComponent(database.password)
  return `postgresql://${user}:${password}@${database.host}:${database.port}/${encodeURIComponent(database.name)}`
}
