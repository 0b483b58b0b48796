<?php
// PHP's sockets for t_php.sh: streams (stream_socket_client/server, stream_select, async
// connects) and the sockets extension (socket_create, socket_connect, socket_select...), which
// PHP loads with dlopen(RTLD_DEEPBIND). `php php_net.php client PEER` runs clients against the
// kernel-side peers (pm_peer's echo on 9000 and 1 MiB blob on 9002, an HTTP server on 8080) and a
// stream server over loopback, one line per result; `php php_net.php server` serves two
// kernel-side clients on 0.0.0.0:7800 with streams and two on 7810 with the sockets extension.
function say(...$a) { echo implode(' ', $a), "\n"; }

function server() {
    $srv = stream_socket_server("tcp://0.0.0.0:7800", $en, $es);
    $ext = socket_create_listen(7810);
    say('listening', stream_socket_get_name($srv, false));
    foreach ([1, 2] as $i) {
        $c = stream_socket_accept($srv, 10, $peer);
        fwrite($c, strtoupper(trim(fgets($c))) . " from " . explode(':', $peer)[0] . "\n");
        fclose($c);
    }
    foreach ([1, 2] as $i) {
        $c = socket_accept($ext);
        socket_getpeername($c, $ip);
        socket_getsockname($c, $me);
        $line = trim(socket_read($c, 100, PHP_NORMAL_READ));
        socket_write($c, strtoupper($line) . " from $ip to $me\n");
        socket_close($c);
    }
    say('served 4');
}

function client($peer) {
    $s = stream_socket_client("tcp://$peer:9000", $en, $es, 3);
    say('local', explode(':', stream_socket_get_name($s, false))[0], 'remote', stream_socket_get_name($s, true));
    fwrite($s, "hello php\n"); say('echo', trim(fgets($s)));
    stream_set_blocking($s, false);
    say('nonblock read', var_export(fread($s, 10), true));
    $r = [$s]; $w = null; $e = null; say('select none', stream_select($r, $w, $e, 0, 200000));
    fwrite($s, "y\n"); $r = [$s]; say('select', stream_select($r, $w, $e, 3));
    say('read', trim(fread($s, 10)));
    stream_socket_shutdown($s, STREAM_SHUT_WR);
    stream_set_blocking($s, true);
    say('after shutdown', var_export(fread($s, 10), true), var_export(feof($s), true));
    fclose($s);
    $g = stream_socket_client("tcp://$peer:9002"); $n = 0; while (!feof($g)) { $n += strlen(fread($g, 65536)); } say('blob', $n);
    $x = @stream_socket_client("tcp://$peer:1", $en, $es, 3); say('refused', $en, $es);
    $x = @stream_socket_client("tcp://10.77.0.99:80", $en, $es, 1); say('timeout', $en, $es);
    $a = stream_socket_client("tcp://$peer:9000", $en, $es, 3, STREAM_CLIENT_CONNECT | STREAM_CLIENT_ASYNC_CONNECT);
    $r = null; $w = [$a]; $e = null; say('async select', stream_select($r, $w, $e, 3));
    fwrite($a, "async\n"); stream_set_blocking($a, true); say('async echo', trim(fgets($a)));
    $a = stream_socket_client("tcp://$peer:1", $en, $es, 3, STREAM_CLIENT_CONNECT | STREAM_CLIENT_ASYNC_CONNECT);
    $r = null; $w = [$a]; $e = null; say('async refused select', stream_select($r, $w, $e, 3), var_export(@fwrite($a, "x"), true));
    // sockets ext
    $k = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
    socket_set_nonblock($k);
    $rc = @socket_connect($k, $peer, 9000); say('socket_connect nb', var_export($rc, true), socket_last_error($k));
    $r = null; $w = [$k]; $e = null; say('socket_select', socket_select($r, $w, $e, 3));
    say('so_error', socket_get_option($k, SOL_SOCKET, SO_ERROR));
    $rc = @socket_connect($k, $peer, 9000); say('socket_connect again', var_export($rc, true), socket_last_error($k));
    socket_set_block($k);
    socket_write($k, "sock\n"); say('sock echo', trim(socket_read($k, 100, PHP_NORMAL_READ)));
    say('rcvbuf>0', socket_get_option($k, SOL_SOCKET, SO_RCVBUF) > 0, 'nodelay', socket_get_option($k, SOL_TCP, TCP_NODELAY));
    socket_set_option($k, SOL_TCP, TCP_NODELAY, 1); say('nodelay', socket_get_option($k, SOL_TCP, TCP_NODELAY));
    socket_getsockname($k, $ip, $port); say('sockname', $ip);
    socket_shutdown($k, 1); say('after shutdown read', var_export(socket_read($k, 10), true));
    socket_close($k);
    $k = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
    $rc = @socket_connect($k, $peer, 1); say('socket refused', var_export($rc, true), socket_strerror(socket_last_error($k)));
    // udp
    $u = stream_socket_client("udp://$peer:7"); say('udp write', fwrite($u, 'x'));
    stream_set_timeout($u, 2); say('udp read', var_export(@fread($u, 10), true));
    $v = socket_create(AF_INET, SOCK_DGRAM, SOL_UDP); socket_connect($v, $peer, 7); socket_send($v, 'x', 1, 0);
    usleep(300000); say('socket udp recv', var_export(@socket_recv($v, $buf, 10, MSG_DONTWAIT), true), socket_strerror(socket_last_error($v)));
    // server
    $srv = stream_socket_server("tcp://0.0.0.0:7800", $en, $es); say('server', stream_socket_get_name($srv, false));
    $srv2 = @stream_socket_server("tcp://0.0.0.0:7800", $en, $es); say('server again', $en, $es);
    $c = stream_socket_client("tcp://127.0.0.1:7800"); $ac = stream_socket_accept($srv, 3, $pn);
    say('accepted from', explode(':', $pn)[0]);
    fwrite($c, "hi"); fclose($c); say('loopback read', stream_get_contents($ac));
    $ctx = stream_context_create(['http' => ['timeout' => 3]]);
    say('http', trim(file_get_contents("http://$peer:8080/index.html", false, $ctx)), explode(' ', $http_response_header[0])[1]);
    $ls = socket_create_listen(7801); socket_set_nonblock($ls); say('accept nb', var_export(@socket_accept($ls), true), socket_last_error($ls));
}

if ($argv[1] === "server") { server(); } else { client($argv[2]); }
