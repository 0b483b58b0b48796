"""The conformance runner's agent: the program on the side under test whose socket calls the cases
drive. It runs on the stack (`tapstack run -- python3 agent.py`) or on the kernel's own sockets
(`ip netns exec NS-s python3 agent.py`), reads one command a line on stdin and prints one result
line for each: the call's return value, or the errno's name (EAGAIN, ECONNRESET...).

  socket                      a new TCP socket; it becomes the current one
  listen PORT [fastopen QLEN] [nocookie] [key HEX] [defer SECS]
                              a new socket bound to 0.0.0.0:PORT, listening (backlog 8), with
                              TCP_FASTOPEN set to QLEN, TCP_FASTOPEN_NO_COOKIE to 1,
                              TCP_FASTOPEN_KEY to HEX's bytes and TCP_DEFER_ACCEPT to SECS first
                              if asked
  pollaccept MS               poll(2) the listener for POLLIN up to MS ms: IN, or 0
  getlistener NAME            getsockopt of an integer option on the listener
  listenkey HEX               TCP_FASTOPEN_KEY on the listener, listening
  accept                      accept on the listener (blocks); the connection becomes current
  connect IP PORT             connect the current socket (or a new one) (blocks)
  disconnect                  connect(2) the current socket to AF_UNSPEC (Linux's tcp_disconnect)
  fastopen IP PORT N [nocookie] [DONTWAIT]
                              a new socket (with TCP_FASTOPEN_NO_COOKIE if asked): sendto(2) N
                              bytes with MSG_FASTOPEN (and MSG_DONTWAIT) to IP:PORT (blocks
                              unless DONTWAIT)
  write N                     write(2) N bytes of a fixed pattern
  send N [FLAG|FLAG...]       send(2) N bytes with MSG_* flags (MORE, DONTWAIT, ...)
  sendmsg N [FLAG|FLAG...]    sendmsg(2) of N bytes in two iovecs (1000 bytes, then the rest)
  read N [FLAG|FLAG...]       recv(2) up to N bytes; prints how many it got
  readbytes N [FLAG|FLAG...]  recv(2) up to N bytes; prints them (as text)
  atmark                      ioctl(SIOCATMARK): 1 at the urgent mark, else 0
  shutdown RD|WR|RDWR
  poll                        poll(2) the current socket for POLLIN|POLLRDHUP|POLLOUT, at once;
                              prints the events seen (IN|RDHUP|OUT...), or 0
  epollet                     an edge-triggered epoll instance watching the current socket for
                              EPOLLIN|EPOLLRDHUP
  epollwait MS                epoll_wait on it for up to MS ms; prints the events of the edge
                              reported (IN|RDHUP...), or 0 when none came
  setsockopt NAME VALUE       an integer option: TCP_CORK, TCP_NODELAY, SO_RCVBUF, ...
  getsockopt NAME
  linger ON SECS              SO_LINGER {ON, SECS}
  close                       close the current socket
  closelistener
  shutdownlistener RD|WR|RDWR
"""

import ctypes
import errno
import os
import socket
import sys

