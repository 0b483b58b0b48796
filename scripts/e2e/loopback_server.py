# A small HTTP server for t_loopback.sh: serves one file's bytes at every path and logs, for each
# request, the peer's address, the accepted socket's own address and its family:
#   PEER <peer ip> SOCK <local ip> FAMILY <AF_...> PATH <path>
# Usage: loopback_server.py 4|6 HOST PORT FILE LOG. Prints "ready" once it listens.
import http.server, socket, socketserver, sys

family, host, port, path, log = sys.argv[1:6]


class Server(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6 if family == "6" else socket.AF_INET
    allow_reuse_address = True
    daemon_threads = True


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = open(path, "rb").read()
        # The accepted socket's family as the kernel (or the stack) tells it, not Python's idea.
        domain = self.request.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN)
        with open(log, "a") as f:
            f.write("PEER %s SOCK %s FAMILY %s PATH %s\n" % (
                self.client_address[0], self.request.getsockname()[0],
                socket.AddressFamily(domain).name, self.path))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


with Server((host, int(port)), Handler) as s:
    print("ready", flush=True)
    s.serve_forever()
