// stderr as kubectl prints it; the permanent ones marked "golden" are copied from the real apiserver record.
export const transientCases: { name: string; stderr: string }[] = [
  {
    // Seen with injected 500s: the v3 document failed, the v2 fallback does not exist.
    name: 'OpenAPI download failed during validation',
    stderr:
      'error: error validating "STDIN": error validating data: failed to download openapi: the server could not find the requested resource; if you choose to ignore these errors, turn validation off with --validate=false\n'
  },
  {
    name: 'connection refused (dial)',
    stderr: 'Unable to connect to the server: dial tcp 10.0.0.2:443: connect: connection refused\n'
  },
  {
    name: 'connection refused (kubectl hint)',
    stderr:
      'The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n'
  },
  {
    name: 'connection reset',
    stderr:
      'Unable to connect to the server: read tcp 10.1.1.1:5000->10.0.0.2:443: read: connection reset by peer\n'
  },
  { name: 'bare EOF', stderr: 'Unable to connect to the server: EOF\n' },
  {
    // Seen on the real control plane's fault proxy: a reset of the connection kubectl was reusing.
    name: 'use of a closed connection',
    stderr: 'Unable to connect to the server: use of closed network connection\n'
  },
  {
    name: 'EOF at the end of a request error',
    stderr: 'error: Get "https://10.0.0.2/api/v1/namespaces/noesis2/pods": EOF\n'
  },
  { name: 'unexpected EOF', stderr: 'error: unexpected EOF\n' },
  {
    name: 'TLS handshake timeout',
    stderr: 'Unable to connect to the server: net/http: TLS handshake timeout\n'
  },
  { name: 'i/o timeout', stderr: 'Unable to connect to the server: dial tcp 10.0.0.2:443: i/o timeout\n' },
  {
    name: '503 ServiceUnavailable',
    stderr:
      'Error from server (ServiceUnavailable): the server is currently unable to handle the request (get deployments.apps)\n'
  },
  {
    name: '429 TooManyRequests',
    stderr:
      'Error from server (TooManyRequests): the server has received too many requests and has asked us to try again later (get pods)\n'
  },
  { name: 'Too many requests text', stderr: 'error: Too many requests, please try again later.\n' },
  {
    name: '500 InternalError',
    stderr:
      'Error from server (InternalError): Internal error occurred: resource quota evaluation timed out\n'
  },
  { name: 'etcd request timed out', stderr: 'Error from server: etcdserver: request timed out\n' },
  { name: 'etcd leader changed', stderr: 'Error from server: etcdserver: leader changed\n' },
  {
    name: '500 generic',
    stderr:
      'Error from server (InternalError): an error on the server ("unknown") has prevented the request from succeeding (get pods)\n'
  },
  {
    name: '502 without a Status body',
    stderr:
      'Error from server (InternalError): an error on the server ("<html>502 Bad Gateway</html>") has prevented the request from succeeding\n'
  },
  {
    name: '504 Timeout',
    stderr:
      'Error from server (Timeout): the server was unable to return a response in the time allotted, but may still be processing the request (get deployments.apps celery-worker)\n'
  },
  { name: 'the server has received an error', stderr: 'error: the server has received an error (503)\n' },
  {
    name: 'status code without body',
    stderr: 'error: the server responded with the status code 502 but did not return more information\n'
  },
  {
    name: 'GOAWAY',
    stderr:
      'error: Get "https://10.0.0.2/apis/apps/v1": http2: server sent GOAWAY and closed the connection; LastStreamID=1, ErrCode=NO_ERROR\n'
  },
  // The next four are what kubectl 1.32 printed here against a stub server answering with those statuses.
  {
    name: '503 Status without a message (real kubectl)',
    stderr: 'Error from server (ServiceUnavailable): \n'
  },
  { name: '429 Status without a message (real kubectl)', stderr: 'Error from server (TooManyRequests): \n' },
  {
    name: '503 plain-text body (real kubectl)',
    stderr:
      'Error from server (ServiceUnavailable): the server is currently unable to handle the request (get pods)\n'
  },
  {
    name: 'discovery against a closed port (real kubectl)',
    stderr:
      'E1127 01:00:50.801919    7375 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group list: Get \\"https://127.0.0.1:9/api?timeout=32s\\": dial tcp 127.0.0.1:9: connect: connection refused"\nThe connection to the server 127.0.0.1:9 was refused - did you specify the right host or port?\n'
  },
  {
    name: 'warning line before the transient error',
    stderr:
      'Warning: autopilot-default-resources-mutator\nUnable to connect to the server: net/http: TLS handshake timeout\n'
  }
]