OPTS = {
    "TCP_CORK": (socket.IPPROTO_TCP, socket.TCP_CORK),
    "TCP_NODELAY": (socket.IPPROTO_TCP, socket.TCP_NODELAY),
    "TCP_QUICKACK": (socket.IPPROTO_TCP, socket.TCP_QUICKACK),
    "TCP_MAXSEG": (socket.IPPROTO_TCP, socket.TCP_MAXSEG),
    "SO_RCVBUF": (socket.SOL_SOCKET, socket.SO_RCVBUF),
    "SO_SNDBUF": (socket.SOL_SOCKET, socket.SO_SNDBUF),
    "SO_ERROR": (socket.SOL_SOCKET, socket.SO_ERROR),
    "SO_LINGER": (socket.SOL_SOCKET, socket.SO_LINGER),
    "TCP_DEFER_ACCEPT": (socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT),
    "SO_KEEPALIVE": (socket.SOL_SOCKET, socket.SO_KEEPALIVE),
    "TCP_KEEPIDLE": (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
    "TCP_KEEPINTVL": (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
    "TCP_KEEPCNT": (socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
    "SO_OOBINLINE": (socket.SOL_SOCKET, socket.SO_OOBINLINE),
    # Linux's numbers (include/uapi/linux/tcp.h): not every Python names them.
    "TCP_FASTOPEN_CONNECT": (socket.IPPROTO_TCP, 30),
    "TCP_FASTOPEN_NO_COOKIE": (socket.IPPROTO_TCP, 34),
}
TCP_FASTOPEN_KEY = 33

PATTERN = bytes(range(97, 123)) * 4000  # 104 000 bytes of "abc...z"


def flags_of(words):
    f = 0
    for w in words:
        for name in w.split("|"):
            f |= getattr(socket, "MSG_" + name)
    return f


def run(cmd, state):
    w = cmd.split()
    op = w[0]
    if op == "socket":
        state["cur"] = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        return 0
    if op == "listen":
        ls = state.get("ls") or socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        state["ls"] = ls
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if "fastopen" in w:
            ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, int(w[w.index("fastopen") + 1]))
        if "nocookie" in w:
            ls.setsockopt(*OPTS["TCP_FASTOPEN_NO_COOKIE"], 1)
        if "defer" in w:
            ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, int(w[w.index("defer") + 1]))
        if "key" in w:
            ls.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_KEY, bytes.fromhex(w[w.index("key") + 1]))
        ls.bind(("0.0.0.0", int(w[1])))
        ls.listen(8)
        return 0
    if op == "accept":
        c, _ = state["ls"].accept()
        state["cur"] = c
        return 0
    if op == "listenkey":
        state["ls"].setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_KEY, bytes.fromhex(w[1]))
        return 0
    if op == "pollaccept":
        import select
        p = select.poll()
        p.register(state["ls"], select.POLLIN)
        return "IN" if p.poll(int(w[1])) else 0
    if op == "getlistener":
        return state["ls"].getsockopt(*OPTS[w[1]])
    if op == "closelistener":
        state.pop("ls").close()
        return 0
    if op == "shutdownlistener":
        state["ls"].shutdown({"RD": socket.SHUT_RD, "WR": socket.SHUT_WR, "RDWR": socket.SHUT_RDWR}[w[1]])
        return 0
    if op == "connect":
        s = state.get("cur") or socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        state["cur"] = s
        rc = s.connect_ex((w[1], int(w[2])))
        return errno.errorcode.get(rc, rc) if rc else 0
    if op == "fastopen":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        state["cur"] = s
        if "nocookie" in w[4:]:
            s.setsockopt(*OPTS["TCP_FASTOPEN_NO_COOKIE"], 1)
        flags = socket.MSG_FASTOPEN | (socket.MSG_DONTWAIT if "DONTWAIT" in w[4:] else 0)
        return s.sendto(PATTERN[: int(w[3])], flags, (w[1], int(w[2])))
    s = state["cur"]
    if op == "disconnect":
        # Python's connect takes no AF_UNSPEC address: libc's own (the preload's, on the stack),
        # with a sockaddr of family 0.
        libc = ctypes.CDLL(None, use_errno=True)
        unspec = (ctypes.c_ubyte * 16)()
        if libc.connect(s.fileno(), unspec, 16) != 0:
            e = ctypes.get_errno()
            return errno.errorcode.get(e, e)
        return 0
    if op == "write":
        return os.write(s.fileno(), PATTERN[: int(w[1])])
    if op == "send":
        return s.send(PATTERN[: int(w[1])], flags_of(w[2:]))
    if op == "sendmsg":
        n = int(w[1])
        return s.sendmsg([PATTERN[: min(n, 1000)], PATTERN[min(n, 1000) : n]], [], flags_of(w[2:]))
    if op == "read":
        return len(s.recv(int(w[1]), flags_of(w[2:])))
    if op == "readbytes":
        return s.recv(int(w[1]), flags_of(w[2:])).decode() or 0
    if op == "atmark":
        import array
        import fcntl
        b = array.array("i", [0])
        fcntl.ioctl(s.fileno(), 0x8905, b)  # SIOCATMARK
        return b[0]
    if op == "poll":
        import select
        p = select.poll()
        p.register(s, select.POLLIN | select.POLLRDHUP | select.POLLOUT)
        ev = p.poll(0)
        got = ev[0][1] if ev else 0
        names = [n for n, b in (("IN", select.POLLIN), ("OUT", select.POLLOUT), ("RDHUP", select.POLLRDHUP),
                                ("HUP", select.POLLHUP), ("ERR", select.POLLERR)) if got & b]
        return "|".join(names) or 0
    if op == "epollet":
        import select
        ep = select.epoll()
        ep.register(s, select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET)
        state["ep"] = ep
        return 0
    if op == "epollwait":
        import select
        ev = state["ep"].poll(int(w[1]) / 1000)
        got = ev[0][1] if ev else 0
        names = [n for n, b in (("IN", select.EPOLLIN), ("OUT", select.EPOLLOUT), ("RDHUP", select.EPOLLRDHUP),
                                ("HUP", select.EPOLLHUP), ("ERR", select.EPOLLERR)) if got & b]
        return "|".join(names) or 0
    if op == "shutdown":
        s.shutdown({"RD": socket.SHUT_RD, "WR": socket.SHUT_WR, "RDWR": socket.SHUT_RDWR}[w[1]])
        return 0
    if op == "setsockopt":
        s.setsockopt(*OPTS[w[1]], int(w[2]))
        return 0
    if op == "linger":
        import struct
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", int(w[1]), int(w[2])))
        return 0
    if op == "getsockopt":
        return s.getsockopt(*OPTS[w[1]])
    if op == "close":
        state.pop("cur").close()
        return 0
    return "EBADCMD"


def main():
    state = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            res = run(line, state)
        except OSError as e:
            res = errno.errorcode.get(e.errno, str(e.errno))
        except Exception as e:  # a broken command: say so on the result line, keep going
            res = "EXC %s: %s" % (type(e).__name__, e)
        print(res, flush=True)


if __name__ == "__main__":
    main()
