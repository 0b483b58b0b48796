// The Java side of t_java's socket checks: one line each for what the JVM's sockets do at their
// edges, on the stack as on the kernel (compared with the kernel's own lines): timeouts, a close or
// an interrupt from another thread while one is blocked (Java wakes it with dup2 and a signal),
// half-close, connect timeouts and refusals, UDP (connect, disconnect, non-blocking channels),
// asynchronous channels, connections to its own address and to loopback, buffer sizes and options,
// SO_REUSEPORT and EADDRINUSE, the interfaces Java lists, 50 non-blocking connects under one
// Selector. Arguments: PEER ECHO_PORT UDP_ECHO_PORT OWN_ADDRESS.
import java.io.*;
import java.net.*;
import java.nio.ByteBuffer;
import java.nio.channels.*;
import java.util.*;
import java.util.concurrent.*;
import jdk.net.ExtendedSocketOptions;

public class JavaEdges {
    static String peer; static int echo; static int udp;
    interface Check { String run() throws Exception; }
    static void check(String name, Check c) {
        String r;
        try { r = c.run(); } catch (Throwable e) { r = e.getClass().getSimpleName() + ": " + e.getMessage(); }
        System.out.println(name + ": " + r);
    }
    static void later(long ms, Check c) {
        new Thread(() -> { try { Thread.sleep(ms); c.run(); } catch (Exception e) { System.out.println("later: " + e); } }).start();
    }
    public static void main(String[] a) throws Exception {
        peer = a[0]; echo = Integer.parseInt(a[1]); udp = Integer.parseInt(a[2]);
        String me = a[3];
        check("accept timeout", () -> { try (ServerSocket s = new ServerSocket(7101)) { s.setSoTimeout(300); s.accept(); return "accepted"; } });
        check("accept closed by other thread", () -> { ServerSocket s = new ServerSocket(7102); later(300, () -> { s.close(); return ""; }); s.accept(); return "accepted"; });
        check("read closed by other thread", () -> { Socket s = new Socket(peer, echo); later(300, () -> { s.close(); return ""; }); return "read " + s.getInputStream().read(); });
        check("channel read closed by other thread", () -> { SocketChannel s = SocketChannel.open(new InetSocketAddress(peer, echo)); later(300, () -> { s.close(); return ""; }); return "read " + s.read(ByteBuffer.allocate(10)); });
        check("channel read interrupted", () -> { SocketChannel s = SocketChannel.open(new InetSocketAddress(peer, echo)); Thread t = Thread.currentThread(); later(300, () -> { t.interrupt(); return ""; }); try { return "read " + s.read(ByteBuffer.allocate(10)); } finally { Thread.interrupted(); } });
        check("socket read timeout", () -> { try (Socket s = new Socket(peer, echo)) { s.setSoTimeout(300); return "read " + s.getInputStream().read(); } });
        check("half close echo", () -> { try (Socket s = new Socket(peer, echo)) { s.getOutputStream().write("abc".getBytes()); s.shutdownOutput(); return new String(s.getInputStream().readAllBytes()) + " isOutputShutdown=" + s.isOutputShutdown(); } });
        check("connect timeout", () -> { try (Socket s = new Socket()) { s.connect(new InetSocketAddress("10.77.0.99", 80), 1000); return "connected"; } });
        check("connect refused", () -> { try (Socket s = new Socket()) { s.connect(new InetSocketAddress(peer, 1), 3000); return "connected"; } });
        check("udp echo", () -> { try (DatagramSocket d = new DatagramSocket()) { d.setSoTimeout(2000); byte[] b = "ping".getBytes(); d.send(new DatagramPacket(b, b.length, new InetSocketAddress(peer, udp))); DatagramPacket p = new DatagramPacket(new byte[100], 100); d.receive(p); return new String(p.getData(), 0, p.getLength()) + " from " + p.getAddress().getHostAddress(); } });
        check("udp connect disconnect", () -> { try (DatagramSocket d = new DatagramSocket()) { d.connect(new InetSocketAddress(peer, udp)); String r = d.isConnected() + " " + d.getRemoteSocketAddress(); d.disconnect(); d.setSoTimeout(300); try { d.receive(new DatagramPacket(new byte[10], 10)); } catch (SocketTimeoutException e) { r += " timeout"; } return r + " " + d.isConnected(); } });
        check("udp channel nonblocking", () -> { try (DatagramChannel d = DatagramChannel.open()) { d.configureBlocking(false); d.bind(new InetSocketAddress(0)); return "receive " + d.receive(ByteBuffer.allocate(10)); } });
        check("udp channel connect", () -> { try (DatagramChannel d = DatagramChannel.open()) { d.connect(new InetSocketAddress(peer, udp)); d.write(ByteBuffer.wrap("pong".getBytes())); ByteBuffer b = ByteBuffer.allocate(10); d.read(b); return new String(b.array(), 0, b.position()) + " local " + ((InetSocketAddress) d.getLocalAddress()).getAddress().getHostAddress(); } });
        check("async channel", () -> { try (AsynchronousSocketChannel c = AsynchronousSocketChannel.open()) { c.connect(new InetSocketAddress(peer, echo)).get(5, TimeUnit.SECONDS); c.write(ByteBuffer.wrap("async".getBytes())).get(5, TimeUnit.SECONDS); ByteBuffer b = ByteBuffer.allocate(10); c.read(b).get(5, TimeUnit.SECONDS); return new String(b.array(), 0, b.position()); } });
        check("self connect own address", () -> { try (ServerSocket s = new ServerSocket(7103, 5, InetAddress.getByName(me)); Socket c = new Socket()) { c.connect(new InetSocketAddress(me, 7103), 3000); Socket x = s.accept(); c.getOutputStream().write(7); int r = x.getInputStream().read(); return "ok " + r + " " + x.getInetAddress().getHostAddress() + " " + c.getLocalAddress().getHostAddress(); } });
        check("self connect wildcard via own address", () -> { try (ServerSocket s = new ServerSocket(7104); Socket c = new Socket()) { c.connect(new InetSocketAddress(me, 7104), 3000); Socket x = s.accept(); return "ok " + x.getInetAddress().getHostAddress(); } });
        check("self connect loopback", () -> { try (ServerSocket s = new ServerSocket(7105); Socket c = new Socket()) { c.connect(new InetSocketAddress("127.0.0.1", 7105), 3000); Socket x = s.accept(); return "ok " + x.getInetAddress().getHostAddress() + " " + x.getLocalAddress().getHostAddress(); } });
        check("async server", () -> { try (AsynchronousServerSocketChannel s = AsynchronousServerSocketChannel.open().bind(new InetSocketAddress(7106))) { Future<AsynchronousSocketChannel> f = s.accept(); try (Socket c = new Socket("127.0.0.1", 7106)) { AsynchronousSocketChannel x = f.get(5, TimeUnit.SECONDS); return "ok " + ((InetSocketAddress) x.getRemoteAddress()).getAddress().getHostAddress(); } } });
        check("buffers", () -> { try (Socket s = new Socket()) { String r = s.getReceiveBufferSize() + " " + s.getSendBufferSize(); s.setReceiveBufferSize(65536); s.setSendBufferSize(65536); s.connect(new InetSocketAddress(peer, echo)); return r + " -> " + s.getReceiveBufferSize() + " " + s.getSendBufferSize(); } });
        check("options", () -> { try (Socket s = new Socket(peer, echo)) { s.setTrafficClass(0x10); s.setOption(ExtendedSocketOptions.TCP_KEEPIDLE, 30); s.setOption(ExtendedSocketOptions.TCP_KEEPINTERVAL, 5); s.setOption(ExtendedSocketOptions.TCP_KEEPCOUNT, 4); s.setOption(ExtendedSocketOptions.TCP_QUICKACK, true); s.setSoLinger(true, 3); s.setOOBInline(true); s.setReuseAddress(true); return s.getTrafficClass() + " " + s.getOption(ExtendedSocketOptions.TCP_KEEPIDLE) + " " + s.getOption(ExtendedSocketOptions.TCP_KEEPINTERVAL) + " " + s.getOption(ExtendedSocketOptions.TCP_KEEPCOUNT) + " " + s.getOption(ExtendedSocketOptions.TCP_QUICKACK) + " " + s.getSoLinger() + " " + s.getOOBInline() + " " + s.getReuseAddress(); } });
        check("urgent", () -> { try (Socket s = new Socket(peer, echo)) { s.sendUrgentData(65); s.getOutputStream().write(66); s.setSoTimeout(2000); InputStream in = s.getInputStream(); return "" + in.read() + " " + in.read(); } });
        check("reuseport", () -> { try (ServerSocketChannel x = ServerSocketChannel.open(); ServerSocketChannel y = ServerSocketChannel.open()) { x.setOption(StandardSocketOptions.SO_REUSEPORT, true); y.setOption(StandardSocketOptions.SO_REUSEPORT, true); x.bind(new InetSocketAddress(7107)); y.bind(new InetSocketAddress(7107)); return "both bound"; } });
        check("bind in use", () -> { try (ServerSocket x = new ServerSocket(7108); ServerSocket y = new ServerSocket(7108)) { return "both bound"; } });
        check("interfaces", () -> { List<String> l = new ArrayList<>(); for (NetworkInterface n : Collections.list(NetworkInterface.getNetworkInterfaces())) for (InterfaceAddress ia : n.getInterfaceAddresses()) if (ia.getAddress() instanceof Inet4Address) l.add(ia.getAddress().getHostAddress() + "/" + ia.getNetworkPrefixLength() + (n.isUp() ? " up" : "") + (n.isLoopback() ? " lo" : "")); Collections.sort(l); return l.toString(); });
        check("ephemeral", () -> { try (Socket s = new Socket()) { s.bind(null); int p = s.getLocalPort(); return (p >= 32768 && p < 61000) + " " + s.getLocalAddress(); } });
        check("selector many", () -> { try (Selector sel = Selector.open()) { List<SocketChannel> cs = new ArrayList<>(); for (int i = 0; i < 50; i++) { SocketChannel c = SocketChannel.open(); c.configureBlocking(false); c.connect(new InetSocketAddress(peer, echo)); c.register(sel, SelectionKey.OP_CONNECT); cs.add(c); } int done = 0; long end = System.nanoTime() + 5_000_000_000L; while (done < 50 && System.nanoTime() < end) { sel.select(500); for (SelectionKey k : sel.selectedKeys()) { if (((SocketChannel) k.channel()).finishConnect()) { done++; k.interestOps(0); } } sel.selectedKeys().clear(); } for (SocketChannel c : cs) c.close(); return "connected " + done; } });
        System.exit(0);
    }
}
