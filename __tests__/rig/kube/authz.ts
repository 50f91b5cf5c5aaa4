// Controllable permissions: everything is allowed unless a deny rule matches (for `auth can-i` and 403 paths).
export interface AccessRule {
  verb: string // '*' for any
  resource: string // plural, '*' for any
  namespace?: string
  group?: string
  user?: string // only when the request impersonates this user (kubectl --as)
}

export interface AccessRequest {
  verb: string
  resource: string
  namespace?: string
  group?: string
  user?: string
}

export class Authorizer {
  private denied: AccessRule[] = []

  deny(rule: AccessRule): void {
    this.denied.push(rule)
  }

  reset(): void {
    this.denied = []
  }

  // With a deny rule the emulator cannot state its permissions as RBAC rules (which only allow).
  hasDenials(): boolean {
    return this.denied.length > 0
  }

  allowed(r: AccessRequest): boolean {
    return !this.denied.some(
      d =>
        (d.verb === '*' || d.verb === r.verb) &&
        (d.resource === '*' || d.resource === r.resource) &&
        (d.namespace === undefined || d.namespace === r.namespace) &&
        (d.group === undefined || d.group === (r.group ?? '')) &&
        (d.user === undefined || d.user === r.user)
    )
  }
}

// HTTP method (+ query) to the RBAC verb the apiserver would check
export function verbOf(method: string, hasName: boolean, watch: boolean): string {
  switch (method) {
    case 'GET':
      return watch ? 'watch' : hasName ? 'get' : 'list'
    case 'POST':
      return 'create'
    case 'PUT':
      return 'update'
    case 'PATCH':
      return 'patch'
    case 'DELETE':
      return hasName ? 'delete' : 'deletecollection'
    default:
      return method.toLowerCase()
  }
}
