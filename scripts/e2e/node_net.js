// Node's net, http and dgram both ways, for t_node.sh: `node node_net.js server IP` listens on IP
// (TCP 7400 half-open echo, 7401 a 2 MiB download under backpressure, 7402 HTTP keep-alive, UDP
// 7403 echo, TCP 7404 silent) and prints what its clients did; `node node_net.js client IP` drives those servers
// and prints what it saw, one line per case, the same lines on the kernel's sockets and the stack's.
'use strict';
const net = require('net');
const http = require('http');
const dgram = require('dgram');
const crypto = require('crypto');

const [role, ip] = process.argv.slice(2);
const out = (s) => process.stdout.write(s + '\n');
const BLOB = crypto.createHash('sha256').update('tapstack').digest();
const BIG = Buffer.alloc(2 << 20);
for (let i = 0; i < BIG.length; i += BLOB.length) BLOB.copy(BIG, i);
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex').slice(0, 16);

function server() {
  let pending = 5;
  const done = () => {
    if (--pending === 0) process.exit(0);
  };
  // Half-open echo: reads to the client's FIN, then answers and ends (allowHalfOpen keeps the
  // write side open after 'end', as a shutdown(SHUT_WR) from the peer leaves it).
  const half = net.createServer({ allowHalfOpen: true }, (s) => {
    const chunks = [];
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => {
      const got = Buffer.concat(chunks).toString();
      s.end(`after your FIN: ${got.length} bytes "${got}"`);
      out(`half: peer ${s.remoteAddress} got "${got}" then FIN`);
      done();
    });
  });
  const big = net.createServer((s) => {
    s.setNoDelay(true);
    let i = 0;
    let drains = 0;
    // Writes 64 KiB pieces until write() says the buffer is full, then waits for 'drain'.
    const pump = () => {
      while (i < BIG.length) {
        const ok = s.write(BIG.subarray(i, i + 65536));
        i += 65536;
        if (!ok) {
          drains++;
          s.once('drain', pump);
          return;
        }
      }
      s.end();
    };
    pump();
    s.on('close', () => {
      out(`big: sent ${s.bytesWritten} bytes, waited for drain: ${drains > 0}`);
      done();
    });
  });
  let requests = 0;
  const ports = new Set();
  const web = http.createServer((req, res) => {
    requests++;
    ports.add(req.socket.remotePort);
    const body = `request ${requests} ${req.method} ${req.url}`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
    if (requests === 5) {
      out(`http: 5 requests over ${ports.size} connection(s)`);
      done();
    }
  });
  web.keepAliveTimeout = 5000;
  const udp = dgram.createSocket('udp4');
  let datagrams = 0;
  udp.on('message', (msg, rinfo) => {
    datagrams++;
    udp.send(Buffer.concat([Buffer.from('echo '), msg]), rinfo.port, rinfo.address);
    if (datagrams === 3) {
      out(`udp: 3 datagrams from ${rinfo.address}`);
      done();
    }
  });
  // Idle: the client connects, sends nothing and closes when its own timer fires.
  const idle = net.createServer((s) => {
    let bytes = 0;
    s.on('data', (d) => (bytes += d.length));
    s.on('close', () => {
      out(`idle: the client closed after ${bytes} bytes`);
      done();
    });
  });
  let listening = 0;
  const up = () => {
    if (++listening === 5) {
      out(`listening ${half.address().address}:${half.address().port} ${udp.address().port}`);
    }
  };
  half.listen(7400, ip, up);
  big.listen(7401, ip, up);
  web.listen(7402, ip, up);
  udp.bind(7403, ip, up);
  idle.listen(7404, ip, up);
}

function step(name, fn) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      out(`${name}: TIMEOUT`);
      resolve();
    }, 8000);
    fn((line) => {
      clearTimeout(timer);
      out(`${name}: ${line}`);
      resolve();
    });
  });
}

async function client() {
  await step('half', (say) => {
    const s = net.connect({ host: ip, port: 7400, allowHalfOpen: true }, () => s.end('ping'));
    const chunks = [];
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => {
      say(`sent FIN first, read "${Buffer.concat(chunks)}", writable ${s.writable}`);
      s.destroy();
    });
    s.on('error', (e) => say(`error ${e.code}`));
  });
  await step('big', (say) => {
    const s = net.connect(7401, ip);
    const chunks = [];
    let paused = false;
    s.on('data', (d) => {
      chunks.push(d);
      // Stops reading for a while once, so the sender's window closes and opens again.
      if (!paused) {
        paused = true;
        s.pause();
        setTimeout(() => s.resume(), 300);
      }
    });
    s.on('end', () => {
      const all = Buffer.concat(chunks);
      say(`${all.length} bytes ${sha(all) === sha(BIG) ? 'intact' : 'CORRUPT'}`);
    });
    s.on('error', (e) => say(`error ${e.code}`));
  });
  await step('http', (say) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set();
    const bodies = [];
    let n = 0;
    const next = () => {
      const req = http.get({ host: ip, port: 7402, path: `/r${n}`, agent }, (res) => {
        ports.add(res.socket.localPort);
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          bodies.push(body);
          if (++n < 5) return next();
          agent.destroy();
          say(`${bodies.length} responses over ${ports.size} connection(s), last "${bodies[4]}"`);
        });
      });
      req.on('error', (e) => say(`error ${e.code}`));
    };
    next();
  });
  await step('udp', (say) => {
    const u = dgram.createSocket('udp4');
    const got = [];
    u.on('message', (m, r) => {
      got.push(`${m}`);
      if (got.length === 3) {
        say(`${got.join(', ')} from ${r.address}:${r.port}`);
        u.close();
      }
    });
    u.bind(0, () => {
      for (const w of ['one', 'two', 'three']) u.send(w, 7403, ip);
    });
  });
  await step('refused', (say) => {
    const s = net.connect(7409, ip);
    s.on('connect', () => say('connected'));
    s.on('error', (e) => say(`${e.code} ${e.syscall}`));
  });
  await step('udp refused', (say) => {
    // A connected UDP socket hears of the ICMP port unreachable on its next send or receive.
    const u = dgram.createSocket('udp4');
    const timers = [];
    const finish = (line) => {
      timers.forEach(clearTimeout);
      u.close();
      say(line);
    };
    u.on('error', (e) => finish(`${e.code} ${e.syscall}`));
    u.connect(7409, ip, () => {
      u.send('x');
      timers.push(setTimeout(() => u.send('y'), 200));
      timers.push(setTimeout(() => finish('no error'), 2000));
    });
  });
  await step('timeout', (say) => {
    // setTimeout on an idle connection: the server sends nothing.
    const s = net.connect({ host: ip, port: 7404 });
    s.setTimeout(300, () => {
      say(`idle after connect, local ${s.localAddress === undefined ? '?' : 'set'}`);
      s.destroy();
    });
  });
}

if (role === 'server') server();
else client().then(() => process.exit(0));
