# Ruby's sockets for t_ruby.sh. `ruby ruby_net.rb client PEER` runs clients against the
# kernel-side peers (pm_peer's echo on 9000 and 1 MiB blob on 9002, an HTTP server on 8080) and a
# TCPServer of its own over loopback, printing one line per result; `ruby ruby_net.rb server N`
# serves N clients at once on 0.0.0.0:7700 from one IO.select loop (each request sent back
# upcased with its peer's address, then a half-close) and prints what it saw.
require 'socket'
require 'net/http'
require 'timeout'

def say(*a) = puts(a.join(' '))

def server(count)
  srv = TCPServer.new('0.0.0.0', 7700)
  say 'listening', srv.local_address.inspect_sockaddr
  $stdout.flush
  clients = []
  done = 0
  while done < count
    ready, = IO.select([srv] + clients, nil, nil, 10)
    raise 'no client for 10 s' unless ready

    ready.each do |io|
      if io == srv
        clients << srv.accept_nonblock
        next
      end
      data = io.read_nonblock(4096, exception: false)
      next if data == :wait_readable

      if data.nil?
        clients.delete(io)
        io.close
        done += 1
      else
        io.write("#{data.chomp.upcase} from #{io.remote_address.ip_address}\n")
        io.close_write
      end
    end
  end
  say 'served', done
end

def client(peer)
  s = TCPSocket.new(peer, 9000)
  say 'addr', s.local_address.ip_address, s.remote_address.inspect_sockaddr
  s.write("hello ruby\n")
  say 'echo', s.gets.inspect
  say 'nodelay', s.getsockopt(:TCP, :NODELAY).int
  s.setsockopt(:TCP, :NODELAY, 1)
  say 'nodelay', s.getsockopt(:TCP, :NODELAY).int
  say 'keepalive', s.getsockopt(:SOCKET, :KEEPALIVE).bool
  s.setsockopt(:SOCKET, :KEEPALIVE, true)
  say 'keepalive', s.getsockopt(:SOCKET, :KEEPALIVE).bool
  say 'type', s.getsockopt(:SOCKET, :TYPE).int, 'error', s.getsockopt(:SOCKET, :ERROR).int
  begin
    s.read_nonblock(10)
  rescue IO::WaitReadable => e
    say 'read_nonblock', e.class
  end
  say 'select with nothing', IO.select([s], nil, nil, 0.2).inspect
  s.write("x\n")
  r = IO.select([s], nil, nil, 3)
  say 'select', r ? r[0].size : 'nil'
  say 'read_nonblock', s.read_nonblock(10).inspect
  say 'exception: false', s.read_nonblock(10, exception: false).inspect
  s.close_write
  say 'after close_write', s.read.inspect, s.eof?
  s.close

  g = TCPSocket.new(peer, 9002)
  n = 0
  while (b = begin
    g.readpartial(65_536)
  rescue EOFError
    nil
  end)
    n += b.bytesize
  end
  say 'blob', n

  begin
    TCPSocket.new(peer, 1)
  rescue SystemCallError => e
    say 'refused', e.class
  end
  # The idiom of Socket#connect_nonblock's documentation: connect again once writable, which
  # returns (Linux's second connect says 0) or raises the connect's error.
  [1, 9000].each do |port|
    sock = Socket.new(:INET, :STREAM)
    begin
      sock.connect_nonblock(Socket.sockaddr_in(port, peer))
      say 'connect_nonblock at once', port
    rescue IO::WaitWritable
      IO.select(nil, [sock], nil, 3)
      begin
        sock.connect_nonblock(Socket.sockaddr_in(port, peer))
        say 'connect_nonblock', port, 'connected'
      rescue SystemCallError => e
        say 'connect_nonblock', port, e.class
      end
    end
    say '  SO_ERROR then', sock.getsockopt(:SOCKET, :ERROR).int
    sock.close
  end
  begin
    Socket.tcp('10.77.0.99', 80, connect_timeout: 1)
  rescue SystemCallError => e
    say 'connect_timeout', e.class
  end

  u = UDPSocket.new
  u.connect(peer, 7)
  say 'udp local', u.local_address.ip_address
  u.send('x', 0)
  begin
    Timeout.timeout(2) { u.recv(10) }
  rescue StandardError => e
    say 'udp to a closed port', e.class
  end
  u2 = UDPSocket.new
  u2.bind('0.0.0.0', 0)
  say 'udp bound', u2.local_address.ip_address, u2.local_address.ip_port.positive?

  srv = TCPServer.new('0.0.0.0', 7701)
  say 'server', srv.local_address.inspect_sockaddr, srv.getsockopt(:SOCKET, :REUSEADDR).bool
  srv2 = Socket.new(:INET, :STREAM)
  srv2.setsockopt(:SOCKET, :REUSEADDR, true)
  begin
    srv2.bind(Socket.sockaddr_in(7701, '0.0.0.0'))
    say 'bound again'
  rescue SystemCallError => e
    say 'bind again', e.class
  end
  begin
    srv.accept_nonblock
  rescue IO::WaitReadable => e
    say 'accept_nonblock', e.class
  end
  c = TCPSocket.new('127.0.0.1', 7701)
  a = srv.accept
  say 'loopback', a.remote_address.ip_address, c.remote_address.inspect_sockaddr
  c.write('ab')
  c.close
  say 'loopback read', a.read.inspect

  Net::HTTP.start(peer, 8080) do |http|
    3.times do
      r = http.get('/index.html')
      say 'http', r.code, r.body.strip
    end
  end
  say 'addrinfo', Addrinfo.tcp(peer, 80).inspect
end

case ARGV[0]
when 'server' then server(Integer(ARGV[1]))
else client(ARGV[1])
end
