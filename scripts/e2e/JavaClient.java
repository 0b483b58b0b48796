// The Java side of t_java: clients of an HTTP server at HOST:PORT serving /blob (the file `blob`),
// each printing one line: java.net.http.HttpClient (one request, then 8 at once), HttpURLConnection,
// a plain Socket, a non-blocking SocketChannel connect under a Selector, and a connect to CLOSED_PORT
// (refused).
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;

public class JavaClient {
    static String sum(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b)).substring(0, 16);
    }

    // The body of a raw HTTP/1.0 response.
    static byte[] body(byte[] all) {
        for (int i = 0; i + 3 < all.length; i++) {
            if (all[i] == '\r' && all[i + 1] == '\n' && all[i + 2] == '\r' && all[i + 3] == '\n') {
                return java.util.Arrays.copyOfRange(all, i + 4, all.length);
            }
        }
        return new byte[0];
    }

    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        int closed = Integer.parseInt(args[2]);
        String url = "http://" + host + ":" + port + "/blob";

        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).build();
        HttpRequest req = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(20)).build();
        HttpResponse<byte[]> r = client.send(req, HttpResponse.BodyHandlers.ofByteArray());
        System.out.println("httpclient " + r.statusCode() + " " + r.body().length + " " + sum(r.body()));
        List<CompletableFuture<HttpResponse<byte[]>>> many = new ArrayList<>();
        for (int i = 0; i < 8; i++) many.add(client.sendAsync(req, HttpResponse.BodyHandlers.ofByteArray()));
        java.util.Set<String> sums = new java.util.TreeSet<>();
        for (CompletableFuture<HttpResponse<byte[]>> f : many) {
            HttpResponse<byte[]> m = f.get();
            sums.add(m.statusCode() + " " + m.body().length + " " + sum(m.body()));
        }
        System.out.println("httpclient x8 " + String.join(",", sums));

        java.net.HttpURLConnection c = (java.net.HttpURLConnection) new URL(url).openConnection();
        c.setConnectTimeout(5000);
        c.setReadTimeout(20000);
        byte[] b;
        try (InputStream in = c.getInputStream()) {
            b = in.readAllBytes();
        }
        System.out.println("urlconnection " + c.getResponseCode() + " " + b.length + " " + sum(b));

        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), 5000);
            s.setSoTimeout(20000);
            s.setTcpNoDelay(true);
            s.setKeepAlive(true);
            OutputStream o = s.getOutputStream();
            o.write(("GET /blob HTTP/1.0\r\nHost: " + host + "\r\n\r\n").getBytes());
            o.flush();
            b = body(s.getInputStream().readAllBytes());
            System.out.println("socket " + s.getLocalAddress().getHostAddress() + " -> "
                    + s.getInetAddress().getHostAddress() + " nodelay=" + s.getTcpNoDelay() + " keepalive="
                    + s.getKeepAlive() + " " + b.length + " " + sum(b));
        }

        try (Selector sel = Selector.open(); SocketChannel ch = SocketChannel.open()) {
            ch.configureBlocking(false);
            boolean now = ch.connect(new InetSocketAddress(host, port));
            ch.register(sel, SelectionKey.OP_CONNECT);
            long end = System.nanoTime() + 5_000_000_000L;
            while (!now && sel.select(1000) == 0 && System.nanoTime() < end) { }
            ch.finishConnect();
            ch.register(sel, SelectionKey.OP_WRITE);
            ByteBuffer out = ByteBuffer.wrap(("GET /blob HTTP/1.0\r\nHost: " + host + "\r\n\r\n").getBytes());
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            ByteBuffer in = ByteBuffer.allocate(65536);
            end = System.nanoTime() + 20_000_000_000L;
            while (System.nanoTime() < end) {
                sel.select(1000);
                sel.selectedKeys().clear();
                if (out.hasRemaining()) {
                    ch.write(out);
                    if (!out.hasRemaining()) ch.register(sel, SelectionKey.OP_READ);
                    continue;
                }
                int n = ch.read(in);
                if (n < 0) break;
                got.write(in.array(), 0, in.position());
                in.clear();
            }
            b = body(got.toByteArray());
            System.out.println("channel " + b.length + " " + sum(b));
        }

        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, closed), 5000);
            System.out.println("closed port: connected");
        } catch (ConnectException e) {
            System.out.println("closed port: " + e.getMessage());
        }
    }
}
