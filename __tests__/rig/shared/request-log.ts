// One request a client under test sent to the Kubernetes API, as the fault proxy saw it: the status it got
// (101 for an upgrade that went through, -1 for a connection reset, -2 for an answer lost on the way back).
export interface RequestRecord {
  method: string
  path: string
  status: number
}