export const permanentCases: { name: string; stderr: string }[] = [
  {
    name: 'NotFound (golden)',
    stderr: 'Error from server (NotFound): deployments.apps "does-not-exist" not found\n'
  },
  {
    name: 'namespace NotFound in dry run (golden)',
    stderr:
      'Error from server (NotFound): error when creating "30-newns-and-deploy.yaml": namespaces "noesis2-brand-new" not found\n'
  },
  {
    name: 'AlreadyExists (golden)',
    stderr:
      'Error from server (AlreadyExists): error when creating "43-beat-for-create.yaml": deployments.apps "celery-beat" already exists\n'
  },
  {
    name: 'Conflict, stale resourceVersion (golden)',
    stderr:
      'Error from server (Conflict): error when replacing "63-lease.json": Operation cannot be fulfilled on leases.coordination.k8s.io "celery-beat-leader": the object has been modified; please apply your changes to the latest version and try again\n'
  },
  {
    name: 'SSA field manager conflict (golden)',
    stderr:
      'error: Apply failed with 1 conflict: conflict with "deploy-gke-workers": .spec.template.spec.containers[name="app"].image\nPlease review the fields above--they currently have other managers.\n'
  },
  {
    name: '422 Invalid (golden)',
    stderr:
      'The Deployment "celery-worker" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0\n'
  },
  {
    name: 'client-side apply unknown field, strict decoding (golden)',
    stderr:
      'The request is invalid: patch: Invalid value: "map[spec:map[]]": strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolicyy"\n'
  },
  {
    name: 'SSA unknown field is HTTP 500 but permanent (golden)',
    stderr:
      'Error from server: failed to create typed patch object (noesis2/celery-worker; apps/v1, Kind=Deployment): .spec.template.spec.containers[name="app"].imagePullPolicyy: field not declared in schema\n'
  },
  {
    name: 'Forbidden',
    stderr:
      'Error from server (Forbidden): deployments.apps is forbidden: User "deployer@p.iam.gserviceaccount.com" cannot list resource "deployments" in API group "apps" in the namespace "noesis2"\n'
  },
  { name: 'Unauthorized', stderr: 'error: You must be logged in to the server (Unauthorized)\n' },
  {
    name: 'progress deadline (golden)',
    stderr: 'error: deployment "never-ready-app" exceeded its progress deadline\n'
  },
  {
    name: 'unknown resource type',
    stderr: 'error: the server doesn\'t have a resource type "deploymentz"\n'
  },
  {
    name: 'bad certificate',
    stderr: 'Unable to connect to the server: x509: certificate signed by unknown authority\n'
  },
  {
    name: 'a NotFound next to a transient error: permanent wins',
    stderr:
      'Error from server (NotFound): namespaces "x" not found\nError from server (ServiceUnavailable): the server is currently unable to handle the request\n'
  },
  {
    name: 'an Invalid next to an etcd timeout: permanent wins',
    stderr:
      'Error from server: etcdserver: request timed out\nThe Deployment "celery-beat" is invalid: spec.replicas: Invalid value: 2\n'
  },
  {
    name: '404 status code without body',
    stderr: 'error: the server responded with the status code 404 but did not return more information\n'
  },
  { name: 'empty stderr', stderr: '' },
  { name: 'a plain usage error', stderr: 'error: unknown flag: --frobnicate\n' }
]
