//! `/etc/services` (services(5)): service names and the ports they use, per protocol, for
//! `getaddrinfo`'s service argument and `getnameinfo`'s service answer. Each line is
//! `name port/protocol [aliases...]`; `#` starts a comment.

use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEntry {
    pub name: String,
    pub port: u16,
    pub proto: String,
    pub aliases: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Services {
    pub entries: Vec<ServiceEntry>,
}

impl Services {
    /// Parses services(5) text; malformed lines are skipped.
    pub fn parse(text: &str) -> Services {
        let entries = text
            .lines()
            .filter_map(|line| {
                let line = line.split('#').next().unwrap_or("");
                let mut fields = line.split_ascii_whitespace();
                let name = fields.next()?.to_string();
                let (port, proto) = fields.next()?.split_once('/')?;
                let port: u16 = port.parse().ok()?;
                if proto.is_empty() {
                    return None;
                }
                Some(ServiceEntry {
                    name,
                    port,
                    proto: proto.to_string(),
                    aliases: fields.map(str::to_string).collect(),
                })
            })
            .collect();
        Services { entries }
    }

    /// Reads and parses the file; missing or unreadable is empty.
    pub fn load(path: &Path) -> Services {
        std::fs::read_to_string(path)
            .map(|t| Services::parse(&t))
            .unwrap_or_default()
    }

    /// The port of service `name` (or an alias; case matters, as in glibc) over `proto`
    /// (`"tcp"`, `"udp"`).
    pub fn port(&self, name: &str, proto: &str) -> Option<u16> {
        self.entries
            .iter()
            .find(|e| e.proto == proto && (e.name == name || e.aliases.iter().any(|a| a == name)))
            .map(|e| e.port)
    }

    /// The name of the first service on `port` over `proto`.
    pub fn name(&self, port: u16, proto: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.port == port && e.proto == proto)
            .map(|e| e.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# Network services, Internet style
tcpmux\t\t1/tcp\t\t\t\t# TCP port service multiplexer
domain\t\t53/tcp\t\t\t\t# Domain Name Server
domain\t\t53/udp
http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP
broken\t\tx/tcp
nohalf\t\t99
syslog\t\t514/udp
";

    #[test]
    fn lookups() {
        let s = Services::parse(TEXT);
        assert_eq!(s.entries.len(), 5);
        assert_eq!(s.port("domain", "udp"), Some(53));
        assert_eq!(s.port("domain", "tcp"), Some(53));
        assert_eq!(s.port("www", "tcp"), Some(80));
        assert_eq!(s.port("http", "udp"), None);
        assert_eq!(s.port("HTTP", "tcp"), None);
        assert_eq!(s.port("broken", "tcp"), None);
        assert_eq!(s.name(514, "udp"), Some("syslog"));
        assert_eq!(s.name(514, "tcp"), None);
        assert_eq!(s.name(80, "tcp"), Some("http"));
    }

    #[test]
    fn the_system_file_parses() {
        let s = Services::load(Path::new("/etc/services"));
        if !s.entries.is_empty() {
            assert_eq!(s.port("domain", "udp"), Some(53));
        }
    }
}
