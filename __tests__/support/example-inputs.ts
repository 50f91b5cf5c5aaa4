// The example input set of the README, used by `npm start` and the end-to-end tests. The secret values
// are obviously fake; the tests check that none of them leaks.

export const EXAMPLE_INPUTS: Record<string, string> = {
  image: 'europe-west3-docker.pkg.dev/noesis2-prod/app/noesis2-web:3f2a9c1',
  cloud_sql_instance: 'noesis2-prod:europe-west3:main',
  gcp_service_account: 'noesis2-workers@noesis2-prod.iam.gserviceaccount.com',
  secret_data:
    'SECRET_KEY=django-insecure-example-key\nREDIS_URL=redis://:redis-example-pass@10.0.0.5:6379/0',
  db_user: 'noesis2_app',
  db_password: 'p@ss:w/rd-example',
  db_name: 'noesis2',
  worker_queues: 'celery,rag_delete'
}

export const EXAMPLE_SECRET_VALUES = [
  'django-insecure-example-key',
  'redis-example-pass',
  'p@ss:w/rd-example',
  'p%40ss%3Aw%2Frd-example'
]
