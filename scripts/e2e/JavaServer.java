// The Java side of t_java: a com.sun.net.httpserver.HttpServer on the port given (Java's dual-stack
// [::] listener, a thread pool), answering /hello with both ends' addresses, /blob with 4 MiB of a
// fixed pattern, and /echo with the body it was sent. Prints "ready" once it listens.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.concurrent.Executors;

public class JavaServer {
    static void reply(HttpExchange x, byte[] body) throws IOException {
        x.sendResponseHeaders(200, body.length);
        try (OutputStream o = x.getResponseBody()) {
            o.write(body);
        }
    }

    public static void main(String[] args) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(Integer.parseInt(args[0])), 50);
        server.createContext("/hello", x -> reply(x, ("hello " + x.getRemoteAddress().getAddress().getHostAddress()
                + " " + x.getLocalAddress().getAddress().getHostAddress() + "\n").getBytes()));
        server.createContext("/blob", x -> {
            byte[] b = new byte[4 << 20];
            for (int i = 0; i < b.length; i++) b[i] = (byte) (i * 7 + i / 251);
            reply(x, b);
        });
        server.createContext("/echo", x -> reply(x, x.getRequestBody().readAllBytes()));
        server.setExecutor(Executors.newFixedThreadPool(4));
        server.start();
        System.out.println("ready");
    }
}
