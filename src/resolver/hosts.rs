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
    /// repeats (glibc with `multi on`, Debian's default, returns them all); the canonical name of
    /// the first matching line; and the aliases as glibc's files source merges them: the first
    /// line's aliases, then for each later matching line its aliases and, if it differs, its own
    /// canonical name (repeats and all).
    pub fn lookup(&self, name: &str) -> Option<super::HostAddrs> {
        let mut lines = self.entries.iter().filter(|e| e.has_name(name));
        let first = lines.next()?;
        let mut found = super::HostAddrs {
            canonical: first.canonical.clone(),
            aliases: first.aliases.clone(),
            addrs: vec![first.addr],
        };
        for e in lines {
            if !found.addrs.contains(&e.addr) {
                found.addrs.push(e.addr);
            }
            found.aliases.extend(e.aliases.iter().cloned());
            if e.canonical != found.canonical {
                found.aliases.push(e.canonical.clone());
            }
        }
        Some(found)
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
        let found = |name: &str| {
            h.lookup(name)
                .map(|f| (f.canonical, f.aliases, f.addrs))
                .expect(name)
        };
        assert_eq!(
            found("localhost"),
            ("localhost".into(), vec![], vec![Ipv4Addr::LOCALHOST])
        );
        assert_eq!(
            found("BOX"),
            (
                "box.example.org".into(),
                vec!["box".into()],
                vec![Ipv4Addr::new(127, 0, 1, 1)]
            )
        );
        // Two lines for db: the first line's aliases, then the second's (none, and its name is
        // the same canonical name), as glibc's files source merges them.
        assert_eq!(
            found("db."),
            (
                "db".into(),
                vec!["db-primary".into()],
                vec![Ipv4Addr::new(10, 77, 0, 9), Ipv4Addr::new(10, 77, 0, 10)]
            )
        );
        assert_eq!(found("db-primary").2.len(), 1);
        assert_eq!(h.lookup("ip6-localhost"), None);
        assert_eq!(h.lookup("name"), None);
        assert_eq!(h.lookup("this"), None, "comments are not names");
    }

    /// What glibc 2.36's gethostbyname gave for `h1` with these lines (python's
    /// gethostbyname_ex through glibc): the first line's aliases, then each later line's aliases
    /// and its own canonical name, repeats kept.
    #[test]
    fn aliases_merge_as_glibc_merges_them() {
        let h = Hosts::parse(
            "10.77.0.7 h1.tapstack.test h1 h1-alias\n\
             10.77.0.8 h1.tapstack.test h1-other\n\
             10.77.0.9 other h1\n",
        );
        let f = h.lookup("h1").unwrap();
        assert_eq!(f.canonical, "h1.tapstack.test");
        assert_eq!(f.aliases, ["h1", "h1-alias", "h1", "other"]);
        assert_eq!(
            f.addrs,
            [Ipv4Addr::new(10, 77, 0, 7), Ipv4Addr::new(10, 77, 0, 9)]
        );
        let f = h.lookup("h1-other").unwrap();
        assert_eq!(
            (f.canonical.as_str(), f.aliases),
            ("h1.tapstack.test", vec!["h1-other".to_string()])
        );
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
