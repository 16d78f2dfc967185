"""What runs inside the sandbox before a program (codemix_search/sandbox.py): a prelude that cuts
the network, installs the audit hook (which the program cannot remove) and reads the verdict's
nonce, and the harness that runs the program to its end and only then writes the nonce."""

PRELUDE = r"""
import socket as _s
def _no_net(*a, **k):
    raise PermissionError("network access is disabled in the sandbox")
_s.socket = _no_net
_s.create_connection = _no_net
_s.socketpair = _no_net
del _s, _no_net

def _guard():
    import os, sys, threading
    root = os.path.realpath(os.getcwd()) + os.sep
    me = os.getpid()
    # The verdict's nonce arrives on stdin before the program runs (stdin is then /dev/null):
    # it is in no file, argument or environment variable the program could read.
    nonce = sys.stdin.buffer.readline().strip()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # The user's home is off limits even for reading (keys, tokens, configs), except the Python
    # installation itself when it lives there (pyenv: ~/.pyenv/versions/...).
    private = [p for p in os.environ.pop("CODEMIX_SANDBOX_PRIVATE", "").split(os.pathsep) if p]
    python = tuple(os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix, sys.exec_prefix})
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    spawn = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
             "subprocess.Popen", "pty.spawn", "ctypes.dlopen", "ctypes.dlsym", "socket.")
    paths = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown",
             "os.symlink", "os.link", "os.truncate", "os.utime", "shutil.rmtree", "shutil.move")
    # Per thread: a second thread busy in the hook must not let the first one through.
    local = threading.local()
    introspection = ("gc.get_objects", "gc.get_referrers", "gc.get_referents",
                     "sys._current_frames")

    def inside(p):
        if isinstance(p, int):
            return True
        p = os.fsdecode(p)
        if p == os.devnull:
            return True
        return (os.path.realpath(p) + os.sep).startswith(root)

    def private_path(p):
        if isinstance(p, int):
            return False
        real = os.path.realpath(os.fsdecode(p)) + os.sep
        return any(real.startswith(h) for h in private) and not real.startswith(python)

    def hook(event, args):
        if getattr(local, "busy", False):
            return
        local.busy = True
        try:
            if event.startswith(spawn):
                raise PermissionError(f"sandbox: {event} is not allowed")
            if event in ("os.kill", "os.killpg", "signal.pthread_kill") and args[0] != me:
                raise PermissionError(f"sandbox: {event} of another process is not allowed")
            if event in ("open", "os.listdir", "os.scandir") and args and private_path(args[0]):
                raise PermissionError(f"sandbox: reading {args[0]!r} (the user's home)")
            if event in introspection:
                raise PermissionError(f"sandbox: {event} is not allowed")
            if event == "open":
                path, mode, flags = args
                writes = (mode and any(c in str(mode) for c in "wax+")) or (
                    mode is None and flags and flags & write_flags)
                if writes and not inside(path):
                    raise PermissionError(f"sandbox: writing {path!r} outside the work dir")
                # A folder opened outside the work dir would be a dir_fd that the next open's
                # relative path is resolved against, unseen here: no such folder is opened.
                if not inside(path) and not isinstance(path, int) and os.path.isdir(path):
                    raise PermissionError(f"sandbox: opening the folder {path!r}")
            elif event.startswith(paths):
                for p in args[:2]:
                    if isinstance(p, (str, bytes)) and not inside(p):
                        raise PermissionError(f"sandbox: {event} on {p!r} outside the work dir")
        finally:
            local.busy = False

    sys.addaudithook(hook)
    return nonce


def _harness(nonce):
    # The program runs as __main__ to its end; only then is the nonce written (to the fd named
    # by argv[1]: a file the parent reads). An exit before the end (sys.exit(0), os._exit(0),
    # a signal) leaves no nonce: the verdict does not trust the exit status alone.
    import os, sys, traceback
    with open("prog.py", encoding="utf-8") as f:
        code = compile(f.read(), "prog.py", "exec")
    main = {"__name__": "__main__", "__file__": "prog.py", "__builtins__": __builtins__}
    try:
        exec(code, main)
    except SystemExit as e:
        print(f"sandbox: the program exited (status {e.code!r}) before its end",
              file=sys.stderr)
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(e.code if isinstance(e.code, int) and e.code else 1)
    except BaseException:
        traceback.print_exc()
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush(); sys.stderr.flush()
    os.write(int(sys.argv[1]), b"done " + nonce + b"\n")
    os._exit(0)


_harness(_guard())
"""
