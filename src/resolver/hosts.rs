//! `/etc/hosts` (hosts(5)): the static table that glibc's `files` source reads before DNS
//! (`hosts: files dns` in nsswitch.conf). Each line is an address, a canonical name and aliases;
//! `#` starts a comment. Only IPv4 lines are kept: the stack has no IPv6.

use std::net::Ipv4Addr;
use std::path::Path;

/// One line: an address, its canonical name, its aliases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostEntry {
    pub addr: Ipv4Addr,
    pub canonical: String,
    pub aliases: Vec<String>,
}

impl HostEntry {
    fn has_name(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name);
        self.canonical.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// The parsed table, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hosts {
    pub entries: Vec<HostEntry>,
}

impl Hosts {
    /// Parses hosts(5) text. Lines whose address is not a dotted-quad IPv4 address (IPv6 lines,
    /// garbage) and lines with no name are skipped, as glibc skips them.
    pub fn parse(text: &str) -> Hosts {
        let entries = text
            .lines()
            .filter_map(|line| {
                let line = line.split('#').next().unwrap_or("");
                let mut fields = line.split_ascii_whitespace();
                let addr: Ipv4Addr = fields.next()?.parse().ok()?;
                let canonical = fields.next()?.to_string();
                Some(HostEntry {
                    addr,
                    canonical,
                    aliases: fields.map(str::to_string).collect(),
                })
            })
            .collect();
        Hosts { entries }
    }

    /// Reads and parses the file; a missing or unreadable file is an empty table (glibc then goes
    /// on to DNS).
    pub fn load(path: &Path) -> Hosts {
        std::fs::read_to_string(path)
            .map(|t| Hosts::parse(&t))
            .unwrap_or_default()
    }

    /// Every address of `name` (canonical name or alias, any case), in file order, without
    /// repeats (glibc with `multi on`, Debian's default, returns them all), and the canonical name
    /// of the first matching line.
    pub fn lookup(&self, name: &str) -> Option<(&str, Vec<Ipv4Addr>)> {
        let mut canonical = None;
        let mut addrs = Vec::new();
        for e in self.entries.iter().filter(|e| e.has_name(name)) {
            canonical.get_or_insert(e.canonical.as_str());
            if !addrs.contains(&e.addr) {
                addrs.push(e.addr);
            }
        }
        canonical.map(|c| (c, addrs))
    }

    /// The canonical name of the first line with `addr`.
    pub fn name_of(&self, addr: Ipv4Addr) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.addr == addr)
            .map(|e| e.canonical.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# The usual Debian file
127.0.0.1\tlocalhost
127.0.1.1  box.example.org box   # this machine
10.77.0.9 db db-primary
10.77.0.10 db
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
   # indented comment
10.77.0.11
not-an-address name
10.77.0.12 web
";

    #[test]
    fn forward() {
        let h = Hosts::parse(TEXT);
        assert_eq!(h.entries.len(), 5);
        assert_eq!(
            h.lookup("localhost"),
            Some(("localhost", vec![Ipv4Addr::LOCALHOST]))
        );
        assert_eq!(
            h.lookup("BOX"),
            Some(("box.example.org", vec![Ipv4Addr::new(127, 0, 1, 1)]))
        );
        assert_eq!(
            h.lookup("db."),
            Some((
                "db",
                vec![Ipv4Addr::new(10, 77, 0, 9), Ipv4Addr::new(10, 77, 0, 10)]
            ))
        );
        assert_eq!(h.lookup("db-primary").unwrap().1.len(), 1);
        assert_eq!(h.lookup("ip6-localhost"), None);
        assert_eq!(h.lookup("name"), None);
        assert_eq!(h.lookup("this"), None, "comments are not names");
    }

    #[test]
    fn reverse() {
        let h = Hosts::parse(TEXT);
        assert_eq!(h.name_of(Ipv4Addr::new(10, 77, 0, 12)), Some("web"));
        assert_eq!(
            h.name_of(Ipv4Addr::new(127, 0, 1, 1)),
            Some("box.example.org")
        );
        assert_eq!(h.name_of(Ipv4Addr::new(10, 77, 0, 11)), None);
    }

    #[test]
    fn missing_file_is_empty() {
        assert_eq!(
            Hosts::load(Path::new("/nonexistent/hosts")),
            Hosts::default()
        );
    }
}
