# What `kubectl exec` runs in a pod of the rig's control plane. kwok executes commands locally; the rig's
# kubelet front (pod-runtime.ts) rewrites each exec so that kwok runs this instead, in PID, UTS and mount
# namespaces of its own (util-linux unshare), with the path of a spec file it wrote: the container's environment
# as the kubelet would give it, the image's working directory, the pod's host name, the command line of the
# container's main process and the command to run. Inside, as a container shows it: a process with the
# container's command line (the stand-in of its main process, which only waits), and the exec'd command, whose
# output and exit code are the exec's. Everything in the namespaces ends when this does.
#
# Standard library only; run as python3 -I -S (no site, no user paths), so nothing of the test's environment
# reaches it. The spec is removed once read: it holds the pod's Secret values.

import json
import os
import signal
import socket
import subprocess
import sys

# A process whose command line is the container's: Perl rewrites its own /proc/PID/cmdline through $0 (the
# original arguments leave room for it), says so with one line on its stdout, and waits until killed. The exec'd
# command starts after that line: before it, a `pgrep -f` or a look at /proc can find Perl's own command line
# (seen once in a loaded full run).
MAIN_PROCESS = ['perl', '-e', r'$0 = join(" ", @ARGV); $| = 1; print "\n"; close STDOUT; sleep while 1', '--']


def main():
    path = sys.argv[1]
    with open(path, encoding='utf-8') as handle:
        spec = json.load(handle)
    os.unlink(path)
    env = spec['env']
    if spec['isolated']:
        # A UTS namespace of this exec's own: the pod's name is its host name, as in a container. Never without
        # one: that would rename the machine.
        socket.sethostname(spec['hostname'])
    keep_with_parent = None if spec['isolated'] else die_with_parent
    main_process = None
    if spec['main']:
        main_process = subprocess.Popen(
            MAIN_PROCESS + spec['main'], env=env, cwd=spec['workDir'], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, preexec_fn=keep_with_parent)
        # Its line, once its command line is the container's (nothing, should it die first).
        main_process.stdout.readline()
        main_process.stdout.close()
    try:
        command = subprocess.Popen(spec['command'], env=env, cwd=spec['workDir'], preexec_fn=keep_with_parent)
    except OSError as error:
        # What a container runtime says of a command it cannot start (kubectl shows it; exit 127 or 126).
        sys.stderr.write('exec: "%s": %s\n' % (spec['command'][0], error.strerror))
        sys.exit(127 if isinstance(error, FileNotFoundError) else 126)
    for forwarded in (signal.SIGTERM, signal.SIGINT):
        signal.signal(forwarded, lambda number, _frame: command.send_signal(number))
    code = command.wait()
    if main_process is not None:
        main_process.kill()
        main_process.wait()
    sys.exit(code if code >= 0 else 128 - code)


def die_with_parent():
    # Without namespaces nothing ends the children with this process: the kernel does (PR_SET_PDEATHSIG).
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


main()
